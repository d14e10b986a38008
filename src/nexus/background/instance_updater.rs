//! `instance_updater` (`nexus/src/app/background/tasks/instance_updater.rs`):
//! the backstop that runs update sagas for unlocked instances whose active
//! VMM is terminal, when a Nexus died after writing the VMM state but before
//! its update saga ran.

use super::task_context::TaskContext;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::event::{BackgroundTask, Decision};
use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use crate::nexus::sagas::{executor, instance_update};
use std::rc::Rc;

/// `InstanceUpdaterStatus`, reduced.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InstanceUpdaterStatus {
    pub sagas_started: usize,
}

pub async fn activate(nexus: Rc<Nexus>) -> InstanceUpdaterStatus {
    if mutation::on(Mutation::UpdaterOff) {
        return InstanceUpdaterStatus { sagas_started: 0 };
    }
    let ctx = TaskContext {
        nexus,
        task: BackgroundTask::InstanceUpdater,
    };
    let found = match ctx
        .nexus
        .db(ctx.cause(), DbRequest::FindInstancesNeedingUpdate)
        .await
    {
        Ok(DbResponse::Instances(f)) => f,
        Ok(other) => panic!("db answered FindInstancesNeedingUpdate with {other:?}"),
        Err(_) => return InstanceUpdaterStatus::default(),
    };
    let updates = found.iter().map(|iv| {
        let ctx = &ctx;
        async move {
            let saga = ctx.nexus.new_saga_id();
            ctx.decide(iv.instance.id, Decision::StartUpdate { saga });
            let params = instance_update::StartParams::new(&ctx.nexus, iv.instance.id);
            executor::execute(&ctx.nexus, saga, params).await;
        }
    });
    let n = futures::future::join_all(updates).await.len();
    InstanceUpdaterStatus { sagas_started: n }
}
