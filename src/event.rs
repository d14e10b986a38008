//! What the model tells the world: one typed event per request accepted or
//! rejected, saga node done or undone, db write applied or dropped, VMM state
//! change on a sled, and background-task decision. The harness stamps each
//! with the host and virtual time; `Display` gives the words of a trace line.

use crate::db::rows::{InstanceRow, ReservationRow, SagaName, SagaState, VmmRow};
use crate::ids::{InstanceId, NexusId, ReqId, SagaId, SledId, VmmId};
use crate::states::{
    AutoRestartPolicy, Generation, RequestedState, StartReason, VmmFailureReason, VmmState,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An external API operation (`/v1/instances...`).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum ApiOp {
    Create {
        start: bool,
        auto_restart_policy: Option<AutoRestartPolicy>,
    },
    Start,
    Stop,
    Reboot,
    Delete,
    Get,
}

impl ApiOp {
    /// The name used in traces and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ApiOp::Create { .. } => "create",
            ApiOp::Start => "start",
            ApiOp::Stop => "stop",
            ApiOp::Reboot => "reboot",
            ApiOp::Delete => "delete",
            ApiOp::Get => "get",
        }
    }
}

impl fmt::Display for ApiOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiOp::Create {
                start,
                auto_restart_policy,
            } => {
                write!(f, "create start={start}")?;
                if let Some(p) = auto_restart_policy {
                    write!(f, " policy={p}")?;
                }
                Ok(())
            }
            other => f.write_str(other.name()),
        }
    }
}

/// The datastore function behind a db write.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub enum Query {
    /// `instance_create`'s insert of the record in `Creating`.
    InstanceInsert,
    /// The create saga's undo: delete the record while still `Creating`.
    InstanceDeleteCreating,
    /// `instance_set_intended_state`: no generation bump, no lock.
    InstanceSetIntendedState,
    /// The `fixed` variant's intent write that requires the state the
    /// request was validated against to still hold (branch 1): when it
    /// commits, the request is accepted.
    InstanceSetIntendedStateValidated,
    /// `instance_update_runtime`: generation-guarded.
    InstanceUpdateRuntime,
    /// `instance_updater_lock`: CAS on `updater_gen`.
    InstanceUpdaterLock,
    /// `instance_updater_inherit_lock`: CAS from the parent's lock id.
    InstanceUpdaterInheritLock,
    /// `instance_updater_unlock`.
    InstanceUpdaterUnlock,
    /// `instance_commit_update`: runtime + unlock + optional intent.
    InstanceCommitUpdate,
    /// `project_delete_instance`: Destroyed and `time_deleted`.
    ProjectDeleteInstance,
    /// `vmm_insert`.
    VmmInsert,
    /// `vmm_update_runtime`: generation-guarded.
    VmmUpdateRuntime,
    /// `vmm_mark_saga_unwound`.
    VmmMarkSagaUnwound,
    /// `vmm_mark_deleted`.
    VmmMarkDeleted,
    /// `sled_reservation_create`.
    SledReservationCreate,
    /// `sled_reservation_delete`.
    SledReservationDelete,
    /// PR #8053's schema update (`instance-intended-state/up03,up04.sql`):
    /// the intent back-filled from the instance's state.
    InstanceIntendedStateBackfill,
}

/// Who asked for a db write: the thread of control a reader follows.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum Cause {
    /// An external API handler.
    Api { req: ReqId },
    /// A saga node's action or undo.
    Saga {
        saga: SagaId,
        name: SagaName,
        node: String,
    },
    /// A background task.
    Task { task: BackgroundTask },
    /// A sled agent's state push (`cpapi_instances_put`).
    SledPush { sled: SledId },
    /// An offline schema update to `version`, applied while every Nexus is
    /// down.
    SchemaUpdate { version: String },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Api { req } => write!(f, "api {req}"),
            Cause::Saga { saga, name, node } => write!(f, "{name} {saga} {node}"),
            Cause::Task { task } => write!(f, "{task}"),
            Cause::SledPush { sled } => write!(f, "push from {sled}"),
            Cause::SchemaUpdate { version } => write!(f, "schema update {version}"),
        }
    }
}

