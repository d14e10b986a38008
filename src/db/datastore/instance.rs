//! The `instance` table's queries (`nexus/db-queries/src/db/datastore/instance.rs`):
//! insert, the generation-guarded runtime write, the intent write with its
//! validation, the updater lock (`instance_updater_lock`, its inherit and
//! unlock), the update saga's commit, the delete, and the background tasks'
//! searches (`find_reincarnatable_instances`, instances needing an update,
//! the `fixed` reconciler's intent mismatches).

use super::{Db, Tx};
use crate::db::protocol::{DbResponse, InstanceAndVmm, ValidatedAt};
use crate::db::rows::{InstanceRow, InstanceRuntime, SagaName};
use crate::event::{Cause, Event, Query, ReincarnationReason, WriteOutcome};
use crate::ids::{InstanceId, LockId, Millis};
use crate::mutation::{self, Mutation};
use crate::states::{AutoRestartPolicy, InstanceState, IntendedState, VmmState};

/// omicron's CHECK constraint: `state = 'vmm'` exactly when an active VMM
/// is set. CockroachDB rejects a write that breaks it.
fn check_constraint_holds(r: &InstanceRuntime) -> bool {
    (r.nexus_state == InstanceState::Vmm) == r.propolis_id.is_some()
}

impl Db {
    /// Logs `query`'s write of `after` over `before` with `outcome`, and
    /// stores `after` only if the write applied. Answers whether it did.
    fn write_instance(
        &mut self,
        query: Query,
        outcome: WriteOutcome,
        before: &InstanceRow,
        after: InstanceRow,
        tx: &mut Tx,
    ) -> DbResponse {
        tx.instance(query, outcome, Some(before), Some(&after));
        let applied = outcome == WriteOutcome::Applied;
        if applied {
            self.instances.insert(after.id, after);
        }
        DbResponse::Write(applied)
    }

    /// A row not yet deleted (`time_deleted IS NULL`).
    fn live_instance(&self, id: InstanceId) -> Option<&InstanceRow> {
        self.instances.get(&id).filter(|r| r.time_deleted.is_none())
    }

