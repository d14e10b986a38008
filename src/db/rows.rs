//! The rows of the five tables the model keeps (`schema/crdb/dbinit.sql`),
//! with only the lifecycle columns.

use crate::ids::{InstanceId, LockId, Millis, NexusId, SagaId, SledId, VmmId};
use crate::states::{
    AutoRestartPolicy, Generation, InstanceState, IntendedState, VmmFailureReason, VmmState,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `instance` table (`nexus/db-model/src/instance.rs`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct InstanceRow {
    pub id: InstanceId,
    pub name: String,
    pub runtime: InstanceRuntime,
    /// `intended_state`. In the `legacy` variant nothing reads it; the
    /// column still exists so that rows look the same in every variant.
    pub intended_state: IntendedState,
    /// NULL means `DEFAULT_POLICY` (BestEffort).
    pub auto_restart_policy: Option<AutoRestartPolicy>,
    /// NULL means `DEFAULT_COOLDOWN`.
    pub auto_restart_cooldown: Option<Millis>,
    pub time_deleted: Option<Millis>,
    /// The instance-updater lock: `updater_id` and `updater_gen`.
    pub updater_id: Option<LockId>,
    pub updater_gen: Generation,
}

/// The generation-guarded runtime group of an instance.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct InstanceRuntime {
    /// `nexus_state` (column `state`).
    pub nexus_state: InstanceState,
    /// `state_generation`.
    pub gen: Generation,
    /// `propolis_id` (column `active_propolis_id`).
    pub propolis_id: Option<VmmId>,
    pub time_last_auto_restarted: Option<Millis>,
    pub time_updated: Millis,
}

/// The `vmm` table (`nexus/db-model/src/vmm.rs`). The sled agent owns the
/// generation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct VmmRow {
    pub id: VmmId,
    pub instance_id: InstanceId,
    pub sled_id: SledId,
    pub runtime: VmmRuntime,
    pub time_deleted: Option<Millis>,
    pub failure_reason: Option<VmmFailureReason>,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct VmmRuntime {
    pub state: VmmState,
    pub gen: Generation,
    /// The `fixed` variant's branch 13 column: the sled agent reported this
    /// state as reached after it was asked to stop the VMM
    /// ([`crate::sled_agent::api::SledVmmState::stop_requested`]). Never set in
    /// `legacy` or `omicron`.
    pub stop_requested: bool,
}

impl From<crate::sled_agent::api::SledVmmState> for VmmRuntime {
    /// The runtime a sled agent's report asks Nexus to record.
    fn from(s: crate::sled_agent::api::SledVmmState) -> VmmRuntime {
        VmmRuntime {
            state: s.state,
            gen: s.gen,
            stop_requested: s.stop_requested,
        }
    }
}

/// The `sled_resource_vmm` table: one reservation per VMM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct ReservationRow {
    pub vmm_id: VmmId,
    pub instance_id: InstanceId,
    pub sled_id: SledId,
}

/// `saga_state`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub enum SagaState {
    Running,
    Unwinding,
    Done,
    /// Unwound completely.
    Unwound,
    /// An undo action failed: steno's terminal "stuck" state.
    Stuck,
}

impl SagaState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            SagaState::Done | SagaState::Unwound | SagaState::Stuck
        )
    }
}

/// The `saga` table. `params` and node outputs are the saga's own typed
/// state (see `nexus::sagas`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct SagaRow {
    pub id: SagaId,
    pub name: SagaName,
    /// The instance the saga acts on, so queries need not decode params.
    pub instance_id: InstanceId,
    /// `current_sec`: the Nexus that owns (and recovers) this saga.
    pub current_sec: NexusId,
    pub state: SagaState,
    pub time_created: Millis,
    /// The saga's parameters (its typed initial state, encoded).
    pub params: Vec<u8>,
}

/// A `saga_node_event` row.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct SagaNodeEventRow {
    pub saga_id: SagaId,
    pub node: u16,
    pub kind: NodeEventKind,
    /// The saga's whole typed state after the node: its outputs.
    pub data: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum NodeEventKind {
    /// The action finished; `data` holds the saga state with its output.
    Done,
    /// The action failed; the saga unwinds.
    Failed,
    /// The undo action finished.
    UndoDone,
    /// The undo action failed; the saga is stuck.
    UndoFailed,
}

/// Saga names, as omicron spells them (`NexusSaga::NAME`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum SagaName {
    InstanceCreate,
    InstanceStart,
    StartInstanceUpdate,
    InstanceUpdate,
    InstanceDelete,
}

impl SagaName {
    pub const ALL: [SagaName; 5] = [
        SagaName::InstanceCreate,
        SagaName::InstanceStart,
        SagaName::StartInstanceUpdate,
        SagaName::InstanceUpdate,
        SagaName::InstanceDelete,
    ];

    /// The kebab-case saga name.
    pub fn as_str(self) -> &'static str {
        match self {
            SagaName::InstanceCreate => "instance-create",
            SagaName::InstanceStart => "instance-start",
            SagaName::StartInstanceUpdate => "start-instance-update",
            SagaName::InstanceUpdate => "instance-update",
            SagaName::InstanceDelete => "instance-delete",
        }
    }

    /// The prefix of this saga's named points (`start.MARK_AS_STARTING...`).
    pub fn point_prefix(self) -> &'static str {
        match self {
            SagaName::InstanceCreate => "create",
            SagaName::InstanceStart => "start",
            SagaName::StartInstanceUpdate => "start_update",
            SagaName::InstanceUpdate => "update",
            SagaName::InstanceDelete => "delete",
        }
    }
}

impl fmt::Display for SagaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