/// Whether a write landed.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum WriteOutcome {
    Applied,
    /// The stored generation was not older than the write's: omicron drops
    /// such a write silently and returns `false`.
    StaleGeneration,
    /// The row does not exist (or is soft-deleted).
    NotFound,
    /// A compare-and-swap or precondition did not hold (a held updater
    /// lock, a state that forbids the write).
    Conflict,
}

/// The background tasks (`nexus/src/app/background/tasks/*.rs`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum BackgroundTask {
    InstanceWatcher,
    InstanceReincarnation,
    InstanceUpdater,
    AbandonedVmmReaper,
    SagaRecovery,
    /// The `fixed` variant's reconciler for Running/Stopped intents.
    InstanceIntentReconciler,
}

impl BackgroundTask {
    pub fn name(self) -> &'static str {
        match self {
            BackgroundTask::InstanceWatcher => "instance_watcher",
            BackgroundTask::InstanceReincarnation => "instance_reincarnation",
            BackgroundTask::InstanceUpdater => "instance_updater",
            BackgroundTask::AbandonedVmmReaper => "abandoned_vmm_reaper",
            BackgroundTask::SagaRecovery => "saga_recovery",
            BackgroundTask::InstanceIntentReconciler => "instance_intent_reconciler",
        }
    }
}

impl fmt::Display for BackgroundTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `ReincarnationReason`: which pass of `instance_reincarnation` chose it.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum ReincarnationReason {
    Failed,
    SagaUnwound,
}

/// A background task's decision that acts on an instance, with its reason.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum Decision {
    /// instance_watcher: the sled's answer (or mgs's) changes the VMM.
    WatcherVmmState {
        vmm: VmmId,
        state: VmmState,
        gen: Generation,
        reason: Option<VmmFailureReason>,
    },
    /// instance_reincarnation: start saga `saga` for the row it selected.
    Reincarnate {
        saga: SagaId,
        reason: ReincarnationReason,
        selected: Box<InstanceRow>,
    },
    /// instance_updater: an update saga for a terminal active VMM.
    StartUpdate { saga: SagaId },
    /// abandoned_vmm_reaper: delete an unreferenced terminal VMM.
    ReapVmm { vmm: VmmId },
    /// saga_recovery: resume a saga this Nexus owns.
    RecoverSaga { saga: SagaId, name: SagaName },
    /// instance_intent_reconciler (`fixed`): start an instance whose intent
    /// is Running and that has no VMM and no start saga in flight.
    ReconcileStart { saga: SagaId },
    /// instance_intent_reconciler (`fixed`): stop an active VMM whose
    /// instance's intent is Stopped or Destroyed.
    ReconcileStop { vmm: VmmId },
    /// instance_intent_reconciler (`fixed`): run the delete saga of an
    /// instance whose intent is Destroyed.
    ReconcileDelete { saga: SagaId },
    /// instance_intent_reconciler (`fixed`): finish a create whose saga
    /// failed after its record was committed.
    ReconcileFinishCreate,
    /// instance_intent_reconciler (`fixed`, branch 5): unregister a VMM a
    /// sled runs that is not its instance's active VMM (an orphan).
    ReconcileReapOrphan { vmm: VmmId, sled: SledId },
}

/// A saga node's step.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum NodeStep {
    Done,
    Failed(String),
    Undone,
    UndoFailed(String),
}

/// A sled-agent endpoint Nexus calls, as the harness names it when it
/// makes the sled answer with an error or not at all.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum SledCall {
    /// `vmm_register` (the start saga's `ENSURE_REGISTERED`).
    Register,
    /// `vmm_put_state` (`ENSURE_RUNNING`, stop, reboot, the reconciler).
    PutState,
    /// `vmm_get_state` (the instance watcher).
    GetState,
}

impl fmt::Display for SledCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SledCall::Register => "register",
            SledCall::PutState => "put-state",
            SledCall::GetState => "get-state",
        })
    }
}