    /// Writes `intent` on `before`'s row without a generation bump (a
    /// back-fill's `UPDATE`, which sets every row it matches), reporting
    /// the write.
    pub(in crate::db) fn backfill_intent(
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

    /// `instance_create`'s insert: a replay of the same row succeeds, a live
    /// instance with the same name conflicts.
    pub(super) fn instance_insert(&mut self, row: InstanceRow, tx: &mut Tx) -> DbResponse {
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

    /// The create saga's undo since #7437 (`sic_delete_instance_record`,
    /// `nexus/src/app/sagas/instance_create.rs`): deletes the record while
    /// it is `Creating`, `NoVmm` or `Failed` with no active VMM, as
    /// `project_delete_instance_in_states(&[NoVmm, Failed, Creating])` does
    /// (`nexus/db-queries/src/db/datastore/instance.rs`,
    /// `instance_mark_destroyed_and_detach_disks`). Not only `Creating`: a
    /// `MOVE_TO_STOPPED` whose write commits after its node failed leaves the
    /// record `NoVmm` (scenario `create-move-to-stopped-delivered-late`).
    /// Any other record is refused (`Conflict`); a replay after the delete
    /// succeeds.
    pub(super) fn instance_delete_creating(&mut self, id: InstanceId, tx: &mut Tx) -> DbResponse {
        let applied = match self.instances.get(&id) {
            // None of these states has an active VMM (the CHECK constraint:
            // `Vmm` iff `propolis_id` is set), so "with no active VMM" needs
            // no test of its own.
            Some(r)
                if matches!(
                    r.runtime.nexus_state,
                    InstanceState::Creating | InstanceState::NoVmm | InstanceState::Failed
                ) =>
            {
                debug_assert!(check_constraint_holds(&r.runtime));
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

    /// The live instance named `name`, with its active VMM.
    pub(super) fn instance_fetch_by_name(&self, name: &str) -> Option<InstanceAndVmm> {
        self.instances
            .values()
            .find(|r| r.name == name && r.time_deleted.is_none())
            .map(|r| self.with_vmm(r))
    }

    /// Writes the intent; with `validated_at`, only if the instance and its
    /// active VMM are still at the generations the request was validated at.
    pub(super) fn instance_set_intended_state(
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
                return self.write_instance(query, WriteOutcome::Conflict, &before, would, tx);
            }
        }
        // A validated write is the request's acceptance: it is reported even
        // when the intent does not change.
        if before.intended_state == intent && validated_at.is_none() {
            return DbResponse::Write(true);
        }
        let mut after = before.clone();
        after.intended_state = intent;
        self.write_instance(query, WriteOutcome::Applied, &before, after, tx)
    }

    /// `instance_update_runtime`: the generation guard (strictly newer
    /// wins), then `require_intent` and the CHECK constraint.
    pub(super) fn instance_update_runtime(
        &mut self,
        id: InstanceId,
        new: InstanceRuntime,
        require_intent: Option<IntendedState>,
        require_vmm_not_ended: bool,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.live_instance(id).cloned() else {
            return DbResponse::Write(false);
        };
        let vmm_ended = before
            .runtime
            .propolis_id
            .and_then(|v| self.vmms.get(&v))
            .is_some_and(|v| v.runtime.state.is_terminal());
        let mut after = before.clone();
        after.runtime = new;
        let outcome = if before.runtime.gen >= after.runtime.gen
            && !mutation::on(Mutation::DbInstanceGuardOff)
        {
            WriteOutcome::StaleGeneration
        } else if require_intent.is_some_and(|i| before.intended_state != i)
            || (require_vmm_not_ended && vmm_ended)
            || !check_constraint_holds(&after.runtime)
        {
            WriteOutcome::Conflict
        } else {
            WriteOutcome::Applied
        };
        self.write_instance(Query::InstanceUpdateRuntime, outcome, &before, after, tx)
    }

    /// Takes the updater lock (`from == None`) or inherits it from `from`.
    /// Taking a lock already held by `to` succeeds: the node is replayed.
    pub(super) fn updater_cas(
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
        let outcome =
            if before.updater_id != from && !mutation::on(Mutation::DbLockCasIgnoresHolder) {
                WriteOutcome::Conflict
            } else {
                WriteOutcome::Applied
            };
        self.write_instance(query, outcome, &before, after, tx)
    }

    /// `instance_updater_unlock`: releases the lock only if `lock` holds it.
    pub(super) fn updater_unlock(
        &mut self,
        id: InstanceId,
        lock: LockId,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.instances.get(&id).cloned() else {
            return DbResponse::Write(false);
        };
        if before.updater_id != Some(lock) {
            return DbResponse::Write(false);
        }
        let mut after = before.clone();
        after.updater_id = None;
        after.updater_gen = before.updater_gen.next();
        self.write_instance(
            Query::InstanceUpdaterUnlock,
            WriteOutcome::Applied,
            &before,
            after,
            tx,
        )
    }

    /// `instance_commit_update`: the update saga's runtime (and intent)
    /// write and unlock in one, if it holds the lock and the generation is
    /// newer.
    pub(super) fn instance_commit_update(
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
        self.write_instance(Query::InstanceCommitUpdate, outcome, &before, after, tx)
    }

    /// `project_delete_instance`: marks a stopped or failed instance with no
    /// active VMM Destroyed and deleted; with `require_intent` (fixed
    /// branch 7), only while the intent is still that.
    pub(super) fn project_delete_instance(
        &mut self,
        id: InstanceId,
        require_intent: Option<IntendedState>,
        now: Millis,
        tx: &mut Tx,
    ) -> DbResponse {
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
        ) && before.runtime.propolis_id.is_none()
            && require_intent.is_none_or(|i| before.intended_state == i))
            || mutation::on(Mutation::DbDeleteWithVmm);
        let outcome = if allowed {
            WriteOutcome::Applied
        } else {
            WriteOutcome::Conflict
        };
        self.write_instance(Query::ProjectDeleteInstance, outcome, &before, after, tx)
    }

    /// `find_reincarnatable_instances`: live, unlocked instances whose
    /// policy and cooldown allow a restart, Failed or with a SagaUnwound
    /// active VMM as `reason` says.
    pub(super) fn find_reincarnatable(
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

    /// The instance updater's search: live, unlocked instances whose active
    /// VMM is in a terminal state.
    pub(super) fn find_instances_needing_update(&self) -> Vec<InstanceAndVmm> {
        self.instances
            .values()
            .filter(|i| i.time_deleted.is_none() && i.updater_id.is_none())
            .map(|i| self.with_vmm(i))
            .filter(|iv| {
                iv.vmm
                    .as_ref()
                    .is_some_and(|v| v.runtime.state.is_terminal())
            })
            .collect()
    }

    /// The `fixed` reconciler's search: instances to start, stop, delete or
    /// finish creating because their intent says so and no saga is on it.
    pub(super) fn find_intent_mismatches(&self) -> DbResponse {
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
}
