//! The tables and the transactions on them. Only the db host calls
//! [`Db::execute`]; the harness reads the tables directly for its final
//! checks. The store lives outside the db host's software, so it survives a
//! db crash: committed data is durable.

use super::protocol::{DbCall, DbRequest, DbResponse, InstanceAndVmm, ValidatedAt};
use super::rows::{
    InstanceRow, InstanceRuntime, NodeEventKind, ReservationRow, SagaName, SagaNodeEventRow,
    SagaRow, SagaState, VmmRow, VmmRuntime,
};
use crate::event::{Cause, Event, Query, ReincarnationReason, WriteOutcome};
use crate::ids::{InstanceId, LockId, Millis, NexusId, SagaId, SledId, VmmId};
use crate::mutation::{self, Mutation};
use crate::states::{AutoRestartPolicy, InstanceState, IntendedState, VmmFailureReason, VmmState};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The durable store, shared by the db host's software across restarts and
/// by the harness's final checks.
pub type DbHandle = Rc<RefCell<Db>>;

#[derive(Default, Debug)]
pub struct Db {
    instances: BTreeMap<InstanceId, InstanceRow>,
    vmms: BTreeMap<VmmId, VmmRow>,
    reservations: BTreeMap<VmmId, ReservationRow>,
    sagas: BTreeMap<SagaId, SagaRow>,
    saga_events: BTreeMap<SagaId, Vec<SagaNodeEventRow>>,
}

/// Everything one transaction did, for the write events.
struct Tx<'a> {
    cause: &'a Cause,
    events: &'a mut Vec<Event>,
}

impl Tx<'_> {
    fn instance(
        &mut self,
        query: Query,
        outcome: WriteOutcome,
        before: Option<&InstanceRow>,
        after: Option<&InstanceRow>,
    ) {
        self.events.push(Event::InstanceWrite {
            query,
            cause: self.cause.clone(),
            outcome,
            before: before.cloned().map(Box::new),
            after: after.cloned().map(Box::new),
        });
    }

    fn vmm(
        &mut self,
        query: Query,
        outcome: WriteOutcome,
        before: Option<&VmmRow>,
        after: Option<&VmmRow>,
    ) {
        self.events.push(Event::VmmWrite {
            query,
            cause: self.cause.clone(),
            outcome,
            before: before.cloned().map(Box::new),
            after: after.cloned().map(Box::new),
        });
    }

    fn reservation(
        &mut self,
        query: Query,
        before: Option<&ReservationRow>,
        after: Option<&ReservationRow>,
    ) {
        self.events.push(Event::ReservationWrite {
            query,
            cause: self.cause.clone(),
            outcome: WriteOutcome::Applied,
            before: before.cloned(),
            after: after.cloned(),
        });
    }
}

/// omicron's CHECK constraint: `state = 'vmm'` exactly when an active VMM
/// is set. CockroachDB rejects a write that breaks it.
fn check_constraint_holds(r: &InstanceRuntime) -> bool {
    (r.nexus_state == InstanceState::Vmm) == r.propolis_id.is_some()
}

impl Db {
    pub fn new_handle() -> DbHandle {
        Rc::new(RefCell::new(Db::default()))
    }

    pub fn instances(&self) -> impl Iterator<Item = &InstanceRow> {
        self.instances.values()
    }
    pub fn instance(&self, id: InstanceId) -> Option<&InstanceRow> {
        self.instances.get(&id)
    }
    pub fn vmms(&self) -> impl Iterator<Item = &VmmRow> {
        self.vmms.values()
    }
    pub fn vmm(&self, id: VmmId) -> Option<&VmmRow> {
        self.vmms.get(&id)
    }
    pub fn reservations(&self) -> impl Iterator<Item = &ReservationRow> {
        self.reservations.values()
    }
    pub fn sagas(&self) -> impl Iterator<Item = &SagaRow> {
        self.sagas.values()
    }

    fn with_vmm(&self, instance: &InstanceRow) -> InstanceAndVmm {
        InstanceAndVmm {
            instance: instance.clone(),
            vmm: instance
                .runtime
                .propolis_id
                .and_then(|v| self.vmms.get(&v).cloned()),
        }
    }

