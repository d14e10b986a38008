//! `generation_monotonic` (safety): applied writes never move an instance
//! or VMM generation back; each state change a sled agent makes carries a
//! strictly greater generation; and a sled agent never reports one (VMM,
//! generation) with two different states (re-reporting the same pair is
//! fine).
//!
//! Generations are what make omicron's concurrent writers safe: every
//! runtime write is "newer than what is stored, or dropped". If a write
//! lands with an older generation, or a sled agent reuses a generation for
//! a different state, a stale writer can overwrite a newer truth and the
//! whole scheme is void. Dropped writes are the scheme working and are
//! never judged.

use super::history::Seq;
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Fault, Record, RecordKind};
use model::event::{Event, Query, WriteOutcome};
use model::ids::{HostId, InstanceId, SledId, VmmId};
use model::states::{Generation, VmmState};
use std::collections::{BTreeMap, BTreeSet};

pub const NAME: &str = "generation_monotonic";

#[derive(Debug, Default)]
pub struct GenerationMonotonic {
    /// The last applied generation of each row, with the write's line.
    instances: BTreeMap<InstanceId, (Generation, Seq)>,
    vmms: BTreeMap<VmmId, (Generation, Seq)>,
    /// Every (VMM, generation) each sled agent reported, with its state.
    /// Keyed by sled and forgotten when that sled agent restarts: the new
    /// process has no memory of the old one's reports, and omicron's
    /// re-registration continues from the generation Nexus stored, which
    /// may repeat one the old process reported but never delivered. The
    /// db's generation guard keeps that harmless.
    reported: BTreeMap<(SledId, VmmId, Generation), (VmmState, Seq)>,
    /// Each VMM's newest report, per sled, forgotten the same way.
    newest: BTreeMap<(SledId, VmmId), (Generation, VmmState, Seq)>,
    /// VMMs that left a sled's table. One that a sled reports again was
    /// registered again (a replayed ENSURE_REGISTERED): its reports repeat
    /// generations, and get their own signature.
    left: BTreeSet<(SledId, VmmId)>,
}

impl GenerationMonotonic {
    pub fn new() -> GenerationMonotonic {
        GenerationMonotonic::default()
    }
}

fn violation(
    record: &Record,
    mechanism: String,
    instance: Option<InstanceId>,
    message: String,
    earlier: Seq,
    seq: Seq,
) -> Violation {
    Violation {
        checker: NAME,
        mechanism,
        instance,
        at: record.at,
        message,
        evidence: vec![earlier, seq],
    }
}

/// The highest generation an applied write must not go below, with the
/// line that showed it: the row's own before the write, or the last applied
/// write's, whichever is higher.
fn high_water(
    before: Option<Generation>,
    line: Seq,
    last: Option<&(Generation, Seq)>,
) -> Option<(Generation, Seq)> {
    let mut high = before.map(|g| (g, line));
    if let Some((g, l)) = last {
        if high.as_ref().is_none_or(|(h, _)| g > h) {
            high = Some((*g, *l));
        }
    }
    high
}

/// Whether a write's only guard is the generation ("newer than what is
/// stored, or dropped"), so a state change it makes must carry a newer
/// one. `ProjectDeleteInstance` is guarded by the state instead:
/// `instance_mark_destroyed_and_detach_disks`
/// (nexus/db-queries/src/db/datastore/instance.rs) sets the state and
/// `time_deleted` and leaves the generation, and `destroyed_is_final`
/// judges what follows it.
fn generation_guarded(query: Query) -> bool {
    match query {
        Query::InstanceUpdateRuntime
        | Query::InstanceCommitUpdate
        | Query::VmmUpdateRuntime
        | Query::VmmMarkSagaUnwound => true,
        Query::InstanceInsert
        | Query::InstanceDeleteCreating
        | Query::InstanceSetIntendedState
        | Query::InstanceSetIntendedStateValidated
        | Query::InstanceUpdaterLock
        | Query::InstanceUpdaterInheritLock
        | Query::InstanceUpdaterUnlock
        | Query::ProjectDeleteInstance
        | Query::VmmInsert
        | Query::VmmMarkDeleted
        | Query::SledReservationCreate
        | Query::SledReservationDelete
        | Query::InstanceIntendedStateBackfill => false,
    }
}

