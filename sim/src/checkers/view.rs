//! The one history of a run that every checker reads (issue 8, item 1).
//!
//! The recorder feeds each record to one [`View`], once, before it shows
//! the record to the checkers: the requests with their send, acceptance
//! and completion stamps and outcomes, the name <-> id map, the latest
//! applied rows, every saga and what it selected, each sled agent's
//! VMM table, and which start saga made each reservation. Checkers read it and never update it, so they cannot
//! disagree about what happened, and none keeps a copy of its own.
//! Evidence is record sequence numbers ([`Seq`]), rendered once by the
//! report with the run's names.

use super::history::Seq;
use super::requests::RequestTracker;
use super::reservations::ReservationOrigins;
use super::sleds::SledTables;
use crate::record::Record;

/// The run so far, as of the record last observed (the one a checker is
/// being shown).
#[derive(Debug, Default)]
pub struct View {
    requests: RequestTracker,
    sleds: SledTables,
    reservations: ReservationOrigins,
}

impl View {
    pub fn new() -> View {
        View::default()
    }

    /// Follows one record; the recorder calls it once per record, in
    /// stream order.
    pub fn observe(&mut self, rec: &Record) {
        self.requests.observe(rec);
        let seq = self.requests.now().seq;
        self.sleds.observe(rec, seq);
        self.reservations.observe(rec);
    }

    /// Requests, names, rows and sagas (the design's "requests and their
    /// order" rules).
    pub fn requests(&self) -> &RequestTracker {
        &self.requests
    }

    /// What each sled agent's VMM table holds, as the sleds reported it.
    pub fn sleds(&self) -> &SledTables {
        &self.sleds
    }

    /// Which start saga's `ALLOC_SERVER` made each reservation, and how
    /// far that node got.
    pub fn reservations(&self) -> &ReservationOrigins {
        &self.reservations
    }

    /// The sequence number of the record last observed.
    pub fn seq(&self) -> Seq {
        self.requests.now().seq
    }
}