/// Why a VMM left a sled agent's table.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum VmmGoneReason {
    /// Nexus called `vmm_unregister`.
    Unregistered,
    /// The VM halted and its zone was torn down after `Destroyed` was
    /// published.
    Destroyed,
    /// The VM failed (its zone or Propolis vanished) and its zone was torn
    /// down after `Failed` was published (`fail_vmm_and_terminate`).
    Failed,
    /// The sled agent lost track of it (omicron's sim sled-agent
    /// `instance_unregister` without telling Nexus; PR #8053's test).
    Forgotten,
}

/// One thing that happened in the model.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum Event {
    /// A host's software started (at boot or after a restart).
    HostStarted,
    /// Nexus passed validation and began to carry the request out.
    ApiAccepted {
        req: ReqId,
        op: ApiOp,
        instance: InstanceId,
    },
    /// Nexus refused the request before carrying it out.
    ApiRejected {
        req: ReqId,
        op: ApiOp,
        instance: Option<InstanceId>,
        status: u16,
        message: String,
    },
    /// Nexus wrote its response (the client may be gone).
    ApiResponded {
        req: ReqId,
        op: ApiOp,
        status: u16,
        message: String,
    },
    SagaCreated {
        saga: SagaId,
        name: SagaName,
        instance: InstanceId,
        reason: Option<StartReason>,
    },
    SagaResumed {
        saga: SagaId,
        name: SagaName,
        instance: InstanceId,
    },
    SagaNode {
        saga: SagaId,
        name: SagaName,
        node: String,
        step: NodeStep,
    },
    SagaFinished {
        saga: SagaId,
        name: SagaName,
        instance: InstanceId,
        state: SagaState,
    },
    InstanceWrite {
        query: Query,
        cause: Cause,
        outcome: WriteOutcome,
        before: Option<Box<InstanceRow>>,
        after: Option<Box<InstanceRow>>,
    },
    VmmWrite {
        query: Query,
        cause: Cause,
        outcome: WriteOutcome,
        before: Option<Box<VmmRow>>,
        after: Option<Box<VmmRow>>,
    },
    ReservationWrite {
        query: Query,
        cause: Cause,
        outcome: WriteOutcome,
        before: Option<ReservationRow>,
        after: Option<ReservationRow>,
    },
    /// A sled agent changed a VMM's state (it owns the generation).
    VmmOnSled {
        sled: SledId,
        vmm: VmmId,
        instance: InstanceId,
        state: VmmState,
        gen: Generation,
    },
    /// A VMM left a sled agent's table.
    VmmGone {
        sled: SledId,
        vmm: VmmId,
        instance: InstanceId,
        reason: VmmGoneReason,
    },
    /// A sled agent was asked to change a VMM's state.
    SledPutState {
        sled: SledId,
        vmm: VmmId,
        requested: RequestedState,
        /// `None`: the VMM is unknown (404 NO_SUCH_INSTANCE).
        accepted: bool,
    },
    /// A sled agent answered a call with an error status other than 404
    /// `NO_SUCH_INSTANCE` (a harness-injected 500 or 503, or the 410 of a
    /// terminating runner), or, with `status` `None`, swallowed it: the
    /// caller gets no answer.
    SledCallFailed {
        sled: SledId,
        vmm: VmmId,
        call: SledCall,
        status: Option<u16>,
    },
    /// A state push to Nexus failed and will be retried.
    PushRetry {
        sled: SledId,
        vmm: VmmId,
        gen: Generation,
        nexus: NexusId,
        retry_in_ms: u64,
    },
    /// `LOCK_INSTANCE`'s try-lock of a deleted instance failed and will be
    /// retried in `retry_in_ms` (virtual ms): omicron's per-retry log line
    /// (`retry_notify_ext`, `nexus/src/app/sagas/instance_update/start.rs`)
    /// in the #10177 loop, which before #10785 took "instance deleted" for
    /// a transient error (#10784). Only `--without-fix 10785` reaches it.
    LockRetry {
        saga: SagaId,
        instance: InstanceId,
        retry_in_ms: u64,
    },
    /// A background task decided to act on an instance.
    TaskDecision {
        task: BackgroundTask,
        instance: InstanceId,
        decision: Decision,
    },
}

