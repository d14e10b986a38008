//! Where each sled reservation came from, for the leak checkers
//! (`resources_released`, `delete_honored`): the start saga whose
//! `ALLOC_SERVER` made it, and how far that node got.
//!
//! A reservation for a VMM that has no record is on the known-upstream list
//! for one causal chain only (issue 8: every entry needs its mechanism's
//! chain): `ALLOC_SERVER`'s `sled_reservation_create` committed but its
//! answer was lost, so the node failed, and steno never undoes a failed
//! node (nexus/src/app/sagas/instance_start.rs `sis_alloc_server`;
//! saga_recovery.rs's module doc). A reservation whose `ALLOC_SERVER` was
//! logged done is the node's own undo's to release
//! (`sis_alloc_server_undo`), so one left behind is not that chain.

use crate::record::{Record, RecordKind};
use model::event::{Cause, Event, NodeStep, Query, WriteOutcome};
use model::ids::{SagaId, VmmId};
use std::collections::{BTreeMap, BTreeSet};

/// The node that makes a start saga's reservation.
const ALLOC_SERVER: &str = "ALLOC_SERVER";

/// How a reservation with no VMM record came to be left, as far as the
/// history shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UnrecordedLeak {
    /// Its `ALLOC_SERVER` never logged done: the failed node's commit
    /// (the known-upstream chain), or no saga made it that the history
    /// shows.
    AllocServerFailed,
    /// Its `ALLOC_SERVER` logged done and its undo ran: the undo kept it.
    KeptByUndo,
    /// Its `ALLOC_SERVER` logged done and was never undone.
    AllocServerDone,
}

impl UnrecordedLeak {
    /// The mechanism's words after "reservation" (the known-upstream list
    /// names the first).
    pub fn words(self) -> &'static str {
        match self {
            UnrecordedLeak::AllocServerFailed => "for a VMM that has no record",
            UnrecordedLeak::KeptByUndo => "kept by ALLOC_SERVER's undo",
            UnrecordedLeak::AllocServerDone => {
                "for a VMM that has no record, its ALLOC_SERVER done"
            }
        }
    }
}

/// The reservations' origins, as the records show them (the View keeps
/// one).
#[derive(Clone, Debug, Default)]
pub struct ReservationOrigins {
    /// The saga whose ALLOC_SERVER made each VMM's reservation.
    made_by: BTreeMap<VmmId, SagaId>,
    /// Sagas whose ALLOC_SERVER logged done, and those whose undo of it
    /// logged done.
    done: BTreeSet<SagaId>,
    undone: BTreeSet<SagaId>,
}

impl ReservationOrigins {
    /// Follows one record: an applied `ALLOC_SERVER` reservation, or that
    /// node's log entries.
    pub fn observe(&mut self, rec: &Record) {
        let RecordKind::Model(e) = &rec.kind else {
            return;
        };
        match e {
            Event::ReservationWrite {
                query: Query::SledReservationCreate,
                cause: Cause::Saga { saga, node, .. },
                outcome: WriteOutcome::Applied,
                after: Some(r),
                ..
            } if node == ALLOC_SERVER => {
                self.made_by.entry(r.vmm_id).or_insert(*saga);
            }
            Event::SagaNode {
                saga, node, step, ..
            } if node == ALLOC_SERVER => match step {
                NodeStep::Done => {
                    self.done.insert(*saga);
                }
                NodeStep::Undone => {
                    self.undone.insert(*saga);
                }
                NodeStep::Failed(_) | NodeStep::UndoFailed(_) => {}
            },
            _ => {}
        }
    }

    /// How the reservation for `vmm`, which has no VMM record, was left.
    pub fn unrecorded(&self, vmm: VmmId) -> UnrecordedLeak {
        match self.made_by.get(&vmm) {
            Some(saga) if self.undone.contains(saga) => UnrecordedLeak::KeptByUndo,
            Some(saga) if self.done.contains(saga) => UnrecordedLeak::AllocServerDone,
            Some(_) | None => UnrecordedLeak::AllocServerFailed,
        }
    }
}