impl Checker for GenerationMonotonic {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, out: &mut Vec<Violation>) {
        let restarted = match &record.kind {
            RecordKind::Model(Event::HostStarted) => match record.host {
                HostId::Sled(s) => Some(s),
                _ => None,
            },
            RecordKind::Fault(Fault::Crash {
                host: HostId::Sled(s),
            })
            | RecordKind::Fault(Fault::Restart {
                host: HostId::Sled(s),
            }) => Some(*s),
            _ => None,
        };
        if let Some(s) = restarted {
            self.reported.retain(|(sled, _, _), _| *sled != s);
            self.newest.retain(|(sled, _), _| *sled != s);
            return;
        }
        let RecordKind::Model(e) = &record.kind else {
            return;
        };
        let line = view.seq();
        match e {
            Event::InstanceWrite {
                query,
                outcome: WriteOutcome::Applied,
                before,
                after: Some(after),
                ..
            } => {
                let id = after.id;
                let was = before.as_ref().map(|b| b.runtime.nexus_state);
                let changed = before.as_ref().is_some_and(|b| {
                    (b.runtime.nexus_state, b.runtime.propolis_id)
                        != (after.runtime.nexus_state, after.runtime.propolis_id)
                });
                let before = before.as_ref().map(|b| b.runtime.gen);
                if let Some((g, l)) = high_water(before, line, self.instances.get(&id)) {
                    if after.runtime.gen == g && changed && generation_guarded(*query) {
                        out.push(violation(
                            record,
                            format!("instance state overwritten at an equal generation by {query:?}"),
                            Some(id),
                            format!(
                                "{query:?} changed the state of {id} ({} -> {}) without a newer generation ({g})",
                                was.map(|w| w.to_string()).unwrap_or_default(),
                                after.runtime.nexus_state
                            ),
                            l,
                            line,
                        ));
                    } else if after.runtime.gen < g {
                        out.push(violation(
                            record,
                            format!("instance generation moved back by {query:?}"),
                            Some(id),
                            format!(
                                "{query:?} moved {id} from generation {g} back to {}",
                                after.runtime.gen
                            ),
                            l,
                            line,
                        ));
                    }
                }
                self.instances.insert(id, (after.runtime.gen, line));
            }
            Event::VmmWrite {
                query,
                outcome: WriteOutcome::Applied,
                before,
                after: Some(after),
                ..
            } => {
                let id = after.id;
                let was = before.as_ref().map(|b| b.runtime.state);
                let changed = was.is_some_and(|w| w != after.runtime.state);
                let before = before.as_ref().map(|b| b.runtime.gen);
                if let Some((g, l)) = high_water(before, line, self.vmms.get(&id)) {
                    if after.runtime.gen == g && changed && generation_guarded(*query) {
                        out.push(violation(
                            record,
                            format!("vmm state overwritten at an equal generation by {query:?}"),
                            Some(after.instance_id),
                            format!(
                                "{query:?} changed VMM {id} from {} to {} without a newer generation ({g})",
                                was.map(|w| w.to_string()).unwrap_or_default(),
                                after.runtime.state
                            ),
                            l,
                            line,
                        ));
                    } else if after.runtime.gen < g {
                        out.push(violation(
                            record,
                            format!("vmm generation moved back by {query:?}"),
                            Some(after.instance_id),
                            format!(
                                "{query:?} moved VMM {id} from generation {g} back to {}",
                                after.runtime.gen
                            ),
                            l,
                            line,
                        ));
                    }
                }
                self.vmms.insert(id, (after.runtime.gen, line));
            }
            Event::VmmGone { sled, vmm, .. } => {
                self.left.insert((*sled, *vmm));
            }
            Event::VmmOnSled {
                sled,
                vmm,
                instance,
                state,
                gen,
            } => {
                let reregistered = self.left.contains(&(*sled, *vmm));
                if let Some((s, l)) = self.reported.get(&(*sled, *vmm, *gen)) {
                    if s != state {
                        out.push(violation(
                            record,
                            if reregistered {
                                "VMM re-registered after it left its sled".to_string()
                            } else {
                                "sled reported one generation with two states".to_string()
                            },
                            Some(*instance),
                            format!("{sled} reported VMM {vmm} {gen} as {s} and then as {state}"),
                            *l,
                            line,
                        ));
                    }
                    // Re-reporting a pair already seen is fine.
                    return;
                }
                if let Some((g, s, l)) = self.newest.get(&(*sled, *vmm)) {
                    if gen <= g {
                        out.push(violation(
                            record,
                            "sled state change without a newer generation".to_string(),
                            Some(*instance),
                            format!(
                                "{sled} changed VMM {vmm} from {s} {g} to {state} {gen}, not a newer generation"
                            ),
                            *l,
                            line,
                        ));
                    }
                }
                self.reported.insert((*sled, *vmm, *gen), (*state, line));
                if self
                    .newest
                    .get(&(*sled, *vmm))
                    .is_none_or(|(g, _, _)| gen > g)
                {
                    self.newest.insert((*sled, *vmm), (*gen, *state, line));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::db::protocol::DbRequest;
    use model::db::rows::InstanceRow;
    use model::event::{Cause, Query};

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut GenerationMonotonic::new())
    }

    /// Design must-not-fire: a stale write dropped by the db.
    #[test]
    fn quiet_on_a_stale_write_dropped_by_the_db() {
        // A late push of the Starting state (generation 2) after Running.
        let (mut s, id) = Story::stale_vmm_write_dropped();
        // A stale instance write too.
        let mut rt = s.row(id).runtime;
        rt.gen = Generation(1);
        s.db(
            Cause::Api {
                req: model::ids::ReqId(9),
            },
            DbRequest::InstanceUpdateRuntime {
                id,
                new: rt,
                require_intent: None,
            },
        );
        assert!(s.trace().contains("DROPPED (stale generation)"));
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn fires_when_an_applied_write_moves_a_generation_back() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let before = s.row(id);
        let mut after: InstanceRow = before.clone();
        after.runtime.gen = Generation(1);
        s.model(
            HostId::Db,
            Event::InstanceWrite {
                query: Query::InstanceUpdateRuntime,
                cause: Cause::Api {
                    req: model::ids::ReqId(9),
                },
                outcome: WriteOutcome::Applied,
                before: Some(Box::new(before)),
                after: Some(Box::new(after)),
            },
        );
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "instance generation moved back by InstanceUpdateRuntime"
        );
    }