    /// Writes `intent` on `before`'s row without a generation bump (a
    /// back-fill's `UPDATE`, which sets every row it matches), reporting
    /// the write.
    pub(super) fn backfill_intent(
        &mut self,
        cause: &Cause,
        before: &InstanceRow,
        intent: IntendedState,
        events: &mut Vec<Event>,
    ) {
        let mut after = before.clone();
        after.intended_state = intent;
        let mut tx = Tx { cause, events };
        tx.instance(
            Query::InstanceIntendedStateBackfill,
            WriteOutcome::Applied,
            Some(before),
            Some(&after),
        );
        self.instances.insert(before.id, after);
    }

    fn live_instance(&self, id: InstanceId) -> Option<&InstanceRow> {
        self.instances.get(&id).filter(|r| r.time_deleted.is_none())
    }

    /// Runs one transaction at virtual time `now`, appending its write
    /// events to `events`.
    pub fn execute(&mut self, call: DbCall, now: Millis, events: &mut Vec<Event>) -> DbResponse {
        let mut tx = Tx {
            cause: &call.cause,
            events,
        };
        match call.request {
            DbRequest::InstanceInsert { row } => self.instance_insert(row, &mut tx),
            DbRequest::InstanceDeleteCreating { id } => {
                let applied = match self.instances.get(&id) {
                    Some(r) if r.runtime.nexus_state == InstanceState::Creating => {
                        let before = self.instances.remove(&id);
                        tx.instance(
                            Query::InstanceDeleteCreating,
                            WriteOutcome::Applied,
                            before.as_ref(),
                            None,
                        );
                        true
                    }
                    Some(r) => {
                        let r = r.clone();
                        tx.instance(
                            Query::InstanceDeleteCreating,
                            WriteOutcome::Conflict,
                            Some(&r),
                            Some(&r),
                        );
                        false
                    }
                    // Already gone: the undo is being replayed.
                    None => true,
                };
                DbResponse::Write(applied)
            }
            DbRequest::InstanceFetch { id } => {
                DbResponse::Instance(self.instances.get(&id).map(|r| self.with_vmm(r)))
            }
            DbRequest::InstanceFetchByName { name } => DbResponse::Instance(
                self.instances
                    .values()
                    .find(|r| r.name == name && r.time_deleted.is_none())
                    .map(|r| self.with_vmm(r)),
            ),
            DbRequest::InstanceSetIntendedState {
                id,
                intent,
                validated_at,
            } => self.instance_set_intended_state(id, intent, validated_at, &mut tx),
            DbRequest::InstanceUpdateRuntime {
                id,
                new,
                require_intent,
            } => self.instance_update_runtime(id, new, require_intent, &mut tx),
            DbRequest::InstanceUpdaterLock { id, lock } => {
                self.updater_cas(id, None, lock, Query::InstanceUpdaterLock, &mut tx)
            }
            DbRequest::InstanceUpdaterInheritLock { id, parent, child } => self.updater_cas(
                id,
                Some(parent),
                child,
                Query::InstanceUpdaterInheritLock,
                &mut tx,
            ),
            DbRequest::InstanceUpdaterUnlock { id, lock } => self.updater_unlock(id, lock, &mut tx),
            DbRequest::InstanceCommitUpdate {
                id,
                lock,
                new,
                new_intent,
            } => self.instance_commit_update(id, lock, new, new_intent, &mut tx),
            DbRequest::ProjectDeleteInstance { id } => {
                self.project_delete_instance(id, now, &mut tx)
            }
            DbRequest::VmmInsert { row } => {
                if let std::collections::btree_map::Entry::Vacant(e) = self.vmms.entry(row.id) {
                    tx.vmm(Query::VmmInsert, WriteOutcome::Applied, None, Some(&row));
                    e.insert(row);
                }
                DbResponse::Write(true)
            }
            DbRequest::VmmFetch { id } => DbResponse::Vmm(self.vmms.get(&id).cloned()),
            DbRequest::VmmUpdateRuntime {
                id,
                new,
                failure_reason,
            } => self.vmm_update_runtime(id, new, failure_reason, &mut tx),
            DbRequest::VmmMarkSagaUnwound { id } => {
                let Some(before) = self.vmms.get(&id).cloned() else {
                    return DbResponse::Write(false);
                };
                if before.runtime.state == VmmState::SagaUnwound || before.time_deleted.is_some() {
                    return DbResponse::Write(true);
                }
                let mut after = before.clone();
                after.runtime = VmmRuntime {
                    state: VmmState::SagaUnwound,
                    gen: before.runtime.gen.next(),
                };
                tx.vmm(
                    Query::VmmMarkSagaUnwound,
                    WriteOutcome::Applied,
                    Some(&before),
                    Some(&after),
                );
                self.vmms.insert(id, after);
                DbResponse::Write(true)
            }
            DbRequest::VmmMarkDeleted { id } => {
                let Some(before) = self.vmms.get(&id).cloned() else {
                    return DbResponse::Write(false);
                };
                if before.time_deleted.is_some() {
                    return DbResponse::Write(true);
                }
                let referenced = self
                    .instances
                    .values()
                    .any(|i| i.runtime.propolis_id == Some(id));
                if !before.runtime.state.is_destroyable() || referenced {
                    tx.vmm(
                        Query::VmmMarkDeleted,
                        WriteOutcome::Conflict,
                        Some(&before),
                        Some(&before),
                    );
                    return DbResponse::Write(false);
                }
                let mut after = before.clone();
                after.time_deleted = Some(now);
                tx.vmm(
                    Query::VmmMarkDeleted,
                    WriteOutcome::Applied,
                    Some(&before),
                    Some(&after),
                );
                self.vmms.insert(id, after);
                DbResponse::Write(true)
            }
            DbRequest::SledReservationCreate {
                vmm,
                instance,
                candidates,
                capacity,
            } => {
                if let Some(r) = self.reservations.get(&vmm) {
                    return DbResponse::Reservation(Some(r.sled_id));
                }
                let chosen = candidates.into_iter().find(|s| {
                    self.reservations
                        .values()
                        .filter(|r| r.sled_id == *s)
                        .count()
                        < capacity as usize
                });
                if let Some(sled_id) = chosen {
                    let row = ReservationRow {
                        vmm_id: vmm,
                        instance_id: instance,
                        sled_id,
                    };
                    tx.reservation(Query::SledReservationCreate, None, Some(&row));
                    self.reservations.insert(vmm, row);
                }
                DbResponse::Reservation(chosen)
            }
            DbRequest::SledReservationDelete { vmm } => {
                if let Some(before) = self.reservations.remove(&vmm) {
                    tx.reservation(Query::SledReservationDelete, Some(&before), None);
                }
                DbResponse::Write(true)
            }
            DbRequest::SagaCreate { row } => match self.sagas.get(&row.id) {
                Some(existing) => DbResponse::Sagas(vec![(
                    existing.clone(),
                    self.saga_events.get(&row.id).cloned().unwrap_or_default(),
                )]),
                None => {
                    self.sagas.insert(row.id, row);
                    DbResponse::Write(true)
                }
            },
            DbRequest::SagaNodeEvent { row } => {
                self.saga_events.entry(row.saga_id).or_default().push(row);
                DbResponse::Write(true)
            }
            DbRequest::SagaUpdateState { id, state } => match self.sagas.get_mut(&id) {
                Some(s) => {
                    s.state = state;
                    DbResponse::Write(true)
                }
                None => DbResponse::Write(false),
            },
            DbRequest::SagaListUnfinished { sec } => DbResponse::Sagas(self.unfinished_sagas(sec)),
            DbRequest::VmmListForWatcher => DbResponse::WatcherList(
                self.vmms
                    .values()
                    .filter(|v| v.time_deleted.is_none() && !v.runtime.state.is_nonexistent())
                    .filter_map(|v| {
                        self.instances
                            .get(&v.instance_id)
                            .map(|i| (v.clone(), i.clone()))
                    })
                    .collect(),
            ),
            DbRequest::FindReincarnatable {
                reason,
                require_intent_running,
                now,
                default_cooldown,
            } => DbResponse::Instances(self.find_reincarnatable(
                reason,
                require_intent_running,
                now,
                default_cooldown,
            )),
            DbRequest::FindInstancesNeedingUpdate => DbResponse::Instances(
                self.instances
                    .values()
                    .filter(|i| i.time_deleted.is_none() && i.updater_id.is_none())
                    .map(|i| self.with_vmm(i))
                    .filter(|iv| {
                        iv.vmm
                            .as_ref()
                            .is_some_and(|v| v.runtime.state.is_terminal())
                    })
                    .collect(),
            ),
            DbRequest::FindAbandonedVmms => DbResponse::Vmms(
                self.vmms
                    .values()
                    .filter(|v| v.time_deleted.is_none() && v.runtime.state.is_destroyable())
                    .filter(|v| {
                        !self
                            .instances
                            .values()
                            .any(|i| i.runtime.propolis_id == Some(v.id))
                    })
                    .cloned()
                    .collect(),
            ),
            DbRequest::FindIntentMismatches => self.find_intent_mismatches(),
        }
    }

