//! `instance-create` (`nexus/src/app/sagas/instance_create.rs`), reduced to
//! the nodes that touch the lifecycle: the record and the move to Stopped.
//! Networking, disks, SSH keys and anti-affinity nodes are left out.
//!
//! The create saga never starts the instance: `project_create_instance`
//! runs a separate instance-start saga afterwards (see `instance.rs`).

use super::executor::{ActionError, ActionResult, Node, Saga, SagaContext};
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::{InstanceRow, InstanceRuntime, SagaName};
use crate::fixes::Fix;
use crate::ids::InstanceId;
use crate::points::Plain;
use crate::states::InstanceState;
use futures::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Debug)]
pub struct Params {
    /// The row to insert, in `Creating` with its intent.
    pub record: InstanceRow,
}

impl Saga for Params {
    const NAME: SagaName = SagaName::InstanceCreate;
    fn nodes() -> &'static [Node<Self>] {
        NODES
    }
    fn instance_id(&self) -> InstanceId {
        self.record.id
    }
}

const NODES: &[Node<Params>] = &[
    Node {
        name: "CREATE_INSTANCE_RECORD",
        action: sic_create_instance_record,
        undo: Some(sic_create_instance_record_undo),
    },
    Node {
        name: "MOVE_TO_STOPPED",
        action: sic_move_to_stopped,
        undo: None,
    },
];

fn sic_create_instance_record<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let req = DbRequest::InstanceInsert {
            row: p.record.clone(),
        };
        match ctx.nexus.db_write(ctx.cause(), req).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ActionError::new(
                400,
                format!("an instance named {:?} already exists", p.record.name),
            )),
            Err(_) => Err(ActionError::new(503, "database unavailable")),
        }
    })
}

/// Deletes the record while it is `Creating`, or `NoVmm` or `Failed` with no
/// VMM (#7437: it no longer goes through `Failed`, so reincarnation cannot
/// pick it up; `project_delete_instance_in_states`). A refusal is ignored
/// here, where omicron's undo fails on it; no story reaches one (a start
/// would have to land between a late `MOVE_TO_STOPPED` and this delete).
fn sic_create_instance_record_undo<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        if !ctx.nexus.cfg.has_fix(Fix::CreateUnwindSkipsFailed) {
            return sic_delete_instance_record_before_7437(ctx, p).await;
        }
        let req = DbRequest::InstanceDeleteCreating { id: p.record.id };
        ctx.nexus.db_until_answered(ctx.cause(), req).await;
        Ok(())
    })
}

/// The undo before #7437 (`sic_delete_instance_record` at `ec4b5dc3c0`):
/// only Stopped or Failed instances could be deleted, so it first wrote the
/// record `Failed` with generation+1, then called `project_delete_instance`.
/// In between, the instance is Failed and `instance_reincarnation` may start
/// it (#7326); the delete then finds a VMM and fails, and so does the undo.
async fn sic_delete_instance_record_before_7437(ctx: &SagaContext, p: &Params) -> ActionResult {
    let failed = InstanceRuntime {
        nexus_state: InstanceState::Failed,
        gen: p.record.runtime.gen.next(),
        propolis_id: None,
        time_last_auto_restarted: None,
        time_updated: crate::clock::now(),
    };
    let req = DbRequest::InstanceUpdateRuntime {
        id: p.record.id,
        new: failed,
        require_intent: None,
    };
    ctx.nexus.db_until_answered(ctx.cause(), req).await;
    ctx.nexus.point(Plain::CreateUndoAfterFail).await;
    let req = DbRequest::ProjectDeleteInstance {
        id: p.record.id,
        require_intent: None,
    };
    match ctx.nexus.db_until_answered(ctx.cause(), req).await {
        DbResponse::Write(true) => Ok(()),
        _ => Err(ActionError::new(
            500,
            "cannot delete instance: instance is running or has not yet fully stopped",
        )),
    }
}

/// Writes `NoVmm` with generation+1 relative to the record node 1 made. A
/// stale generation or a missing row is ignored.
fn sic_move_to_stopped<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let new = InstanceRuntime {
            nexus_state: InstanceState::NoVmm,
            gen: p.record.runtime.gen.next(),
            propolis_id: None,
            time_last_auto_restarted: None,
            time_updated: crate::clock::now(),
        };
        let req = DbRequest::InstanceUpdateRuntime {
            id: p.record.id,
            new,
            require_intent: None,
        };
        match ctx.nexus.db_write(ctx.cause(), req).await {
            Ok(_) => Ok(()),
            Err(_) => Err(ActionError::new(503, "database unavailable")),
        }
    })
}
