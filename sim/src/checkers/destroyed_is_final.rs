//! `destroyed_is_final` (safety): a Destroyed instance's state, generation,
//! active VMM, intent and deletion time never change again, and no VMM of
//! it becomes active or is registered.
//!
//! A deleted instance has released its name, its disks and its
//! addresses; anything that revives it (a replayed saga node, a late
//! reincarnation, a start racing the delete) runs a guest with resources
//! someone else may now own. The updater lock columns are not frozen: an
//! update saga may still take and release the lock on a destroyed row.

use super::history::extend_unique;
use super::history::Seq;
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Record, RecordKind};
use model::db::rows::InstanceRow;
use model::event::{Event, Query, WriteOutcome};
use model::ids::{InstanceId, VmmId};
use model::states::InstanceState;
use std::collections::{BTreeMap, BTreeSet};

pub const NAME: &str = "destroyed_is_final";

#[derive(Debug)]
struct Destroyed {
    row: InstanceRow,
    line: Seq,
}

#[derive(Debug, Default)]
pub struct DestroyedIsFinal {
    destroyed: BTreeMap<InstanceId, Destroyed>,
    /// The VMMs each instance had (rows or sled reports) before it was
    /// destroyed: a late report of one of those is not a registration.
    known_vmms: BTreeMap<InstanceId, BTreeSet<VmmId>>,
    /// Instances already reported, so one revival is one violation.
    reported: BTreeSet<InstanceId>,
}

impl DestroyedIsFinal {
    pub fn new() -> DestroyedIsFinal {
        DestroyedIsFinal::default()
    }

    fn report(
        &mut self,
        record: &Record,
        view: &View,
        id: InstanceId,
        mechanism: String,
        message: String,
        out: &mut Vec<Violation>,
    ) {
        if !self.reported.insert(id) {
            return;
        }
        let mut evidence = Vec::new();
        if let Some(d) = self.destroyed.get(&id) {
            evidence.push(d.line);
        }
        evidence.push(view.requests().line());
        extend_unique(&mut evidence, view.requests().history(id, 12));
        out.push(Violation {
            checker: NAME,
            mechanism,
            instance: Some(id),
            at: record.at,
            message,
            evidence,
        });
    }
}

/// The columns that must not change once Destroyed, by name, if any did.
fn changed(d: &InstanceRow, a: &InstanceRow) -> Vec<&'static str> {
    let mut c = Vec::new();
    if a.runtime.nexus_state != d.runtime.nexus_state {
        c.push("state");
    }
    if a.runtime.gen != d.runtime.gen {
        c.push("generation");
    }
    if a.runtime.propolis_id != d.runtime.propolis_id {
        c.push("active VMM");
    }
    if a.intended_state != d.intended_state {
        c.push("intent");
    }
    if a.time_deleted != d.time_deleted {
        c.push("deletion time");
    }
    c
}

impl Checker for DestroyedIsFinal {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, out: &mut Vec<Violation>) {
        let RecordKind::Model(e) = &record.kind else {
            return;
        };
        match e {
            Event::InstanceWrite {
                query,
                outcome: WriteOutcome::Applied,
                after,
                before,
                ..
            } => {
                let Some(id) = after.as_ref().or(before.as_ref()).map(|r| r.id) else {
                    return;
                };
                if let Some(d) = self.destroyed.get(&id) {
                    let what = match after {
                        Some(a) => changed(&d.row, a),
                        None => vec!["row (removed)"],
                    };
                    if !what.is_empty() {
                        let msg = format!(
                            "{query:?} changed the {} of {id} after it was Destroyed",
                            what.join(", ")
                        );
                        self.report(
                            record,
                            view,
                            id,
                            format!("destroyed instance changed by {query:?}"),
                            msg,
                            out,
                        );
                    }
                } else if let Some(a) = after {
                    if a.runtime.nexus_state == InstanceState::Destroyed {
                        self.destroyed.insert(
                            id,
                            Destroyed {
                                row: (**a).clone(),
                                line: view.requests().line(),
                            },
                        );
                    }
                }
            }
            Event::VmmWrite {
                query,
                outcome: WriteOutcome::Applied,
                after: Some(a),
                ..
            } => {
                // A VMM row inserted for a destroyed instance is harmless:
                // omicron's CREATE_VMM_RECORD has no instance check, and the
                // start saga's MARK_AS_STARTING then fails on the deleted
                // row. Only a VMM that a sled registers, or that becomes
                // active, revives the instance.
                let id = a.instance_id;
                if !(self.destroyed.contains_key(&id) && *query == Query::VmmInsert) {
                    self.known_vmms.entry(id).or_default().insert(a.id);
                }
            }
            Event::VmmOnSled {
                sled,
                vmm,
                instance,
                ..
            } => {
                let known = self
                    .known_vmms
                    .get(instance)
                    .is_some_and(|k| k.contains(vmm));
                if self.destroyed.contains_key(instance) {
                    if !known {
                        self.report(
                            record,
                            view,
                            *instance,
                            "VMM registered for a destroyed instance".to_string(),
                            format!(
                                "{sled} registered VMM {vmm} of {instance} after it was Destroyed"
                            ),
                            out,
                        );
                    }
                } else {
                    self.known_vmms.entry(*instance).or_default().insert(*vmm);
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
    use model::db::rows::SagaName;
    use model::event::Cause;
    use model::ids::{HostId, SledId};
    use model::states::{Generation, IntendedState, StartReason, VmmState};

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut DestroyedIsFinal::new())
    }

    #[test]
    fn quiet_on_a_delete_and_a_new_instance_of_the_same_name() {
        let (mut s, _) = Story::stopped_and_deleted();
        s.create("web", true, None);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn fires_when_an_intent_write_lands_on_a_destroyed_row() {
        let (mut s, id) = Story::stopped_and_deleted();
        // The db refuses writes to soft-deleted rows; a buggy one would
        // not. Tell the write as the db would have reported it.
        let before = s.row(id);
        let mut after = before.clone();
        after.intended_state = IntendedState::Running;
        s.model(
            HostId::Db,
            Event::InstanceWrite {
                query: Query::InstanceSetIntendedState,
                cause: Cause::Api {
                    req: model::ids::ReqId(7),
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
            "destroyed instance changed by InstanceSetIntendedState"
        );
        assert!(s.evidence(&v[0])[0].contains("ProjectDeleteInstance"));
    }

    #[test]
    fn fires_when_a_sled_registers_a_vmm_for_a_destroyed_instance() {
        let (mut s, id) = Story::stopped_and_deleted();
        let saga = s.saga(SagaName::InstanceStart, id, Some(StartReason::AutoRestart));
        // CREATE_VMM_RECORD still lands (the VMM table has no instance
        // check); MARK_AS_STARTING does not.
        let vmm = s.start_until_marked(saga, id, StartReason::AutoRestart);
        s.sled_state(vmm, VmmState::Starting);
        let v = check(&s);
        assert_eq!(v.len(), 1, "one revival is one violation: {}", s.trace());
        assert_eq!(v[0].mechanism, "VMM registered for a destroyed instance");
    }

    #[test]
    fn quiet_on_a_late_report_of_a_vmm_it_had() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.row(id).runtime.propolis_id.unwrap();
        s.watcher_fails_vmm(id);
        s.delete(id, 204);
        // The sled comes back and reports the old VMM's end.
        s.model(
            HostId::Sled(SledId(0)),
            Event::VmmOnSled {
                sled: SledId(0),
                vmm,
                instance: id,
                state: VmmState::Destroyed,
                gen: Generation(9),
            },
        );
        assert!(check(&s).is_empty(), "{}", s.trace());
    }
}