    fn instance_insert(&mut self, row: InstanceRow, tx: &mut Tx) -> DbResponse {
        if self.instances.contains_key(&row.id) {
            // The create saga's node is being replayed.
            return DbResponse::Write(true);
        }
        if self
            .instances
            .values()
            .any(|r| r.name == row.name && r.time_deleted.is_none())
        {
            tx.instance(
                Query::InstanceInsert,
                WriteOutcome::Conflict,
                None,
                Some(&row),
            );
            return DbResponse::Write(false);
        }
        tx.instance(
            Query::InstanceInsert,
            WriteOutcome::Applied,
            None,
            Some(&row),
        );
        self.instances.insert(row.id, row);
        DbResponse::Write(true)
    }

    fn instance_set_intended_state(
        &mut self,
        id: InstanceId,
        intent: IntendedState,
        validated_at: Option<ValidatedAt>,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.live_instance(id).cloned() else {
            return DbResponse::Write(false);
        };
        let query = if validated_at.is_some() {
            Query::InstanceSetIntendedStateValidated
        } else {
            Query::InstanceSetIntendedState
        };
        if let Some(v) = validated_at {
            let vmm_now = before
                .runtime
                .propolis_id
                .and_then(|p| self.vmms.get(&p))
                .map(|vmm| (vmm.id, vmm.runtime.gen));
            if (before.runtime.gen != v.instance_gen || vmm_now != v.vmm)
                && !mutation::on(Mutation::DbIntentWriteUnvalidated)
            {
                let mut would = before.clone();
                would.intended_state = intent;
                tx.instance(query, WriteOutcome::Conflict, Some(&before), Some(&would));
                return DbResponse::Write(false);
            }
        }
        // A validated write is the request's acceptance: it is reported even
        // when the intent does not change.
        if before.intended_state == intent && validated_at.is_none() {
            return DbResponse::Write(true);
        }
        let mut after = before.clone();
        after.intended_state = intent;
        tx.instance(query, WriteOutcome::Applied, Some(&before), Some(&after));
        self.instances.insert(id, after);
        DbResponse::Write(true)
    }

