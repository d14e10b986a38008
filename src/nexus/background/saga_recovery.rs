//! `saga_recovery` (`nexus/src/app/background/tasks/saga_recovery.rs`):
//! resumes this Nexus's own unfinished sagas that are not already running in
//! this process. It runs at start-up, so a restarted Nexus picks its sagas
//! up at once. Sagas of a Nexus that never returns stay pending (omicron
//! reassigns them only when the zone is expunged, which is not modelled).

use super::task_context::TaskContext;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::event::{BackgroundTask, Decision};
use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use crate::nexus::sagas;
use std::rc::Rc;

/// `SagaRecoveryStatus`, reduced.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SagaRecoveryStatus {
    pub recovered: usize,
}

pub async fn activate(nexus: Rc<Nexus>) -> SagaRecoveryStatus {
    if mutation::on(Mutation::RecoveryOff) {
        return SagaRecoveryStatus::default();
    }
    let ctx = TaskContext {
        nexus,
        task: BackgroundTask::SagaRecovery,
    };
    let req = DbRequest::SagaListUnfinished { sec: ctx.nexus.id };
    let sagas = match ctx.nexus.db(ctx.cause(), req).await {
        Ok(DbResponse::Sagas(s)) => s,
        Ok(other) => panic!("db answered SagaListUnfinished with {other:?}"),
        Err(_) => return SagaRecoveryStatus::default(),
    };
    let mut status = SagaRecoveryStatus::default();
    for (row, _log) in sagas {
        if ctx.nexus.is_saga_running(row.id) {
            continue;
        }
        ctx.decide(
            row.instance_id,
            Decision::RecoverSaga {
                saga: row.id,
                name: row.name,
            },
        );
        status.recovered += 1;
        let nexus = ctx.nexus.clone();
        tokio::task::spawn_local(async move { sagas::recover(&nexus, row).await });
    }
    status
}
