//! Nexus's pure decision functions, with omicron's names. Each is an
//! exhaustive match on the state it decides from, so adding a state forces
//! a decision; the tables in `tests/decisions.rs` pin every row.

use crate::db::protocol::InstanceAndVmm;
use crate::db::rows::{InstanceRow, InstanceRuntime, VmmRow};
use crate::ids::{Millis, VmmId};
use crate::states::{
    AutoRestartPolicy, ExternalState, InstanceState, IntendedState, RequestedState, VmmState,
};
use crate::variant::Variant;

/// An error a handler returns: an HTTP status and message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, message)
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
}

/// `InstanceKarmicStatus`'s `can_reincarnate`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reincarnatability {
    /// Policy `never`.
    Nirvana,
    /// Restarted too recently; eligible again at `until`.
    CoolingDown {
        until: Millis,
    },
    WillReincarnate,
}

/// `InstanceKarmicStatus`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AutoRestartStatus {
    pub needs_reincarnation: bool,
    pub can_reincarnate: Reincarnatability,
}

impl AutoRestartStatus {
    pub fn should_reincarnate(self) -> bool {
        self.needs_reincarnation && self.can_reincarnate == Reincarnatability::WillReincarnate
    }
}

/// `Instance::auto_restart_status` (`nexus/db-model/src/instance.rs`).
///
/// An instance needs reincarnation when it is Failed, or points at a
/// `SagaUnwound` VMM, and (since PR #8053) its intent is Running. In the
/// `legacy` variant the intent does not exist, so every such instance
/// needs it: the root of #6809.
pub fn auto_restart_status(
    variant: Variant,
    instance: &InstanceRow,
    active_vmm: Option<&VmmRow>,
    now: Millis,
    default_cooldown: Millis,
) -> AutoRestartStatus {
    let wants_running = match (variant.tracks_intent(), instance.intended_state) {
        (false, _) => true,
        (true, IntendedState::Running) => true,
        (true, IntendedState::Stopped)
        | (true, IntendedState::GuestShutdown)
        | (true, IntendedState::Destroyed) => false,
    };
    let vmm_state = active_vmm.map(|v| v.runtime.state);
    let needs_reincarnation = match (instance.runtime.nexus_state, vmm_state) {
        (InstanceState::Failed, _) => wants_running,
        (InstanceState::Vmm, Some(VmmState::SagaUnwound)) => wants_running,
        (InstanceState::Vmm, Some(_)) | (InstanceState::Vmm, None) => false,
        (InstanceState::Creating, _)
        | (InstanceState::NoVmm, _)
        | (InstanceState::Destroyed, _) => false,
    };
    let can_reincarnate = match instance.auto_restart_policy {
        Some(AutoRestartPolicy::Never) => Reincarnatability::Nirvana,
        Some(AutoRestartPolicy::BestEffort) | None => {
            let cooldown = instance.auto_restart_cooldown.unwrap_or(default_cooldown);
            match instance.runtime.time_last_auto_restarted {
                Some(last) if now < last + cooldown => Reincarnatability::CoolingDown {
                    until: last + cooldown,
                },
                Some(_) | None => Reincarnatability::WillReincarnate,
            }
        }
    };
    AutoRestartStatus {
        needs_reincarnation,
        can_reincarnate,
    }
}

