//! `instance-start` (`nexus/src/app/sagas/instance_start.rs`). The nodes
//! that only set up networking and storage (`ALLOC_PROPOLIS_IP`,
//! `LIST_LOCAL_STORAGE`, `ENSURE_LOCAL_STORAGE`, `DPD_ENSURE`, `V2P_ENSURE`,
//! `UPDATE_MULTICAST_SLED_ID`, `ADD_VIRTUAL_RESOURCES`) are left out.
//!
//! The start saga never reads `intended_state` in omicron. The `fixed`
//! variant's branch 2 makes `MARK_AS_STARTING` require it to be Running.

use super::executor::{ActionError, ActionResult, Node, Saga, SagaContext};
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::{InstanceRow, InstanceRuntime, SagaName, VmmRow, VmmRuntime};
use crate::ids::{InstanceId, SledId, VmmId};
use crate::mutation::{self, Mutation};
use crate::nexus::decisions::{auto_restart_status, Reincarnatability};
use crate::nexus::vmm_update::{mark_vmm_failed, process_vmm_update, UpdateSagaWait};
use crate::points::Plain;
use crate::sled_agent::api::{SledRequest, SledResponse, SledVmmState};
use crate::states::{
    Generation, InstanceState, IntendedState, RequestedState, StartReason, VmmFailureReason,
    VmmState,
};
use crate::{clock, rpc::RpcError};
use futures::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Debug)]
pub struct Params {
    /// The instance as the caller read it (`db_instance`).
    pub instance: InstanceRow,
    pub reason: StartReason,
    /// GENERATE_PROPOLIS_ID's output.
    pub propolis_id: Option<VmmId>,
    /// ALLOC_SERVER's output.
    pub sled: Option<SledId>,
    /// CREATE_VMM_RECORD's output.
    pub vmm: Option<VmmRow>,
    /// MARK_AS_STARTING's output: the runtime it wrote.
    pub started: Option<InstanceRuntime>,
    /// ENSURE_REGISTERED's output (`REGISTERED_VMM_RECORD`): the VMM record
    /// with the runtime the sled agent reported.
    pub registered: Option<VmmRow>,
    /// A sled `ALLOC_SERVER` tries last: the one the `fixed` intent
    /// reconciler's previous start of this instance could not reach
    /// (branch 10). `None` for every other start, as in omicron.
    pub avoid_sled: Option<SledId>,
}

impl Params {
    pub fn new(instance: InstanceRow, reason: StartReason) -> Params {
        Params {
            instance,
            reason,
            propolis_id: None,
            sled: None,
            vmm: None,
            started: None,
            registered: None,
            avoid_sled: None,
        }
    }

    /// The same start, placing the instance on `sled` only if no other
    /// sled has room (fixed branch 10).
    pub fn avoiding(mut self, sled: Option<SledId>) -> Params {
        self.avoid_sled = sled;
        self
    }
}

impl Saga for Params {
    const NAME: SagaName = SagaName::InstanceStart;
    fn nodes() -> &'static [Node<Self>] {
        NODES
    }
    fn instance_id(&self) -> InstanceId {
        self.instance.id
    }
    fn reason(&self) -> Option<StartReason> {
        Some(self.reason)
    }
}

const NODES: &[Node<Params>] = &[
    Node {
        name: "GENERATE_PROPOLIS_ID",
        action: sis_generate_propolis_id,
        undo: None,
    },
    Node {
        name: "ALLOC_SERVER",
        action: sis_alloc_server,
        undo: Some(sis_alloc_server_undo),
    },
    Node {
        name: "CREATE_VMM_RECORD",
        action: sis_create_vmm_record,
        undo: Some(sis_destroy_vmm_record),
    },
    Node {
        name: "MARK_AS_STARTING",
        action: sis_move_to_starting,
        undo: Some(sis_move_to_starting_undo),
    },
    Node {
        name: "ENSURE_REGISTERED",
        action: sis_ensure_registered,
        undo: Some(sis_ensure_registered_undo),
    },
    Node {
        name: "ENSURE_RUNNING",
        action: sis_ensure_running,
        undo: None,
    },
];

fn db_down() -> ActionError {
    ActionError::new(503, "database unavailable")
}

/// A sled call that got no answer: 504 or 502, naming the sled.
fn sled_error(sled: SledId, e: RpcError) -> ActionError {
    let mut error = match e {
        RpcError::Timeout => ActionError::new(504, "sled agent timed out"),
        RpcError::Refused | RpcError::Closed => ActionError::new(502, "sled agent unreachable"),
    };
    error.unreachable_sled = Some(sled);
    error
}

