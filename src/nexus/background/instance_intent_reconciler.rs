//! `instance_intent_reconciler`: the `fixed` variant's branch 3, the
//! mechanism omicron lacks (omicron-lifecycle section 5.3). It starts NoVmm
//! instances whose intent is Running and that have no start saga in flight,
//! whatever their auto-restart policy (that is the user's intent, not an
//! auto-restart), and stops active VMMs whose instance's intent is Stopped
//! or Destroyed. Failed instances stay reincarnation's job. Its starts carry
//! their own reason, so they do not set `time_last_auto_restarted`.

use super::TaskContext;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::event::{BackgroundTask, Decision};
use crate::nexus::instance::{mark_vmm_failed, process_vmm_update, UpdateSagaWait};
use crate::nexus::sagas::{self, instance_start};
use crate::nexus::Nexus;
use crate::sled_agent::api::{SledRequest, SledResponse};
use crate::states::{RequestedState, StartReason, VmmFailureReason};
use std::rc::Rc;

/// The reconciler's status.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InstanceIntentReconcilerStatus {
    pub starts: usize,
    pub stops: usize,
}

pub async fn activate(nexus: Rc<Nexus>) -> InstanceIntentReconcilerStatus {
    let ctx = TaskContext {
        nexus,
        task: BackgroundTask::InstanceIntentReconciler,
    };
    let (to_start, to_stop) = match ctx
        .nexus
        .db(ctx.cause(), DbRequest::FindIntentMismatches)
        .await
    {
        Ok(DbResponse::IntentMismatches { to_start, to_stop }) => (to_start, to_stop),
        Ok(other) => panic!("db answered FindIntentMismatches with {other:?}"),
        Err(_) => return InstanceIntentReconcilerStatus::default(),
    };
    let status = InstanceIntentReconcilerStatus {
        starts: to_start.len(),
        stops: to_stop.len(),
    };
    let starts = to_start.into_iter().map(|instance| {
        let ctx = &ctx;
        async move {
            let saga = ctx.nexus.new_saga_id();
            ctx.decide(instance.id, Decision::ReconcileStart { saga });
            let params = instance_start::Params::new(instance, StartReason::IntentReconciler);
            sagas::execute(&ctx.nexus, saga, params).await;
        }
    });
    futures::future::join_all(starts).await;
    for iv in to_stop {
        let Some(vmm) = iv.vmm else { continue };
        ctx.decide(iv.instance.id, Decision::ReconcileStop { vmm: vmm.id });
        let req = SledRequest::VmmPutState {
            vmm: vmm.id,
            state: RequestedState::Stopped,
        };
        match ctx.nexus.sled(vmm.sled_id, &req).await {
            Ok(SledResponse::Ok(state)) => {
                let _ =
                    process_vmm_update(&ctx.nexus, ctx.cause(), &vmm, state, UpdateSagaWait::Wait)
                        .await;
            }
            Ok(SledResponse::NoSuchInstance) => {
                let _ = mark_vmm_failed(
                    &ctx.nexus,
                    ctx.cause(),
                    &vmm,
                    VmmFailureReason::NoSuchInstance,
                )
                .await;
            }
            Ok(SledResponse::NothingToDo) | Err(_) => {}
        }
    }
    status
}