/// `InstanceStateComputer::compute_state` (`nexus/db-model/src/vmm_state.rs`,
/// with #10580): the state a user sees. Migration is not modelled, so rule 1
/// (`Migrating` whenever a migration id is set) never applies.
pub fn compute_state(instance: &InstanceRow, active_vmm: Option<&VmmRow>) -> ExternalState {
    match (
        instance.runtime.nexus_state,
        active_vmm.map(|v| v.runtime.state),
    ) {
        (InstanceState::Vmm, Some(VmmState::Stopped))
        | (InstanceState::Vmm, Some(VmmState::Destroyed))
        | (InstanceState::Vmm, Some(VmmState::Failed)) => ExternalState::Stopping,
        (InstanceState::Vmm, Some(VmmState::SagaUnwound)) => ExternalState::Failed,
        (InstanceState::Vmm, Some(VmmState::Creating))
        | (InstanceState::Vmm, Some(VmmState::Starting)) => ExternalState::Starting,
        (InstanceState::Vmm, Some(VmmState::Running)) => ExternalState::Running,
        (InstanceState::Vmm, Some(VmmState::Stopping)) => ExternalState::Stopping,
        (InstanceState::Vmm, Some(VmmState::Rebooting)) => ExternalState::Rebooting,
        (InstanceState::Vmm, Some(VmmState::Migrating)) => ExternalState::Migrating,
        // The CHECK constraint forbids Vmm without an active VMM; the plain
        // mapping says Running.
        (InstanceState::Vmm, None) => ExternalState::Running,
        (InstanceState::NoVmm, _) => ExternalState::Stopped,
        (InstanceState::Creating, _) => ExternalState::Creating,
        (InstanceState::Failed, _) => ExternalState::Failed,
        (InstanceState::Destroyed, _) => ExternalState::Destroyed,
    }
}

/// What `instance_start_allowed` says (`nexus/src/app/instance.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StartAllowed {
    /// Already starting or running: succeed without a saga.
    AlreadyStarted,
    /// Run an instance-start saga.
    Start,
}

/// `instance_start_allowed`: may a user start this instance now?
pub fn instance_start_allowed(iv: &InstanceAndVmm) -> Result<StartAllowed, ApiError> {
    let state = compute_state(&iv.instance, iv.vmm.as_ref());
    let vmm_state = iv.vmm.as_ref().map(|v| v.runtime.state);
    match (state, vmm_state) {
        (ExternalState::Starting, _)
        | (ExternalState::Running, _)
        | (ExternalState::Rebooting, _)
        | (ExternalState::Migrating, _) => Ok(StartAllowed::AlreadyStarted),
        (ExternalState::Stopped, None)
        | (ExternalState::Failed, None)
        | (ExternalState::Stopped, Some(VmmState::SagaUnwound))
        | (ExternalState::Failed, Some(VmmState::SagaUnwound)) => Ok(StartAllowed::Start),
        (ExternalState::Stopping, _) => Err(ApiError::conflict(
            "instance is stopping; it cannot be started until it has stopped",
        )),
        (ExternalState::Stopped, Some(_))
        | (ExternalState::Failed, Some(_))
        | (ExternalState::Creating, _)
        | (ExternalState::Repairing, _)
        | (ExternalState::Destroyed, _) => Err(ApiError::conflict(format!(
            "instance is in state {state} and cannot be started"
        ))),
    }
}

/// `InstanceStateChangeRequestAction`: what a run/stop/reboot request does.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RuntimeChangeAction {
    /// Nothing to do: the instance is already there.
    AlreadyDone,
    /// Write this runtime with no sled call (Failed + Stop, #6652).
    UpdateRuntime(InstanceRuntime),
    /// Ask the sled agent hosting this VMM.
    SendToSled(VmmId),
}