fn propolis_id(p: &Params) -> VmmId {
    p.propolis_id.expect("GENERATE_PROPOLIS_ID ran")
}

fn sis_generate_propolis_id<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        p.propolis_id = Some(VmmId(ctx.nexus.new_id()));
        Ok(())
    })
}

/// Reserves room on a sled (`sled_reservation_create`).
fn sis_alloc_server<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let req = DbRequest::SledReservationCreate {
            vmm: propolis_id(p),
            instance: p.instance.id,
            candidates: last_resort(ctx.nexus.sled_preference(), p.avoid_sled),
            capacity: ctx.nexus.cfg.sled_capacity,
        };
        match ctx.nexus.db(ctx.cause(), req).await {
            Ok(DbResponse::Reservation(Some(sled))) => {
                p.sled = Some(sled);
                Ok(())
            }
            Ok(DbResponse::Reservation(None)) => Err(ActionError::new(
                507,
                "insufficient capacity: no sled can take this instance",
            )),
            Ok(other) => panic!("db answered SledReservationCreate with {other:?}"),
            Err(_) => Err(db_down()),
        }
    })
}

/// `candidates` with `avoid` moved to the end (fixed branch 10): still a
/// candidate when no other sled has room, as a lost sled is until it is
/// expunged.
fn last_resort(mut candidates: Vec<SledId>, avoid: Option<SledId>) -> Vec<SledId> {
    if let Some(sled) = avoid {
        if let Some(i) = candidates.iter().position(|s| *s == sled) {
            let s = candidates.remove(i);
            candidates.push(s);
        }
    }
    candidates
}

fn sis_alloc_server_undo<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        if mutation::on(Mutation::StartAllocUndoKeepsReservation) {
            return Ok(());
        }
        let req = DbRequest::SledReservationDelete {
            vmm: propolis_id(p),
        };
        ctx.nexus.db_until_answered(ctx.cause(), req).await;
        Ok(())
    })
}

/// Inserts the VMM record in `Creating` at generation 1.
fn sis_create_vmm_record<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let row = VmmRow {
            id: propolis_id(p),
            instance_id: p.instance.id,
            sled_id: p.sled.expect("ALLOC_SERVER ran"),
            runtime: VmmRuntime {
                state: VmmState::Creating,
                gen: Generation::FIRST,
                stop_requested: false,
            },
            time_deleted: None,
            failure_reason: None,
        };
        match ctx
            .nexus
            .db_write(ctx.cause(), DbRequest::VmmInsert { row: row.clone() })
            .await
        {
            Ok(_) => {
                p.vmm = Some(row);
                Ok(())
            }
            Err(_) => Err(db_down()),
        }
    })
}

/// Fixed branch 14 (`Variant::start_undo_leaves_ended_vmm_to_update_saga`),
/// which both undos below follow: a VMM whose record has ended is the
/// update saga's to unlink and delete.
fn undo_leaves_ended_vmm(ctx: &SagaContext) -> bool {
    ctx.nexus
        .cfg
        .variant
        .start_undo_leaves_ended_vmm_to_update_saga()
}

/// `sis_destroy_vmm_record`: marks the VMM `SagaUnwound` and activates
/// reincarnation if the policy and cooldown allow it. It does not check the
/// intent. In `fixed` (branch 14) a VMM whose record has ended is left to
/// the update saga.
fn sis_destroy_vmm_record<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let req = DbRequest::VmmMarkSagaUnwound {
            id: propolis_id(p),
            keep_ended: undo_leaves_ended_vmm(ctx),
        };
        ctx.nexus.db_until_answered(ctx.cause(), req).await;
        let status = auto_restart_status(
            ctx.nexus.cfg.intent_variant(),
            &p.instance,
            None,
            clock::now(),
            ctx.nexus.cfg.timings.default_cooldown,
        );
        if status.can_reincarnate == Reincarnatability::WillReincarnate {
            ctx.nexus.activators.reincarnation.activate();
        }
        Ok(())
    })
}

