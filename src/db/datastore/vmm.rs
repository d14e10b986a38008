//! The `vmm` table's queries (`nexus/db-queries/src/db/datastore/vmm.rs`):
//! insert, the generation-guarded runtime write (`vmm_update_runtime`),
//! `vmm_mark_saga_unwound`, `vmm_mark_deleted`, the watcher's list and
//! `vmm_list_abandoned`.

use super::{Db, Tx};
use crate::db::protocol::DbResponse;
use crate::db::rows::{InstanceRow, VmmRow, VmmRuntime};
use crate::event::{Query, WriteOutcome};
use crate::ids::{Millis, VmmId};
use crate::mutation::{self, Mutation};
use crate::states::{VmmFailureReason, VmmState};

impl Db {
    /// `vmm_insert`: idempotent (a replayed node inserts the same row).
    pub(super) fn vmm_insert(&mut self, row: VmmRow, tx: &mut Tx) -> DbResponse {
        if let std::collections::btree_map::Entry::Vacant(e) = self.vmms.entry(row.id) {
            tx.vmm(Query::VmmInsert, WriteOutcome::Applied, None, Some(&row));
            e.insert(row);
        }
        DbResponse::Write(true)
    }

    /// `vmm_update_runtime`: a strictly newer generation wins; a deleted
    /// VMM is not found.
    pub(super) fn vmm_update_runtime(
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

    /// `vmm_mark_saga_unwound`: the start saga's undo; idempotent.
    /// With `keep_ended` (branch 14) a Destroyed or Failed record is left
    /// as it is: its end is a fact the update saga records.
    pub(super) fn vmm_mark_saga_unwound(
        &mut self,
        id: VmmId,
        keep_ended: bool,
        tx: &mut Tx,
    ) -> DbResponse {
        let Some(before) = self.vmms.get(&id).cloned() else {
            return DbResponse::Write(false);
        };
        if before.runtime.state == VmmState::SagaUnwound || before.time_deleted.is_some() {
            return DbResponse::Write(true);
        }
        if keep_ended && before.runtime.state.is_terminal() {
            tx.vmm(
                Query::VmmMarkSagaUnwound,
                WriteOutcome::Conflict,
                Some(&before),
                Some(&before),
            );
            return DbResponse::Write(false);
        }
        let mut after = before.clone();
        after.runtime = VmmRuntime {
            state: VmmState::SagaUnwound,
            gen: before.runtime.gen.next(),
            stop_requested: false,
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

    /// `vmm_mark_deleted`: only a destroyable VMM no instance points at;
    /// idempotent.
    pub(super) fn vmm_mark_deleted(&mut self, id: VmmId, now: Millis, tx: &mut Tx) -> DbResponse {
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

    /// The watcher's list: every VMM that exists on a sled, with its
    /// instance.
    pub(super) fn vmm_list_for_watcher(&self) -> Vec<(VmmRow, InstanceRow)> {
        self.vmms
            .values()
            .filter(|v| v.time_deleted.is_none() && !v.runtime.state.is_nonexistent())
            .filter_map(|v| {
                self.instances
                    .get(&v.instance_id)
                    .map(|i| (v.clone(), i.clone()))
            })
            .collect()
    }

    /// `vmm_list_abandoned`: destroyable VMMs no instance points at.
    pub(super) fn find_abandoned_vmms(&self) -> Vec<VmmRow> {
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
            .collect()
    }
}