    fn instance_update_runtime(
        &mut self,
        id: InstanceId,
        new: InstanceRuntime,
        require_intent: Option<IntendedState>,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.live_instance(id).cloned() else {
            return DbResponse::Write(false);
        };
        let mut after = before.clone();
        after.runtime = new;
        let outcome = if before.runtime.gen >= after.runtime.gen
            && !mutation::on(Mutation::DbInstanceGuardOff)
        {
            WriteOutcome::StaleGeneration
        } else if require_intent.is_some_and(|i| before.intended_state != i)
            || !check_constraint_holds(&after.runtime)
        {
            WriteOutcome::Conflict
        } else {
            WriteOutcome::Applied
        };
        tx.instance(
            Query::InstanceUpdateRuntime,
            outcome,
            Some(&before),
            Some(&after),
        );
        let applied = outcome == WriteOutcome::Applied;
        if applied {
            self.instances.insert(id, after);
        }
        DbResponse::Write(applied)
    }

    /// Takes the updater lock (`from == None`) or inherits it from `from`.
    /// Taking a lock already held by `to` succeeds: the node is replayed.
    fn updater_cas(
        &mut self,
        id: InstanceId,
        from: Option<LockId>,
        to: LockId,
        query: Query,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.live_instance(id).cloned() else {
            return DbResponse::Write(false);
        };
        if before.updater_id == Some(to) {
            return DbResponse::Write(true);
        }
        let mut after = before.clone();
        after.updater_id = Some(to);
        after.updater_gen = before.updater_gen.next();
        if before.updater_id != from && !mutation::on(Mutation::DbLockCasIgnoresHolder) {
            tx.instance(query, WriteOutcome::Conflict, Some(&before), Some(&after));
            return DbResponse::Write(false);
        }
        tx.instance(query, WriteOutcome::Applied, Some(&before), Some(&after));
        self.instances.insert(id, after);
        DbResponse::Write(true)
    }