/// `select_runtime_change_action` (`nexus/src/app/instance.rs` ~L1220).
pub fn select_runtime_change_action(
    iv: &InstanceAndVmm,
    requested: RequestedState,
) -> Result<RuntimeChangeAction, ApiError> {
    let instance = &iv.instance;
    match &iv.vmm {
        // An instance with an active VMM: every effective state it can show
        // (Starting, Running, Stopping, Rebooting...) sends the request to
        // the sled agent. A Failed or Destroyed VMM shows as Stopping, so it
        // goes to the sled too, which answers NO_SUCH_INSTANCE. Only a
        // SagaUnwound VMM shows the instance as Failed; it exists on no sled.
        Some(vmm) => match vmm.runtime.state {
            VmmState::Creating
            | VmmState::Starting
            | VmmState::Running
            | VmmState::Stopping
            | VmmState::Stopped
            | VmmState::Rebooting
            | VmmState::Migrating
            | VmmState::Failed
            | VmmState::Destroyed => Ok(RuntimeChangeAction::SendToSled(vmm.id)),
            VmmState::SagaUnwound => Err(ApiError::bad_request(
                "instance is failed (its start saga unwound); start it again",
            )),
        },
        None => match (instance.runtime.nexus_state, requested) {
            (InstanceState::NoVmm, RequestedState::Stopped) => Ok(RuntimeChangeAction::AlreadyDone),
            (InstanceState::NoVmm, RequestedState::Running)
            | (InstanceState::NoVmm, RequestedState::Reboot) => Err(ApiError::bad_request(
                "instance is stopped; it must be started first",
            )),
            (InstanceState::Failed, RequestedState::Stopped) => {
                Ok(RuntimeChangeAction::UpdateRuntime(InstanceRuntime {
                    nexus_state: InstanceState::NoVmm,
                    gen: instance.runtime.gen.next(),
                    propolis_id: None,
                    time_last_auto_restarted: instance.runtime.time_last_auto_restarted,
                    time_updated: instance.runtime.time_updated,
                }))
            }
            (InstanceState::Failed, RequestedState::Running)
            | (InstanceState::Failed, RequestedState::Reboot) => Err(ApiError::bad_request(
                "instance is failed; it must be started first",
            )),
            (InstanceState::Creating, _) => {
                Err(ApiError::bad_request("instance is still being created"))
            }
            (InstanceState::Destroyed, _) => Err(ApiError::bad_request("instance is destroyed")),
            // The CHECK constraint rules this out.
            (InstanceState::Vmm, _) => Err(ApiError::new(500, "instance is Vmm with no VMM")),
        },
    }
}

/// What the update saga must do (`UpdatesRequired::for_instance`,
/// `nexus/src/app/sagas/instance_update/mod.rs`), migrations left out.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct UpdatesRequired {
    /// The runtime to commit.
    pub new_runtime: InstanceRuntime,
    /// The intent to commit with it, if it changes.
    pub new_intent: Option<IntendedState>,
    /// The terminal VMM to destroy after the commit.
    pub destroy_vmm: VmmId,
}

impl UpdatesRequired {
    /// `None` when the active VMM is not terminal: nothing to do.
    pub fn for_instance(
        variant: Variant,
        iv: &InstanceAndVmm,
        now: Millis,
    ) -> Option<UpdatesRequired> {
        let vmm = iv.vmm.as_ref()?;
        let instance = &iv.instance;
        let (nexus_state, new_intent) = match vmm.runtime.state {
            // The VMM failed: the instance fails; its intent stands.
            VmmState::Failed => (InstanceState::Failed, None),
            // The VMM was destroyed: the instance has no VMM. If the user
            // still wanted it running, the guest shut itself down (PR #8053),
            // unless the sled agent says it was asked to stop the VMM
            // (`fixed` branch 13, `Variant::sled_reports_requested_stop`;
            // only a `fixed` sled agent sets the flag): then a stop that
            // landed after a newer start destroyed it, and the intent
            // stands.
            VmmState::Destroyed => {
                let intent = match (variant.tracks_intent(), instance.intended_state) {
                    (true, IntendedState::Running) if vmm.runtime.stop_requested => None,
                    (true, IntendedState::Running) => Some(IntendedState::GuestShutdown),
                    (true, IntendedState::Stopped)
                    | (true, IntendedState::GuestShutdown)
                    | (true, IntendedState::Destroyed)
                    | (false, _) => None,
                };
                (InstanceState::NoVmm, intent)
            }
            VmmState::Creating
            | VmmState::Starting
            | VmmState::Running
            | VmmState::Stopping
            | VmmState::Stopped
            | VmmState::Rebooting
            | VmmState::Migrating
            | VmmState::SagaUnwound => return None,
        };
        Some(UpdatesRequired {
            new_runtime: InstanceRuntime {
                nexus_state,
                gen: instance.runtime.gen.next(),
                propolis_id: None,
                time_last_auto_restarted: instance.runtime.time_last_auto_restarted,
                time_updated: now,
            },
            new_intent,
            destroy_vmm: vmm.id,
        })
    }
}
