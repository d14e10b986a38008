//! Nexus's handling of a VMM's new state, wherever it comes from (a sled
//! agent's push, the watcher, a sled's answer to a request, a saga node):
//! `process_vmm_update`, `mark_vmm_failed` and the update saga they start
//! (`nexus/src/app/instance.rs`, `notify_vmm_updated`). Its own module so
//! that the API handlers and the sagas both use it without naming each
//! other.

use super::context::{DbUnavailable, Nexus};
use super::internal_api::{InternalRequest, InternalResponse};
use super::sagas::instance_update;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::{VmmRow, VmmRuntime};
use crate::event::Cause;
use crate::ids::InstanceId;
use crate::sled_agent::api::SledVmmState;
use crate::states::{VmmFailureReason, VmmState};
use std::rc::Rc;

/// Whether a caller waits for the update saga a VMM change needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UpdateSagaWait {
    /// Run it inline (the watcher, `mark_vmm_failed`).
    Wait,
    /// Start it and return (`notify_vmm_updated` from a push).
    Spawn,
}

/// `process_vmm_update`: writes the VMM's new state (generation-guarded) and
/// runs an update saga if the VMM changed to a terminal state.
pub async fn process_vmm_update(
    nexus: &Rc<Nexus>,
    cause: Cause,
    vmm: &VmmRow,
    new: SledVmmState,
    wait: UpdateSagaWait,
) -> Result<bool, DbUnavailable> {
    let req = DbRequest::VmmUpdateRuntime {
        id: vmm.id,
        new: VmmRuntime::from(new),
        failure_reason: None,
    };
    let applied = nexus.db_write(cause, req).await?;
    if applied && new.state.is_terminal() {
        run_update_saga(nexus, vmm.instance_id, wait).await;
    }
    Ok(applied)
}

async fn run_update_saga(nexus: &Rc<Nexus>, instance: InstanceId, wait: UpdateSagaWait) {
    match wait {
        UpdateSagaWait::Wait => instance_update::update_instance(nexus, instance).await,
        UpdateSagaWait::Spawn => {
            let nexus = nexus.clone();
            tokio::task::spawn_local(async move {
                instance_update::update_instance(&nexus, instance).await
            });
        }
    }
}

/// `mark_vmm_failed`: writes the VMM as Failed with generation+1 of the
/// caller's possibly stale copy (a newer state from the sled agent wins),
/// then runs the update saga inline, which makes the instance Failed.
pub async fn mark_vmm_failed(
    nexus: &Rc<Nexus>,
    cause: Cause,
    vmm: &VmmRow,
    reason: VmmFailureReason,
) -> Result<(), DbUnavailable> {
    let req = DbRequest::VmmUpdateRuntime {
        id: vmm.id,
        new: VmmRuntime {
            state: VmmState::Failed,
            gen: vmm.runtime.gen.next(),
            stop_requested: false,
        },
        failure_reason: Some(reason),
    };
    if nexus.db_write(cause, req).await? {
        run_update_saga(nexus, vmm.instance_id, UpdateSagaWait::Wait).await;
    }
    Ok(())
}

/// `cpapi_instances_put` → `notify_vmm_updated`: applies a sled agent's
/// pushed state and starts the update saga it needs without waiting.
pub async fn cpapi_instances_put(nexus: &Rc<Nexus>, req: InternalRequest) -> InternalResponse {
    let InternalRequest::CpapiInstancesPut { sled, state } = req;
    let cause = Cause::SledPush { sled };
    let vmm = match nexus
        .db(cause.clone(), DbRequest::VmmFetch { id: state.vmm })
        .await
    {
        Ok(DbResponse::Vmm(Some(vmm))) => vmm,
        Ok(DbResponse::Vmm(None)) => return InternalResponse { status: 404 },
        Ok(other) => panic!("db answered VmmFetch with {other:?}"),
        Err(_) => return InternalResponse { status: 503 },
    };
    match process_vmm_update(nexus, cause, &vmm, state, UpdateSagaWait::Spawn).await {
        Ok(_) => InternalResponse { status: 204 },
        Err(_) => InternalResponse { status: 503 },
    }
}