fn row_summary(r: &InstanceRow) -> String {
    let vmm = match r.runtime.propolis_id {
        Some(v) => format!(" vmm={v}"),
        None => String::new(),
    };
    format!(
        "{} {}{} intent={}",
        r.runtime.nexus_state, r.runtime.gen, vmm, r.intended_state
    )
}

fn vmm_summary(r: &VmmRow) -> String {
    let deleted = if r.time_deleted.is_some() {
        " deleted"
    } else {
        ""
    };
    // Branch 13's flag, shown only when set (only `fixed` sets it).
    let asked = if r.runtime.stop_requested {
        " stop-requested"
    } else {
        ""
    };
    format!("{} {}{}{}", r.runtime.state, r.runtime.gen, asked, deleted)
}

fn outcome_word(o: WriteOutcome) -> &'static str {
    match o {
        WriteOutcome::Applied => "",
        WriteOutcome::StaleGeneration => " DROPPED (stale generation)",
        WriteOutcome::NotFound => " DROPPED (not found)",
        WriteOutcome::Conflict => " DROPPED (conflict)",
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::HostStarted => f.write_str("started"),
            Event::ApiAccepted { req, op, instance } => {
                write!(f, "api {req} {} {instance}: accepted", op.name())
            }
            Event::ApiRejected {
                req,
                op,
                instance,
                status,
                message,
            } => {
                write!(f, "api {req} {}", op.name())?;
                if let Some(i) = instance {
                    write!(f, " {i}")?;
                }
                write!(f, ": rejected {status} ({message})")
            }
            Event::ApiResponded {
                req,
                op,
                status,
                message,
            } => {
                write!(f, "api {req} {}: respond {status}", op.name())?;
                if !message.is_empty() {
                    write!(f, " ({message})")?;
                }
                Ok(())
            }
            Event::SagaCreated {
                saga,
                name,
                instance,
                reason,
            } => {
                write!(f, "saga {name} {saga} for {instance}: created")?;
                if let Some(r) = reason {
                    write!(f, " reason={r}")?;
                }
                Ok(())
            }
            Event::SagaResumed {
                saga,
                name,
                instance,
            } => write!(f, "saga {name} {saga} for {instance}: resumed"),
            Event::SagaNode {
                saga,
                name,
                node,
                step,
            } => match step {
                NodeStep::Done => write!(f, "saga {name} {saga} {node}: done"),
                NodeStep::Failed(e) => write!(f, "saga {name} {saga} {node}: FAILED ({e})"),
                NodeStep::Undone => write!(f, "saga {name} {saga} {node}: undone"),
                NodeStep::UndoFailed(e) => {
                    write!(f, "saga {name} {saga} {node}: UNDO FAILED ({e})")
                }
            },
            Event::SagaFinished {
                saga,
                name,
                instance,
                state,
            } => write!(f, "saga {name} {saga} for {instance}: {state:?}"),
            Event::InstanceWrite {
                query,
                cause,
                outcome,
                before,
                after,
            } => {
                let id = after
                    .as_ref()
                    .or(before.as_ref())
                    .map(|r| r.id.to_string())
                    .unwrap_or_else(|| "?".into());
                write!(f, "db instance {id} {query:?} by {cause}: ")?;
                match (before, after) {
                    (None, Some(a)) => write!(f, "insert {}", row_summary(a))?,
                    (Some(b), Some(a)) => write!(f, "{} -> {}", row_summary(b), row_summary(a))?,
                    (Some(b), None) => write!(f, "{} -> deleted", row_summary(b))?,
                    (None, None) => f.write_str("no row")?,
                }
                f.write_str(outcome_word(*outcome))
            }
            Event::VmmWrite {
                query,
                cause,
                outcome,
                before,
                after,
            } => {
                let id = after
                    .as_ref()
                    .or(before.as_ref())
                    .map(|r| format!("{} of {}", r.id, r.instance_id))
                    .unwrap_or_else(|| "?".into());
                write!(f, "db vmm {id} {query:?} by {cause}: ")?;
                match (before, after) {
                    (None, Some(a)) => write!(f, "insert {} on {}", vmm_summary(a), a.sled_id)?,
                    (Some(b), Some(a)) => write!(f, "{} -> {}", vmm_summary(b), vmm_summary(a))?,
                    (Some(b), None) => write!(f, "{} -> deleted", vmm_summary(b))?,
                    (None, None) => f.write_str("no row")?,
                }
                f.write_str(outcome_word(*outcome))
            }
            Event::ReservationWrite {
                query,
                cause,
                outcome,
                before,
                after,
            } => {
                let r = after.as_ref().or(before.as_ref());
                match r {
                    Some(r) => write!(
                        f,
                        "db reservation {} on {} {query:?} by {cause}",
                        r.vmm_id, r.sled_id
                    )?,
                    None => write!(f, "db reservation {query:?} by {cause}: none")?,
                }
                f.write_str(outcome_word(*outcome))
            }
            Event::VmmOnSled {
                sled,
                vmm,
                instance,
                state,
                gen,
            } => write!(f, "{sled} vmm {vmm} of {instance}: {state} {gen}"),
            Event::VmmGone {
                sled,
                vmm,
                instance,
                reason,
            } => write!(f, "{sled} vmm {vmm} of {instance}: gone ({reason:?})"),
            Event::SledPutState {
                sled,
                vmm,
                requested,
                accepted,
            } => {
                if *accepted {
                    write!(f, "{sled} put-state {vmm} {requested}")
                } else {
                    write!(
                        f,
                        "{sled} put-state {vmm} {requested}: 404 NO_SUCH_INSTANCE"
                    )
                }
            }
            Event::SledCallFailed {
                sled,
                vmm,
                call,
                status: Some(status),
            } => write!(f, "{sled} {call} {vmm}: answers {status}"),
            Event::SledCallFailed {
                sled,
                vmm,
                call,
                status: None,
            } => write!(f, "{sled} {call} {vmm}: never answers"),
            Event::PushRetry {
                sled,
                vmm,
                gen,
                nexus,
                retry_in_ms,
            } => write!(
                f,
                "{sled} push {vmm} {gen} to {nexus} failed; retry in {retry_in_ms}ms"
            ),
            Event::LockRetry {
                saga,
                instance,
                retry_in_ms,
            } => write!(
                f,
                "saga {} {saga} LOCK_INSTANCE: instance {instance} is deleted; retry in {retry_in_ms}ms",
                SagaName::StartInstanceUpdate
            ),
            Event::TaskDecision {
                task,
                instance,
                decision,
            } => {
                write!(f, "{task} {instance}: ")?;
                match decision {
                    Decision::WatcherVmmState {
                        vmm,
                        state,
                        gen,
                        reason,
                    } => {
                        write!(f, "vmm {vmm} is {state} {gen}")?;
                        if let Some(r) = reason {
                            write!(f, " ({r})")?;
                        }
                        Ok(())
                    }
                    Decision::Reincarnate {
                        saga,
                        reason,
                        selected,
                    } => write!(
                        f,
                        "reincarnate ({reason:?}) with start saga {saga}; selected {}",
                        row_summary(selected)
                    ),
                    Decision::StartUpdate { saga } => write!(f, "update saga {saga}"),
                    Decision::ReapVmm { vmm } => write!(f, "reap vmm {vmm}"),
                    Decision::RecoverSaga { saga, name } => {
                        write!(f, "recover {name} {saga}")
                    }
                    Decision::ReconcileStart { saga } => {
                        write!(f, "intent Running, no VMM: start saga {saga}")
                    }
                    Decision::ReconcileStop { vmm } => {
                        write!(f, "intent not Running: stop vmm {vmm}")
                    }
                    Decision::ReconcileDelete { saga } => {
                        write!(f, "intent Destroyed: delete saga {saga}")
                    }
                    Decision::ReconcileFinishCreate => {
                        f.write_str("left in Creating by a failed create: move to NoVmm")
                    }
                    Decision::ReconcileReapOrphan { vmm, sled } => {
                        write!(
                            f,
                            "{sled} runs vmm {vmm}, not the active VMM: unregister it"
                        )
                    }
                }
            }
        }
    }
}
