//! `instance_intent_reconciler`: the `fixed` variant's branch 3, the
//! mechanism omicron lacks (omicron-lifecycle section 5.3): it carries out
//! recorded intents that nothing else will.
//!
//! - It starts NoVmm instances whose intent is Running and that have no
//!   start saga in flight, whatever their auto-restart policy (that is the
//!   user's intent, not an auto-restart). Its starts carry their own reason,
//!   so they do not set `time_last_auto_restarted`. Failed instances stay
//!   reincarnation's job.
//! - It stops active VMMs whose instance's intent is Stopped or Destroyed.
//! - It runs the delete saga for NoVmm or Failed instances whose intent is
//!   Destroyed with no delete saga in flight: a delete accepted (its intent
//!   committed with its validation) whose saga never ran.
//! - It finishes creates whose record's insert committed while the create
//!   saga failed (the db's answer lost; steno never undoes a failed node),
//!   moving them from Creating to NoVmm as `MOVE_TO_STOPPED` would; the next
//!   activation starts them if their intent is Running.

use super::TaskContext;
use crate::clock;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::InstanceRuntime;
use crate::event::{BackgroundTask, Decision};
use crate::nexus::instance::{mark_vmm_failed, process_vmm_update, UpdateSagaWait};
use crate::nexus::sagas::{self, instance_delete, instance_start};
use crate::nexus::Nexus;
use crate::sled_agent::api::{SledRequest, SledResponse};
use crate::states::{InstanceState, RequestedState, StartReason, VmmFailureReason};
use std::rc::Rc;

/// The reconciler's status.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InstanceIntentReconcilerStatus {
    pub starts: usize,
    pub stops: usize,
    pub deletes: usize,
    pub finished_creates: usize,
}

pub async fn activate(nexus: Rc<Nexus>) -> InstanceIntentReconcilerStatus {
    let ctx = TaskContext {
        nexus,
        task: BackgroundTask::InstanceIntentReconciler,
    };
    let (to_start, to_stop, to_delete, to_finish_create) = match ctx
        .nexus
        .db(ctx.cause(), DbRequest::FindIntentMismatches)
        .await
    {
        Ok(DbResponse::IntentMismatches {
            to_start,
            to_stop,
            to_delete,
            to_finish_create,
        }) => (to_start, to_stop, to_delete, to_finish_create),
        Ok(other) => panic!("db answered FindIntentMismatches with {other:?}"),
        Err(_) => return InstanceIntentReconcilerStatus::default(),
    };
    let status = InstanceIntentReconcilerStatus {
        starts: to_start.len(),
        stops: to_stop.len(),
        deletes: to_delete.len(),
        finished_creates: to_finish_create.len(),
    };
    for instance in to_finish_create {
        ctx.decide(instance.id, Decision::ReconcileFinishCreate);
        let req = DbRequest::InstanceUpdateRuntime {
            id: instance.id,
            new: InstanceRuntime {
                nexus_state: InstanceState::NoVmm,
                gen: instance.runtime.gen.next(),
                propolis_id: None,
                time_last_auto_restarted: None,
                time_updated: clock::now(),
            },
            require_intent: None,
        };
        let _ = ctx.nexus.db_write(ctx.cause(), req).await;
    }
    let deletes = to_delete.into_iter().map(|instance| {
        let ctx = &ctx;
        async move {
            let saga = ctx.nexus.new_saga_id();
            ctx.decide(instance.id, Decision::ReconcileDelete { saga });
            let params = instance_delete::Params {
                instance_id: instance.id,
            };
            sagas::execute(&ctx.nexus, saga, params).await;
        }
    });
    futures::future::join_all(deletes).await;
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
            // Any other sled error: not gone; try again next period.
            Ok(SledResponse::NothingToDo) | Ok(SledResponse::Error(_)) | Err(_) => {}
        }
    }
    status
}
