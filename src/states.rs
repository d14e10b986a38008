//! The state enums of omicron's instance lifecycle, with omicron's names
//! (`nexus/db-model/src/{instance_state,vmm_state,instance_intended_state,
//! instance_auto_restart_policy}.rs`, and the external
//! `nexus/types/versions/src/initial/instance.rs`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A record's generation number. Runtime writes land only when theirs is
/// strictly newer than the stored one.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug, Default,
)]
pub struct Generation(pub u64);

impl Generation {
    pub const FIRST: Generation = Generation(1);
    pub fn next(self) -> Generation {
        Generation(self.0 + 1)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

/// The internal instance state (`InstanceState` in db-model). While an
/// active VMM exists, the VMM's state decides what the user sees.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum InstanceState {
    Creating,
    NoVmm,
    Vmm,
    Failed,
    Destroyed,
}

/// The state of a VMM record (`VmmState`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum VmmState {
    Creating,
    Starting,
    Running,
    Stopping,
    Stopped,
    Rebooting,
    Migrating,
    Failed,
    Destroyed,
    SagaUnwound,
}

impl VmmState {
    /// `VmmState::TERMINAL_STATES`: these trigger an update saga.
    pub fn is_terminal(self) -> bool {
        matches!(self, VmmState::Destroyed | VmmState::Failed)
    }

    /// `VmmState::DESTROYABLE_STATES`: the abandoned-VMM reaper may delete
    /// a VMM in these states once no instance points at it.
    pub fn is_destroyable(self) -> bool {
        matches!(
            self,
            VmmState::Destroyed | VmmState::Failed | VmmState::SagaUnwound
        )
    }

    /// `VmmState::NONEXISTENT_STATES`: not present on any sled; the watcher
    /// skips them.
    pub fn is_nonexistent(self) -> bool {
        matches!(
            self,
            VmmState::Creating | VmmState::SagaUnwound | VmmState::Destroyed
        )
    }
}

/// The most recently requested state of the instance (`InstanceIntendedState`,
/// added by PR #8053).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum IntendedState {
    Running,
    Stopped,
    GuestShutdown,
    Destroyed,
}

/// `InstanceAutoRestartPolicy`. A NULL policy means `DEFAULT_POLICY`, which
/// is `BestEffort`.
/// Scenario files spell it as the API does (`never`, `best_effort`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum AutoRestartPolicy {
    Never,
    BestEffort,
}

/// Why an instance-start saga runs (`instance_start::Reason`), plus the
/// `fixed` variant's intent reconciler, whose starts carry out a user's
/// intent and so are not auto-restarts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum StartReason {
    AutoStart,
    User,
    AutoRestart,
    IntentReconciler,
}

/// The state a user sees (`InstanceState` in the external API).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum ExternalState {
    Creating,
    Starting,
    Running,
    Stopping,
    Stopped,
    Rebooting,
    Migrating,
    Repairing,
    Failed,
    Destroyed,
}

/// `VmmFailureReason`: why a VMM was marked Failed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum VmmFailureReason {
    FromSledAgent,
    NoSuchInstance,
    SledOff,
}

/// The state a sled agent can be asked to drive a VMM to
/// (`VmmPutStateBody`'s `InstanceStateRequested`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum RequestedState {
    Running,
    Stopped,
    Reboot,
}

macro_rules! display_as_debug {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
display_as_debug!(
    InstanceState,
    VmmState,
    IntendedState,
    AutoRestartPolicy,
    StartReason,
    ExternalState,
    VmmFailureReason,
    RequestedState
);