    #[test]
    fn fires_when_a_vmm_write_moves_a_generation_back() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.row(id).runtime.propolis_id.unwrap();
        let before = s.db.vmm(vmm).unwrap().clone();
        let mut after = before.clone();
        after.runtime.gen = Generation(1);
        s.model(
            HostId::Db,
            Event::VmmWrite {
                query: Query::VmmUpdateRuntime,
                cause: Cause::SledPush { sled: SledId(0) },
                outcome: WriteOutcome::Applied,
                before: Some(Box::new(before)),
                after: Some(Box::new(after)),
            },
        );
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "vmm generation moved back by VmmUpdateRuntime"
        );
    }

    fn on_sled(s: &mut Story, vmm: VmmId, id: InstanceId, state: VmmState, gen: u64) {
        s.model(
            HostId::Sled(SledId(0)),
            Event::VmmOnSled {
                sled: SledId(0),
                vmm,
                instance: id,
                state,
                gen: Generation(gen),
            },
        );
    }

    #[test]
    fn fires_on_a_sled_reusing_a_generation() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.row(id).runtime.propolis_id.unwrap();
        // The story's sled reported Starting g2 and Running g3.
        on_sled(&mut s, vmm, id, VmmState::Running, 3); // a re-report: fine
        on_sled(&mut s, vmm, id, VmmState::Stopping, 3);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "sled reported one generation with two states"
        );
    }

    #[test]
    fn fires_on_a_sled_change_with_an_older_generation() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.row(id).runtime.propolis_id.unwrap();
        on_sled(&mut s, vmm, id, VmmState::Stopping, 1);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "sled state change without a newer generation"
        );
    }

    #[test]
    fn quiet_on_a_whole_lifecycle() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.lifecycle(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn a_restarted_sled_agent_starts_a_new_memory() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.row(id).runtime.propolis_id.unwrap();
        s.fault(Fault::Restart {
            host: HostId::Sled(SledId(0)),
        });
        // Re-registered from Nexus's generation: g3 again, now Starting.
        on_sled(&mut s, vmm, id, VmmState::Starting, 3);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// A mutated db guard (`db-instance-guard-off`) lets a runtime write
    /// at the stored generation change the row's state: fires. The same
    /// write with a newer generation, and an instance delete (guarded by
    /// the state, `instance_mark_destroyed_and_detach_disks`), are quiet.
    #[test]
    fn fires_on_an_equal_generation_overwrite() {
        use crate::checkers::testkit::Story;
        use model::states::InstanceState;
        let write = |query: Query, bump: bool| {
            let mut s = Story::new();
            let (id, _) = s.create("web", false, None);
            let before = s.row(id);
            let mut after = before.clone();
            after.runtime.nexus_state = match query {
                Query::ProjectDeleteInstance => InstanceState::Destroyed,
                _ => InstanceState::Failed,
            };
            if bump {
                after.runtime.gen = before.runtime.gen.next();
            }
            s.model(
                model::ids::HostId::Db,
                Event::InstanceWrite {
                    query,
                    cause: model::event::Cause::Api {
                        req: model::ids::ReqId(9),
                    },
                    outcome: WriteOutcome::Applied,
                    before: Some(Box::new(before)),
                    after: Some(Box::new(after)),
                },
            );
            let v = s.run(&mut GenerationMonotonic::new());
            (v, s)
        };
        let (v, s) = write(Query::InstanceUpdateRuntime, false);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "instance state overwritten at an equal generation by InstanceUpdateRuntime"
        );
        let (v, s) = write(Query::InstanceUpdateRuntime, true);
        assert!(v.is_empty(), "{}", s.trace());
        let (v, s) = write(Query::ProjectDeleteInstance, false);
        assert!(v.is_empty(), "{}", s.trace());
    }
}
