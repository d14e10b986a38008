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
//! - A start it ran that failed (the saga unwound or got stuck) is retried
//!   with exponential backoff, omicron's `backoff` style
//!   (`common/src/backoff.rs`): the wait starts at twice the reconciler's
//!   period and doubles up to `intent_reconciler_backoff_max`. Without it,
//!   an instance no sled can take (every sled lost) gets a new start saga
//!   every period for ever and the system is never quiet.
//!   Branch 10 (`Variant::reconciler_retry_avoids_unreachable_sled`): the
//!   retry places the instance on the sled the failed start could not
//!   reach only if no other sled has room.
//! - Branch 5 (`Variant::reconciler_reaps_orphan_vmms`): it asks every sled
//!   which VMMs it runs and unregisters a running one that is not its
//!   instance's active VMM: an orphan guest nothing else will ever stop.

use super::reconciler_backoff::{backoff_wait, Backoff};
use super::task_context::TaskContext;
use crate::clock;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::InstanceRuntime;
use crate::event::{BackgroundTask, Decision};
use crate::ids::{Millis, SledId};
use crate::mutation::{self, Mutation};
use crate::nexus::context::Nexus;
use crate::nexus::sagas::executor::{self, SagaOutcome};
use crate::nexus::sagas::{instance_delete, instance_start};
use crate::nexus::vmm_update::{mark_vmm_failed, process_vmm_update, UpdateSagaWait};
use crate::sled_agent::api::{SledRequest, SledResponse};
use crate::states::{InstanceState, RequestedState, StartReason, VmmFailureReason, VmmState};
use std::rc::Rc;

/// The reconciler's status.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InstanceIntentReconcilerStatus {
    pub starts: usize,
    pub stops: usize,
    pub deletes: usize,
    pub finished_creates: usize,
    pub orphans_reaped: usize,
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
    let mut status = InstanceIntentReconcilerStatus {
        starts: to_start.len(),
        stops: to_stop.len(),
        deletes: to_delete.len(),
        finished_creates: to_finish_create.len(),
        orphans_reaped: 0,
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
            executor::execute(&ctx.nexus, saga, params).await;
        }
    });
    futures::future::join_all(deletes).await;
    let now = clock::now();
    let to_start: Vec<_> = to_start
        .into_iter()
        .filter(|i| {
            ctx.nexus
                .reconciler_backoff
                .borrow()
                .get(&i.id)
                .is_none_or(|b| now.0 >= b.not_before.0)
        })
        .collect();
    status.starts = to_start.len();
    let starts = to_start.into_iter().map(|instance| {
        let ctx = &ctx;
        async move {
            let saga = ctx.nexus.new_saga_id();
            let id = instance.id;
            ctx.decide(id, Decision::ReconcileStart { saga });
            let avoid = ctx
                .nexus
                .reconciler_backoff
                .borrow()
                .get(&id)
                .and_then(|b| b.avoid);
            let params = instance_start::Params::new(instance, StartReason::IntentReconciler)
                .avoiding(avoid);
            let outcome = executor::execute(&ctx.nexus, saga, params).await;
            let mut backoffs = ctx.nexus.reconciler_backoff.borrow_mut();
            match outcome {
                SagaOutcome::Done(_) => {
                    backoffs.remove(&id);
                }
                SagaOutcome::Unwound(_) | SagaOutcome::Stuck(_) => {
                    // Branch 10 (swarm seeds 3850, 12198 at build abce611):
                    // a lost sled stays a placement candidate until it is
                    // expunged, and each start picks a sled at random; a
                    // retry that may pick the sled the last start could not
                    // reach again can fail until the backoff outgrows any
                    // deadline. The retry tries that sled last.
                    let avoid = match &outcome {
                        SagaOutcome::Unwound(e)
                            if ctx
                                .nexus
                                .cfg
                                .intent_variant()
                                .reconciler_retry_avoids_unreachable_sled() =>
                        {
                            e.unreachable_sled
                        }
                        _ => None,
                    };
                    let t = &ctx.nexus.cfg.timings;
                    let failures = backoffs.get(&id).map_or(0, |b| b.failures) + 1;
                    let wait = backoff_wait(
                        t.intent_reconciler_period,
                        t.intent_reconciler_backoff_max,
                        failures,
                    );
                    backoffs.insert(
                        id,
                        Backoff {
                            failures,
                            not_before: clock::now() + Millis(wait.as_millis() as u64),
                            avoid,
                        },
                    );
                }
            }
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
            Ok(SledResponse::NothingToDo | SledResponse::Vmms(_) | SledResponse::Error(_))
            | Err(_) => {}
        }
    }
    if ctx.nexus.cfg.variant.reconciler_reaps_orphan_vmms()
        && !mutation::on(Mutation::ReconcilerKeepsOrphans)
    {
        status.orphans_reaped = reap_orphans(&ctx).await;
    }
    status
}

/// Branch 5: lists every sled's VMMs (all sleds at once, so a lost sled's
/// timeout does not delay the others) and unregisters each running VMM
/// that is not its instance's active VMM. The sled's list comes first and
/// the instance is read after it, so a VMM a start saga registers is
/// already active when it is listed (`MARK_AS_STARTING` precedes
/// `ENSURE_REGISTERED`). Returns how many it unregistered.
async fn reap_orphans(ctx: &TaskContext) -> usize {
    let sleds = (0..ctx.nexus.cfg.sled_count).map(|s| async move {
        let sled = SledId(s);
        match ctx.nexus.sled(sled, &SledRequest::VmmList).await {
            Ok(SledResponse::Vmms(vmms)) => vmms.into_iter().map(|v| (sled, v)).collect(),
            Ok(_) | Err(_) => Vec::new(),
        }
    });
    let listed: Vec<_> = futures::future::join_all(sleds)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut reaped = 0;
    for (sled, (instance, state)) in listed {
        if !matches!(
            state.state,
            VmmState::Starting | VmmState::Running | VmmState::Rebooting
        ) {
            continue;
        }
        let active = match ctx.nexus.fetch_instance(ctx.cause(), instance).await {
            Ok(iv) => iv.and_then(|iv| iv.instance.runtime.propolis_id),
            Err(_) => continue,
        };
        if active == Some(state.vmm) {
            continue;
        }
        ctx.decide(
            instance,
            Decision::ReconcileReapOrphan {
                vmm: state.vmm,
                sled,
            },
        );
        let req = SledRequest::VmmUnregister { vmm: state.vmm };
        if let Ok(SledResponse::Ok(_)) = ctx.nexus.sled(sled, &req).await {
            reaped += 1;
        }
    }
    reaped
}