    fn updater_unlock(&mut self, id: InstanceId, lock: LockId, tx: &mut Tx) -> DbResponse {
        let Some(before) = self.instances.get(&id).cloned() else {
            return DbResponse::Write(false);
        };
        if before.updater_id != Some(lock) {
            return DbResponse::Write(false);
        }
        let mut after = before.clone();
        after.updater_id = None;
        after.updater_gen = before.updater_gen.next();
        tx.instance(
            Query::InstanceUpdaterUnlock,
            WriteOutcome::Applied,
            Some(&before),
            Some(&after),
        );
        self.instances.insert(id, after);
        DbResponse::Write(true)
    }

    fn instance_commit_update(
        &mut self,
        id: InstanceId,
        lock: LockId,
        new: InstanceRuntime,
        new_intent: Option<IntendedState>,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.live_instance(id).cloned() else {
            return DbResponse::Write(false);
        };
        let mut after = before.clone();
        after.runtime = new;
        after.updater_id = None;
        after.updater_gen = before.updater_gen.next();
        if let Some(i) = new_intent {
            after.intended_state = i;
        }
        let outcome =
            if before.updater_id != Some(lock) && !mutation::on(Mutation::DbCommitIgnoresLock) {
                WriteOutcome::Conflict
            } else if before.runtime.gen >= after.runtime.gen {
                WriteOutcome::StaleGeneration
            } else if !check_constraint_holds(&after.runtime) {
                WriteOutcome::Conflict
            } else {
                WriteOutcome::Applied
            };
        tx.instance(
            Query::InstanceCommitUpdate,
            outcome,
            Some(&before),
            Some(&after),
        );
        let applied = outcome == WriteOutcome::Applied;
        if applied {
            self.instances.insert(id, after);
        }
        DbResponse::Write(applied)
    }

    fn project_delete_instance(&mut self, id: InstanceId, now: Millis, tx: &mut Tx) -> DbResponse {
        let Some(before) = self.instances.get(&id).cloned() else {
            return DbResponse::Write(false);
        };
        if before.runtime.nexus_state == InstanceState::Destroyed {
            // The saga's node is being replayed.
            return DbResponse::Write(true);
        }
        // `instance_mark_destroyed_and_detach_disks`
        // (`nexus/db-queries/src/db/datastore/instance.rs` ~L1469) sets only
        // the state and `time_deleted`: the generation and the state's
        // time stay as they were.
        let mut after = before.clone();
        after.runtime.nexus_state = InstanceState::Destroyed;
        after.time_deleted = Some(now);
        let allowed = (matches!(
            before.runtime.nexus_state,
            InstanceState::NoVmm | InstanceState::Failed
        ) && before.runtime.propolis_id.is_none())
            || mutation::on(Mutation::DbDeleteWithVmm);
        if !allowed {
            tx.instance(
                Query::ProjectDeleteInstance,
                WriteOutcome::Conflict,
                Some(&before),
                Some(&after),
            );
            return DbResponse::Write(false);
        }
        tx.instance(
            Query::ProjectDeleteInstance,
            WriteOutcome::Applied,
            Some(&before),
            Some(&after),
        );
        self.instances.insert(id, after);
        DbResponse::Write(true)
    }

    fn vmm_update_runtime(
        &mut self,
        id: VmmId,
        new: VmmRuntime,
        failure_reason: Option<VmmFailureReason>,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.vmms.get(&id).cloned() else {
            return DbResponse::Write(false);
        };
        let mut after = before.clone();
        after.runtime = new;
        if failure_reason.is_some() {
            after.failure_reason = failure_reason;
        }
        let outcome = if before.time_deleted.is_some() {
            WriteOutcome::NotFound
        } else if before.runtime.gen >= new.gen && !mutation::on(Mutation::DbVmmGuardOff) {
            WriteOutcome::StaleGeneration
        } else {
            WriteOutcome::Applied
        };
        tx.vmm(
            Query::VmmUpdateRuntime,
            outcome,
            Some(&before),
            Some(&after),
        );
        let applied = outcome == WriteOutcome::Applied;
        if applied {
            self.vmms.insert(id, after);
        }
        DbResponse::Write(applied)
    }

