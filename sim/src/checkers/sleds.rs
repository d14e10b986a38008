//! What each sled agent's VMM table holds, as the stream tells it: the
//! checkers that ask "is a VMM of this instance present on a sled" read the
//! sleds' own reports, not the db (the db is Nexus's belief, and the point
//! of several checkers is to catch the two disagreeing).
//!
//! A VMM enters or changes with `VmmOnSled` and leaves with `VmmGone`. A
//! sled whose host restarts (a crash or restart fault, or the sled agent
//! announcing `HostStarted`) has lost every VMM, as omicron's sled agent
//! does at start-up (its Propolis zones are halted and deleted). A lost sled
//! is powered off for good: nothing on it counts as present.

use super::history::Seq;
use crate::record::{Fault, Record, RecordKind};
use model::event::{Event, WriteOutcome};
use model::ids::{HostId, InstanceId, SledId, VmmId};
use model::states::{Generation, VmmState};
use std::collections::{BTreeMap, BTreeSet};

/// One VMM in a sled agent's table.
#[derive(Clone, Debug)]
pub struct OnSled {
    pub instance: InstanceId,
    pub state: VmmState,
    pub gen: Generation,
    /// The record of its latest state.
    pub line: Seq,
}

/// The design's "present" states: a VMM in one of these occupies its sled
/// and may be running the guest.
pub fn is_present_state(s: VmmState) -> bool {
    matches!(
        s,
        VmmState::Starting | VmmState::Running | VmmState::Rebooting | VmmState::Stopping
    )
}

#[derive(Clone, Debug, Default)]
pub struct SledTables {
    tables: BTreeMap<SledId, BTreeMap<VmmId, OnSled>>,
    lost: BTreeSet<SledId>,
    /// VMMs Nexus gave up on: their db record ended (Failed, Destroyed or
    /// deleted), or their sled answered NO_SUCH_INSTANCE for them.
    given_up: BTreeSet<VmmId>,
    /// VMMs whose record an unwinding start saga marked SagaUnwound.
    unwound: BTreeSet<VmmId>,
    /// VMMs a sled registered after Nexus gave up on them: a start saga
    /// (resumed after a Nexus crash, or simply slower than a user's stop
    /// that reached the sled first) runs ENSURE_REGISTERED even though the
    /// stop found no such VMM and ended its record (omicron's
    /// sis_ensure_registered checks nothing before registering).
    registered_after_given_up: BTreeSet<VmmId>,
    /// Sleds whose agent is restarting while their VMMs run on
    /// (`sled_agent_restart_keeps_vmms`): the next start keeps the table.
    agent_restarting: BTreeSet<SledId>,
}

impl SledTables {
    pub fn new() -> SledTables {
        SledTables::default()
    }

    /// Follows record `rec`, number `seq` in the stream.
    pub fn observe(&mut self, rec: &Record, seq: Seq) {
        match &rec.kind {
            RecordKind::Model(Event::VmmOnSled {
                sled,
                vmm,
                instance,
                state,
                gen,
            }) => {
                let registration = self.tables.get(sled).is_none_or(|t| !t.contains_key(vmm));
                if registration && self.given_up.contains(vmm) {
                    self.registered_after_given_up.insert(*vmm);
                }
                self.tables.entry(*sled).or_default().insert(
                    *vmm,
                    OnSled {
                        instance: *instance,
                        state: *state,
                        gen: *gen,
                        line: seq,
                    },
                );
            }
            RecordKind::Model(Event::VmmWrite {
                outcome: WriteOutcome::Applied,
                after: Some(row),
                ..
            }) => {
                if row.runtime.state == VmmState::SagaUnwound {
                    self.unwound.insert(row.id);
                } else if row.time_deleted.is_some() || row.runtime.state.is_terminal() {
                    self.given_up.insert(row.id);
                }
            }
            RecordKind::Model(Event::SledPutState {
                vmm,
                accepted: false,
                ..
            }) => {
                self.given_up.insert(*vmm);
            }
            RecordKind::Model(Event::VmmGone { sled, vmm, .. }) => {
                if let Some(t) = self.tables.get_mut(sled) {
                    t.remove(vmm);
                }
            }
            // A sled agent that starts has an empty table; a lost sled that
            // starts again had its power restored.
            // A sled agent restarted without the start-up cleanup: its
            // Propolis zones, and so its VMMs, are still there.
            RecordKind::Model(Event::HostStarted) => {
                if let HostId::Sled(s) = rec.host {
                    if !self.agent_restarting.remove(&s) {
                        self.empty(s);
                    }
                    self.lost.remove(&s);
                }
            }
            RecordKind::Fault(Fault::SledAgentRestartKeepsVmms { sled: s }) => {
                self.agent_restarting.insert(*s);
            }
            RecordKind::Fault(Fault::Crash {
                host: HostId::Sled(s),
            })
            | RecordKind::Fault(Fault::Restart {
                host: HostId::Sled(s),
            }) => {
                self.empty(*s);
            }
            RecordKind::Fault(Fault::LoseSled { sled: s }) => {
                self.empty(*s);
                self.lost.insert(*s);
            }
            _ => {}
        }
    }