/// `sis_move_to_starting`: re-fetches the instance and points it at this
/// saga's VMM with the *re-fetched* generation + 1.
fn sis_move_to_starting<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let ours = propolis_id(p);
        let Some(iv) = ctx
            .nexus
            .fetch_instance(ctx.cause(), p.instance.id)
            .await
            .map_err(|_| db_down())?
        else {
            return Err(ActionError::new(404, "instance was deleted"));
        };
        ctx.nexus.point(Plain::StartBeforeMarkAsStarting).await;
        match &iv.vmm {
            Some(v) if v.id == ours => {
                // This node is being replayed: the write already landed.
                p.started = Some(iv.instance.runtime.clone());
                return Ok(());
            }
            // An unwound start left its VMM in place: treat the instance as
            // having none, and let the reaper clean the old VMM up.
            Some(v) if v.runtime.state == VmmState::SagaUnwound => {
                ctx.nexus.activators.abandoned_vmm_reaper.activate();
            }
            Some(_) => {
                return Err(ActionError::conflict(
                    "instance changed state before it could be started",
                ))
            }
            None => {}
        }
        // Fixed branch 12 (swarm seeds 39098, 39475 at build 16e650d).
        if p.reason == StartReason::IntentReconciler
            && iv.instance.runtime.nexus_state == InstanceState::Failed
            && ctx
                .nexus
                .cfg
                .intent_variant()
                .reconciler_start_leaves_failed_to_reincarnation()
        {
            return Err(ActionError::conflict(
                "instance failed after the intent reconciler chose to start it; a Failed instance is reincarnation's",
            ));
        }
        // One active VMM per instance: MARK_AS_STARTING is the only write
        // that sets `active_propolis_id`, and it replaces none but a VMM an
        // unwound start left behind (omicron's `sis_move_to_starting`
        // fails the same way when the instance already has one).
        debug_assert!(
            iv.vmm
                .as_ref()
                .is_none_or(|v| v.runtime.state == VmmState::SagaUnwound),
            "MARK_AS_STARTING would replace a live active VMM"
        );
        let runtime = if mutation::on(Mutation::StartSkipRefetch) {
            &p.instance.runtime
        } else {
            &iv.instance.runtime
        };
        let new = InstanceRuntime {
            nexus_state: InstanceState::Vmm,
            gen: runtime.gen.next(),
            propolis_id: Some(ours),
            time_last_auto_restarted: match p.reason {
                StartReason::AutoRestart if mutation::on(Mutation::StartNoRestartStamp) => {
                    runtime.time_last_auto_restarted
                }
                StartReason::AutoRestart => Some(clock::now()),
                StartReason::AutoStart | StartReason::User | StartReason::IntentReconciler => {
                    runtime.time_last_auto_restarted
                }
            },
            time_updated: clock::now(),
        };
        let require_intent = ctx
            .nexus
            .cfg
            .intent_variant()
            .mark_as_starting_requires_running_intent()
            .then_some(IntendedState::Running)
            .filter(|_| !mutation::on(Mutation::StartMarkIgnoresIntent));
        let req = DbRequest::InstanceUpdateRuntime {
            id: p.instance.id,
            new: new.clone(),
            require_intent,
        };
        match ctx.nexus.db_write(ctx.cause(), req).await {
            Ok(true) => {
                p.started = Some(new);
                Ok(())
            }
            Ok(false) => Err(ActionError::conflict(
                "instance changed state before it could be started",
            )),
            Err(_) => Err(db_down()),
        }
    })
}

/// Writes `NoVmm` with generation+1 of the record this node produced; a
/// stale generation is only logged. In `fixed` (branch 14, swarm seed
/// 22530) the write also requires the VMM the instance points at not to
/// have ended: a VMM the sled already reported Destroyed or Failed is
/// unlinked by the update saga that report started, which records what
/// the end means (a guest shutdown, a failure); this write would bump the
/// generation under it and its commit would be dropped.
fn sis_move_to_starting_undo<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let Some(started) = p.started.clone() else {
            return Ok(());
        };
        if mutation::on(Mutation::StartMarkUndoSkipped) {
            return Ok(());
        }
        let new = InstanceRuntime {
            nexus_state: InstanceState::NoVmm,
            gen: started.gen.next(),
            propolis_id: None,
            time_last_auto_restarted: started.time_last_auto_restarted,
            time_updated: clock::now(),
        };
        let req = if undo_leaves_ended_vmm(ctx) {
            DbRequest::InstanceUpdateRuntimeUnlessVmmEnded {
                id: p.instance.id,
                new,
            }
        } else {
            DbRequest::InstanceUpdateRuntime {
                id: p.instance.id,
                new,
                require_intent: None,
            }
        };
        ctx.nexus.db_until_answered(ctx.cause(), req).await;
        Ok(())
    })
}

