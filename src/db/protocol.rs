//! The queries Nexus sends to the db host, named after omicron's datastore
//! functions (`nexus/db-queries/src/db/datastore/{instance,vmm,saga}.rs`).
//! Each request is one transaction: it commits whole or not at all.

use super::rows::{
    InstanceRow, InstanceRuntime, SagaNodeEventRow, SagaRow, SagaState, VmmRow, VmmRuntime,
};
use crate::event::{Cause, ReincarnationReason};
use crate::ids::{InstanceId, LockId, Millis, NexusId, SagaId, SledId, VmmId};
use crate::states::{Generation, IntendedState, VmmFailureReason};
use serde::{Deserialize, Serialize};

/// A request and who caused it (for the write events).
#[derive(Clone, Serialize, Deserialize, Debug)]
pub struct DbCall {
    pub cause: Cause,
    pub request: DbRequest,
}

/// An instance with its active VMM (`InstanceAndActiveVmm`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct InstanceAndVmm {
    pub instance: InstanceRow,
    pub vmm: Option<VmmRow>,
}

/// What an intent write requires to still hold, so that it lands in the same
/// transaction as the request's validation (the `fixed` variant's branch 1).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct ValidatedAt {
    pub instance_gen: Generation,
    pub vmm: Option<(VmmId, Generation)>,
}

#[derive(Clone, Serialize, Deserialize, Debug)]
pub enum DbRequest {
    InstanceInsert {
        row: InstanceRow,
    },
    InstanceDeleteCreating {
        id: InstanceId,
    },
    InstanceFetch {
        id: InstanceId,
    },
    InstanceFetchByName {
        name: String,
    },
    InstanceSetIntendedState {
        id: InstanceId,
        intent: IntendedState,
        validated_at: Option<ValidatedAt>,
    },
    /// `instance_update_runtime`; with `require_intent`, the `fixed`
    /// variant's `MARK_AS_STARTING` condition (branch 2).
    InstanceUpdateRuntime {
        id: InstanceId,
        new: InstanceRuntime,
        require_intent: Option<IntendedState>,
    },
    /// `sis_move_to_starting_undo`'s write in the `fixed` variant (branch
    /// 14, `Variant::start_undo_leaves_ended_vmm_to_update_saga`):
    /// `instance_update_runtime` that also requires the VMM the instance
    /// points at not to have ended (Destroyed or Failed). Such a VMM is
    /// left to the update saga its end started. One transaction, so a
    /// sled's report that lands between a read and this write cannot slip
    /// through.
    InstanceUpdateRuntimeUnlessVmmEnded {
        id: InstanceId,
        new: InstanceRuntime,
    },
    InstanceUpdaterLock {
        id: InstanceId,
        lock: LockId,
    },
    InstanceUpdaterInheritLock {
        id: InstanceId,
        parent: LockId,
        child: LockId,
    },
    InstanceUpdaterUnlock {
        id: InstanceId,
        lock: LockId,
    },
    InstanceCommitUpdate {
        id: InstanceId,
        lock: LockId,
        new: InstanceRuntime,
        new_intent: Option<IntendedState>,
    },
    /// `project_delete_instance`; with `require_intent`, the `fixed`
    /// variant's `INSTANCE_DELETE_RECORD` condition (branch 7).
    ProjectDeleteInstance {
        id: InstanceId,
        require_intent: Option<IntendedState>,
    },
    VmmInsert {
        row: VmmRow,
    },
    VmmFetch {
        id: VmmId,
    },
    VmmUpdateRuntime {
        id: VmmId,
        new: VmmRuntime,
        failure_reason: Option<VmmFailureReason>,
    },
    /// `vmm_mark_saga_unwound`; with `keep_ended` (the `fixed` variant's
    /// branch 14), a VMM whose record has ended (Destroyed or Failed) is
    /// left as it is.
    VmmMarkSagaUnwound {
        id: VmmId,
        keep_ended: bool,
    },
    VmmMarkDeleted {
        id: VmmId,
    },
    SledReservationCreate {
        vmm: VmmId,
        instance: InstanceId,
        /// Sleds in the order Nexus prefers them (drawn from its RNG).
        candidates: Vec<SledId>,
        capacity: u8,
    },
    SledReservationDelete {
        vmm: VmmId,
    },
    /// `saga_create`: idempotent. Answers `Sagas` with the existing row and
    /// its log when the saga was already prepared, so a caller resumes it.
    SagaCreate {
        row: SagaRow,
    },
    SagaNodeEvent {
        row: SagaNodeEventRow,
    },
    SagaUpdateState {
        id: SagaId,
        state: SagaState,
    },
    SagaListUnfinished {
        sec: NexusId,
    },
    /// `instance_and_vmm_list_by_sled_agent`, for the watcher.
    VmmListForWatcher,
    /// `find_reincarnatable_instances`. `require_intent_running` is the
    /// PR #8053 filter, absent in `legacy`.
    FindReincarnatable {
        reason: ReincarnationReason,
        require_intent_running: bool,
        now: Millis,
        default_cooldown: Millis,
    },
    /// instance_updater: unlocked instances whose active VMM is terminal.
    FindInstancesNeedingUpdate,
    /// abandoned_vmm_reaper: destroyable VMMs no instance points at.
    FindAbandonedVmms,
    /// The `fixed` reconciler's query.
    FindIntentMismatches,
}

#[derive(Clone, Serialize, Deserialize, Debug)]
pub enum DbResponse {
    /// A write: did it apply?
    Write(bool),
    Instance(Option<InstanceAndVmm>),
    Vmm(Option<VmmRow>),
    /// The reserved sled, or none with room.
    Reservation(Option<SledId>),
    Sagas(Vec<(SagaRow, Vec<SagaNodeEventRow>)>),
    WatcherList(Vec<(VmmRow, InstanceRow)>),
    Instances(Vec<InstanceAndVmm>),
    Vmms(Vec<VmmRow>),
    IntentMismatches {
        to_start: Vec<InstanceRow>,
        to_stop: Vec<InstanceAndVmm>,
        /// NoVmm or Failed instances whose intent is Destroyed and that
        /// have no delete saga in flight.
        to_delete: Vec<InstanceRow>,
        /// Instances left in Creating by a create saga that ended (its
        /// record's insert committed but the node failed).
        to_finish_create: Vec<InstanceRow>,
    },
}