    /// How omicron itself leaves `vmm` on a sled with no record standing
    /// for it, if it does (both are on the known-upstream list):
    /// - a start saga whose ENSURE_REGISTERED undo could not reach the sled
    ///   counts the VMM as unregistered and marks its row SagaUnwound
    ///   (`sis_ensure_registered_undo`);
    /// - a start saga registers its VMM after Nexus gave up on it (a user's
    ///   stop that reached the sled first found no such VMM and ended its
    ///   record, or the saga resumed after a Nexus crash):
    ///   `sis_ensure_registered` checks nothing first.
    ///
    /// Checkers name these in their mechanisms so the list can excuse them
    /// without excusing a VMM left behind any other way.
    pub fn upstream_leak(&self, vmm: VmmId) -> Option<&'static str> {
        if self.unwound.contains(&vmm) {
            Some("left by an unwound start saga")
        } else if self.registered_after_given_up.contains(&vmm) {
            Some("registered after Nexus gave up on it")
        } else {
            None
        }
    }

    fn empty(&mut self, sled: SledId) {
        self.tables.remove(&sled);
    }

    pub fn is_lost(&self, sled: SledId) -> bool {
        self.lost.contains(&sled)
    }

    /// The VMMs of `instance` in a present state on sleds not lost.
    pub fn present_of(&self, instance: InstanceId) -> Vec<(SledId, VmmId, &OnSled)> {
        self.all()
            .filter(|(_, _, v)| v.instance == instance && is_present_state(v.state))
            .collect()
    }

    /// Every VMM in every table of a sled not lost, whatever its state.
    pub fn all(&self) -> impl Iterator<Item = (SledId, VmmId, &OnSled)> {
        self.tables
            .iter()
            .filter(|(s, _)| !self.lost.contains(s))
            .flat_map(|(s, t)| t.iter().map(move |(v, o)| (*s, *v, o)))
    }

    /// The VMM `vmm` on `sled`, if that sled's table holds it.
    pub fn get(&self, sled: SledId, vmm: VmmId) -> Option<&OnSled> {
        if self.lost.contains(&sled) {
            return None;
        }
        self.tables.get(&sled).and_then(|t| t.get(&vmm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;

    #[test]
    fn a_sled_restart_or_loss_empties_its_table() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let mut t = SledTables::new();
        for (i, r) in s.records.iter().enumerate() {
            t.observe(r, i as Seq);
        }
        assert_eq!(t.present_of(id).len(), 1);
        s.fault(Fault::Restart {
            host: HostId::Sled(SledId(0)),
        });
        let mut t2 = SledTables::new();
        for (i, r) in s.records.iter().enumerate() {
            t2.observe(r, i as Seq);
        }
        assert!(t2.present_of(id).is_empty());

        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.fault(Fault::LoseSled { sled: SledId(0) });
        let mut t3 = SledTables::new();
        for (i, r) in s.records.iter().enumerate() {
            t3.observe(r, i as Seq);
        }
        assert!(t3.present_of(id).is_empty());
        assert!(t3.is_lost(SledId(0)));
    }
}