    fn unfinished_sagas(&self, sec: NexusId) -> Vec<(SagaRow, Vec<SagaNodeEventRow>)> {
        self.sagas
            .values()
            .filter(|s| s.current_sec == sec && !s.state.is_finished())
            .map(|s| {
                (
                    s.clone(),
                    self.saga_events.get(&s.id).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn find_reincarnatable(
        &self,
        reason: ReincarnationReason,
        require_intent_running: bool,
        now: Millis,
        default_cooldown: Millis,
    ) -> Vec<InstanceAndVmm> {
        self.instances
            .values()
            .filter(|i| {
                i.time_deleted.is_none()
                    && i.updater_id.is_none()
                    && (i.auto_restart_policy != Some(AutoRestartPolicy::Never)
                        || mutation::on(Mutation::DbReincarnateNeverPolicy))
                    && (!require_intent_running
                        || i.intended_state == IntendedState::Running
                        || mutation::on(Mutation::DbReincarnateIgnoresIntent))
                    && (mutation::on(Mutation::DbReincarnateIgnoresCooldown)
                        || match i.runtime.time_last_auto_restarted {
                            None => true,
                            Some(t) => {
                                now >= t + i.auto_restart_cooldown.unwrap_or(default_cooldown)
                            }
                        })
            })
            .map(|i| self.with_vmm(i))
            .filter(|iv| match reason {
                ReincarnationReason::Failed => {
                    iv.instance.runtime.nexus_state == InstanceState::Failed
                        && iv.instance.runtime.propolis_id.is_none()
                }
                ReincarnationReason::SagaUnwound => {
                    iv.instance.runtime.nexus_state == InstanceState::Vmm
                        && iv
                            .vmm
                            .as_ref()
                            .is_some_and(|v| v.runtime.state == VmmState::SagaUnwound)
                }
            })
            .collect()
    }

    fn find_intent_mismatches(&self) -> DbResponse {
        let in_flight = |id: InstanceId, name: SagaName| {
            self.sagas
                .values()
                .any(|s| s.instance_id == id && s.name == name && !s.state.is_finished())
        };
        let live = || self.instances.values().filter(|i| i.time_deleted.is_none());
        let to_start = live()
            .filter(|i| {
                i.runtime.nexus_state == InstanceState::NoVmm
                    && i.intended_state == IntendedState::Running
                    && !in_flight(i.id, SagaName::InstanceStart)
            })
            .cloned()
            .collect();
        let to_stop = live()
            .filter(|i| {
                matches!(
                    i.intended_state,
                    IntendedState::Stopped | IntendedState::Destroyed
                )
            })
            .map(|i| self.with_vmm(i))
            .filter(|iv| {
                iv.vmm.as_ref().is_some_and(|v| {
                    matches!(
                        v.runtime.state,
                        VmmState::Starting | VmmState::Running | VmmState::Rebooting
                    )
                })
            })
            .collect();
        let to_delete = live()
            .filter(|i| {
                i.intended_state == IntendedState::Destroyed
                    && matches!(
                        i.runtime.nexus_state,
                        InstanceState::NoVmm | InstanceState::Failed
                    )
                    && !in_flight(i.id, SagaName::InstanceDelete)
            })
            .cloned()
            .collect();
        let to_finish_create = live()
            .filter(|i| {
                i.runtime.nexus_state == InstanceState::Creating
                    && !in_flight(i.id, SagaName::InstanceCreate)
            })
            .cloned()
            .collect();
        DbResponse::IntentMismatches {
            to_start,
            to_stop,
            to_delete,
            to_finish_create,
        }
    }

    /// Whether any saga is still running or unwinding.
    pub fn sagas_in_flight(&self) -> bool {
        self.sagas
            .values()
            .any(|s| matches!(s.state, SagaState::Running | SagaState::Unwinding))
    }

    /// The node events a saga logged, for tests.
    pub fn saga_log(&self, id: SagaId) -> &[SagaNodeEventRow] {
        self.saga_events.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the saga's last node event was an undo failure.
    pub fn saga_stuck(&self, id: SagaId) -> bool {
        self.saga_log(id)
            .last()
            .is_some_and(|e| e.kind == NodeEventKind::UndoFailed)
    }

    /// The reservations on `sled`.
    pub fn reservations_on(&self, sled: SledId) -> usize {
        self.reservations
            .values()
            .filter(|r| r.sled_id == sled)
            .count()
    }
}
