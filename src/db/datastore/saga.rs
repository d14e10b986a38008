//! The `saga` and `saga_node_event` tables' queries
//! (`nexus/db-queries/src/db/datastore/saga.rs`): `saga_create`,
//! `saga_create_event`, `saga_update_state`, and recovery's list of a
//! Nexus's unfinished sagas with their logs.

use super::Db;
use crate::db::protocol::DbResponse;
use crate::db::rows::{NodeEventKind, SagaNodeEventRow, SagaRow, SagaState};
use crate::ids::{NexusId, SagaId};

impl Db {
    /// `saga_create`: idempotent; a saga already there is answered with its
    /// row and log, so the caller resumes it.
    pub(super) fn saga_create(&mut self, row: SagaRow) -> DbResponse {
        match self.sagas.get(&row.id) {
            Some(existing) => DbResponse::Sagas(vec![(
                existing.clone(),
                self.saga_events.get(&row.id).cloned().unwrap_or_default(),
            )]),
            None => {
                self.sagas.insert(row.id, row);
                DbResponse::Write(true)
            }
        }
    }

    /// `saga_create_event`: appends one node event to the saga's log.
    pub(super) fn saga_create_event(&mut self, row: SagaNodeEventRow) -> DbResponse {
        self.saga_events.entry(row.saga_id).or_default().push(row);
        DbResponse::Write(true)
    }

    /// `saga_update_state`.
    pub(super) fn saga_update_state(&mut self, id: SagaId, state: SagaState) -> DbResponse {
        match self.sagas.get_mut(&id) {
            Some(s) => {
                s.state = state;
                DbResponse::Write(true)
            }
            None => DbResponse::Write(false),
        }
    }

    /// The unfinished sagas `sec` owns, each with its log (saga recovery).
    pub(super) fn unfinished_sagas(&self, sec: NexusId) -> Vec<(SagaRow, Vec<SagaNodeEventRow>)> {
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
}
