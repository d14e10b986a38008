//! `abandoned_vmm_reaper`
//! (`nexus/src/app/background/tasks/abandoned_vmm_reaper.rs`): deletes VMMs
//! in Destroyed, Failed or SagaUnwound that no instance points at, and
//! releases their sled reservations.

use super::task_context::TaskContext;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::event::{BackgroundTask, Decision};
use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use std::rc::Rc;

/// `AbandonedVmmReaperStatus`, reduced.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct AbandonedVmmReaperStatus {
    pub vmms_found: usize,
    pub vmms_deleted: usize,
}

pub async fn activate(nexus: Rc<Nexus>) -> AbandonedVmmReaperStatus {
    if mutation::on(Mutation::ReaperOff) {
        return AbandonedVmmReaperStatus::default();
    }
    let ctx = TaskContext {
        nexus,
        task: BackgroundTask::AbandonedVmmReaper,
    };
    let vmms = match ctx
        .nexus
        .db(ctx.cause(), DbRequest::FindAbandonedVmms)
        .await
    {
        Ok(DbResponse::Vmms(v)) => v,
        Ok(other) => panic!("db answered FindAbandonedVmms with {other:?}"),
        Err(_) => return AbandonedVmmReaperStatus::default(),
    };
    let mut status = AbandonedVmmReaperStatus {
        vmms_found: vmms.len(),
        vmms_deleted: 0,
    };
    for vmm in vmms {
        ctx.decide(vmm.instance_id, Decision::ReapVmm { vmm: vmm.id });
        let release = DbRequest::SledReservationDelete { vmm: vmm.id };
        if ctx.nexus.db(ctx.cause(), release).await.is_err() {
            continue;
        }
        let delete = DbRequest::VmmMarkDeleted { id: vmm.id };
        if let Ok(true) = ctx.nexus.db_write(ctx.cause(), delete).await {
            status.vmms_deleted += 1;
        }
    }
    status
}
