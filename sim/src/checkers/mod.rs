//! The invariant checkers (design section 3). Each is a state machine over
//! the event stream, in its own module; checkers observe and never steer.
//! Safety checkers judge every record as it comes; liveness checkers judge
//! once, at the end, with the db's final rows.

use crate::record::Record;
use model::db::Db;
use model::ids::{InstanceId, Millis, SledId};
use std::collections::BTreeSet;

/// What the liveness checkers may read at the end of a run, besides the
/// records they observed.
pub struct FinalState<'a> {
    pub db: &'a Db,
    /// Sleds that are up at the end (not crashed, not lost).
    pub sleds_up: BTreeSet<SledId>,
    /// Sleds powered off for good.
    pub sleds_lost: BTreeSet<SledId>,
    /// The sled capacity (VMMs per sled), to tell whether an up sled has
    /// room for an instance.
    pub sled_capacity: u8,
    /// When the run ended.
    pub at: Millis,
}

/// A broken invariant, with the records that prove it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    /// The checker's name, as in design section 3.
    pub checker: &'static str,
    /// The mechanism: a short, stable phrase that groups violations of the
    /// same cause across seeds (the signature is `checker/mechanism`).
    pub mechanism: String,
    pub instance: Option<InstanceId>,
    pub at: Millis,
    /// What went wrong, in a sentence.
    pub message: String,
    /// The trace lines that prove it.
    pub evidence: Vec<String>,
}

impl Violation {
    pub fn signature(&self) -> String {
        format!("{}/{}", self.checker, self.mechanism)
    }
}

/// An invariant checker.
pub trait Checker {
    /// The checker's name (`no_unintended_restart`, ...).
    fn name(&self) -> &'static str;
    /// Sees every record, in order; reports safety violations at once.
    fn observe(&mut self, record: &Record, out: &mut Vec<Violation>);
    /// Judges the end state (liveness checkers); safety checkers do nothing.
    fn finish(&mut self, _end: &FinalState<'_>, _out: &mut Vec<Violation>) {}
}

/// TEMPORARY until the checkers land.
pub fn all(_default_cooldown_ms: u64) -> Vec<Box<dyn Checker>> {
    Vec::new()
}