/// Records the state a sled agent answered with. Once the sled has acted,
/// the node has done its work: failing it would unwind the saga without
/// running this node's own undo (steno never undoes a failed node), leaving
/// the VMM running on the sled with no record pointing at it. The state
/// reaches Nexus again through the sled's pushes and the watcher, and the
/// write is generation-guarded, so a lost write costs nothing. (A model
/// simplification: omicron fails the node on a db error here.)
async fn record_reported_state(ctx: &SagaContext, vmm: &VmmRow, state: SledVmmState) {
    let _ = process_vmm_update(&ctx.nexus, ctx.cause(), vmm, state, UpdateSagaWait::Spawn).await;
}

/// Registers the VMM with its sled agent and records the state it reports.
/// A sled-agent error unwinds the saga; it does not fail the instance.
/// In `fixed` (branch 4) it first re-reads the instance and refuses, which
/// unwinds the saga, when the VMM is no longer the instance's active VMM or
/// its record has ended (a user's stop found no such VMM and marked it
/// Failed while the saga was paused).
fn sis_ensure_registered<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let vmm = p.vmm.clone().expect("CREATE_VMM_RECORD ran");
        if ctx
            .nexus
            .cfg
            .variant
            .ensure_registered_requires_active_vmm()
            && !mutation::on(Mutation::StartRegistersAnyVmm)
        {
            let iv = ctx
                .nexus
                .fetch_instance(ctx.cause(), p.instance.id)
                .await
                .map_err(|_| db_down())?;
            let still_ours = iv.as_ref().and_then(|iv| iv.vmm.as_ref()).is_some_and(|v| {
                v.id == vmm.id && v.time_deleted.is_none() && !v.runtime.state.is_destroyable()
            });
            if !still_ours {
                return Err(ActionError::conflict(
                    "the VMM is no longer the instance's active VMM",
                ));
            }
        }
        let req = SledRequest::VmmRegister {
            vmm: vmm.id,
            instance: p.instance.id,
        };
        match ctx.nexus.sled(vmm.sled_id, &req).await {
            Ok(SledResponse::Ok(state)) => {
                record_reported_state(ctx, &vmm, state).await;
                let mut registered = vmm.clone();
                registered.runtime = VmmRuntime::from(state);
                p.registered = Some(registered);
                Ok(())
            }
            Ok(
                SledResponse::NoSuchInstance | SledResponse::NothingToDo | SledResponse::Vmms(_),
            ) => Err(ActionError::new(
                500,
                "sled agent refused to register the VMM",
            )),
            Ok(SledResponse::Error(status)) => Err(ActionError::new(
                status,
                format!("sled agent answered {status} to vmm_register"),
            )),
            Err(e) => Err(sled_error(vmm.sled_id, e)),
        }
    })
}

/// Unregisters the VMM. If the sled agent says it is already gone, the VMM
/// is marked Failed and the undo fails: the saga is stuck (#7727, #9174;
/// listed in the known-upstream file). Any other error counts as "already
/// unregistered".
fn sis_ensure_registered_undo<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let vmm = p.registered.clone().expect("ENSURE_REGISTERED ran");
        let req = SledRequest::VmmUnregister { vmm: vmm.id };
        match ctx.nexus.sled(vmm.sled_id, &req).await {
            Ok(SledResponse::NoSuchInstance) => {
                // Best effort: the undo fails whatever this does.
                let _ = mark_vmm_failed(
                    &ctx.nexus,
                    ctx.cause(),
                    &vmm,
                    VmmFailureReason::NoSuchInstance,
                )
                .await;
                Err(ActionError::new(500, "VMM is gone from its sled"))
            }
            Ok(_) | Err(_) => Ok(()),
        }
    })
}

/// Asks the sled agent to run the VMM. A sled error unwinds the saga.
fn sis_ensure_running<'a>(
    ctx: &'a SagaContext,
    p: &'a mut Params,
) -> LocalBoxFuture<'a, ActionResult> {
    Box::pin(async move {
        let vmm = p.vmm.clone().expect("CREATE_VMM_RECORD ran");
        let req = SledRequest::VmmPutState {
            vmm: vmm.id,
            state: RequestedState::Running,
        };
        match ctx.nexus.sled(vmm.sled_id, &req).await {
            Ok(SledResponse::Ok(state)) => {
                record_reported_state(ctx, &vmm, state).await;
                Ok(())
            }
            Ok(
                SledResponse::NoSuchInstance | SledResponse::NothingToDo | SledResponse::Vmms(_),
            ) => Err(ActionError::new(
                500,
                "sled agent has no such VMM (NO_SUCH_INSTANCE)",
            )),
            Ok(SledResponse::Error(status)) => Err(ActionError::new(
                status,
                format!("sled agent answered {status} to vmm_put_state"),
            )),
            Err(e) => Err(sled_error(vmm.sled_id, e)),
        }
    })
}
