//! `db_constraints` (safety): on every applied write, `state = vmm` exactly
//! when an active VMM is set (omicron's CHECK constraint in `dbinit.sql`),
//! and the active VMM belongs to its instance and is not soft-deleted (the
//! update saga clears the instance's active VMM before `MARK_VMM_DELETED`,
//! so a deleted active VMM means some write skipped that order).
//!
//! The model's db enforces the CHECK constraint itself, as CockroachDB
//! does; this checker guards the guard, and catches what no constraint in
//! omicron's schema does: an instance pointing at another instance's VMM.

use super::history::extend_unique;
use super::requests::mark_as_starting;
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Record, RecordKind};
use model::event::{Event, WriteOutcome};
use model::states::InstanceState;

pub const NAME: &str = "db_constraints";

#[derive(Debug, Default)]
pub struct DbConstraints {}

impl DbConstraints {
    pub fn new() -> DbConstraints {
        DbConstraints::default()
    }
}

impl Checker for DbConstraints {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, out: &mut Vec<Violation>) {
        // A write is judged against the VMM table it committed into: an
        // instance write leaves the VMM rows as they were, and a VMM
        // write's previous row is the one it replaced (the view's).
        let RecordKind::Model(e) = &record.kind else {
            return;
        };
        let mut found = Vec::new();
        match e {
            Event::InstanceWrite {
                query,
                outcome: WriteOutcome::Applied,
                before,
                after: Some(a),
                ..
            } => {
                let rt = &a.runtime;
                if (rt.nexus_state == InstanceState::Vmm) != rt.propolis_id.is_some() {
                    found.push((
                        a.id,
                        format!("state/vmm check broken by {query:?}"),
                        format!(
                            "{query:?} left {} in state {} with active VMM {:?}",
                            a.id, rt.nexus_state, rt.propolis_id
                        ),
                        None,
                    ));
                }
                // Judged where a write makes a VMM active. A later write
                // that carries the same active VMM (the updater's lock, a
                // commit) repeats the row's state and is not a new breach:
                // the VMM was bad when made active, or became bad by a VMM
                // write, and was judged there (seeds 474, 477, 677: a
                // resumed start saga's MARK_AS_STARTING made a soft-deleted
                // VMM active, then the update saga locked the row).
                let made_active = rt.propolis_id.filter(|v| {
                    before
                        .as_ref()
                        .is_none_or(|b| b.runtime.propolis_id != Some(*v))
                });
                if let Some(v) = made_active {
                    match view.requests().vmm_row(v) {
                        None => found.push((
                            a.id,
                            "active VMM has no row".to_string(),
                            format!(
                                "{query:?} made VMM {v} active for {}, but no such VMM row exists",
                                a.id
                            ),
                            None,
                        )),
                        Some(row) if row.time_deleted.is_some() => found.push((
                            a.id,
                            if mark_as_starting(e).is_some() {
                                // sis_move_to_starting re-fetches the
                                // instance, not its own VMM record: a saga
                                // whose VMM was failed and deleted while it
                                // was paused or down still makes it active.
                                "active VMM is soft-deleted by MARK_AS_STARTING".to_string()
                            } else {
                                "active VMM is soft-deleted".to_string()
                            },
                            format!(
                                "{query:?} made VMM {v} active for {}, but its row is soft-deleted",
                                a.id
                            ),
                            None,
                        )),
                        Some(row) if row.instance_id != a.id => found.push((
                            a.id,
                            "active VMM belongs to another instance".to_string(),
                            format!(
                                "{query:?} made VMM {v} active for {}, but it belongs to {}",
                                a.id, row.instance_id
                            ),
                            Some(row.instance_id),
                        )),
                        Some(_) => {}
                    }
                }
            }
            Event::VmmWrite {
                query,
                outcome: WriteOutcome::Applied,
                after: Some(v),
                ..
            } => {
                // A VMM row re-pointed at another instance while some
                // instance has it active.
                if v.time_deleted.is_some()
                    && view
                        .requests()
                        .instance_row(v.instance_id)
                        .is_some_and(|i| i.runtime.propolis_id == Some(v.id))
                {
                    found.push((
                        v.instance_id,
                        "active VMM is soft-deleted".to_string(),
                        format!(
                            "{query:?} soft-deleted VMM {}, the active VMM of {}",
                            v.id, v.instance_id
                        ),
                        None,
                    ));
                }
                let owner = view.requests().replaced_vmm().map(|r| r.instance_id);
                if owner.is_some_and(|o| o != v.instance_id)
                    && owner
                        .and_then(|o| view.requests().instance_row(o))
                        .is_some_and(|i| i.runtime.propolis_id == Some(v.id))
                {
                    let o = owner.unwrap_or(v.instance_id);
                    found.push((
                        o,
                        "active VMM belongs to another instance".to_string(),
                        format!(
                            "{query:?} moved VMM {} of {o}, its active VMM, to {}",
                            v.id, v.instance_id
                        ),
                        Some(v.instance_id),
                    ));
                }
            }
            _ => {}
        }
        for (id, mechanism, message, other) in found {
            let mut evidence = vec![view.requests().line()];
            extend_unique(&mut evidence, view.requests().history(id, 8));
            if let Some(o) = other {
                extend_unique(&mut evidence, view.requests().history(o, 4));
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::db::protocol::DbRequest;
    use model::event::{Cause, Query};
    use model::ids::{HostId, SagaId};
    use model::states::Generation;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut DbConstraints::new())
    }

    #[test]
    fn quiet_on_a_whole_lifecycle_with_a_write_the_db_refused() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        // NoVmm with an active VMM: the db refuses it (Conflict).
        let mut rt = s.row(id).runtime;
        rt.nexus_state = InstanceState::NoVmm;
        rt.gen = rt.gen.next();
        s.db(
            Cause::Api {
                req: model::ids::ReqId(5),
            },
            DbRequest::InstanceUpdateRuntime {
                id,
                new: rt,
                require_intent: None,
            },
        );
        assert!(s.trace().contains("DROPPED (conflict)"));
        s.lifecycle(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    fn applied(s: &mut Story, after: model::db::rows::InstanceRow) {
        let before = s.row(after.id);
        s.model(
            HostId::Db,
            Event::InstanceWrite {
                query: Query::InstanceUpdateRuntime,
                cause: Story::cause(
                    SagaId(3),
                    model::db::rows::SagaName::InstanceStart,
                    "MARK_AS_STARTING",
                ),
                outcome: WriteOutcome::Applied,
                before: Some(Box::new(before)),
                after: Some(Box::new(after)),
            },
        );
    }

    #[test]
    fn fires_on_a_broken_check_constraint() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let mut row = s.row(id);
        row.runtime.nexus_state = InstanceState::Vmm;
        row.runtime.gen = Generation(9);
        applied(&mut s, row);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "state/vmm check broken by InstanceUpdateRuntime"
        );
    }

    #[test]
    fn fires_on_another_instances_vmm() {
        let mut s = Story::new();
        let (a, _) = s.create("a", true, None);
        let (b, _) = s.create("b", false, None);
        let mut row = s.row(b);
        row.runtime.nexus_state = InstanceState::Vmm;
        row.runtime.propolis_id = s.row(a).runtime.propolis_id;
        row.runtime.gen = Generation(9);
        applied(&mut s, row);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "active VMM belongs to another instance");
        assert_eq!(v[0].instance, Some(b));
    }

    #[test]
    fn fires_on_a_vmm_with_no_row() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let mut row = s.row(id);
        row.runtime.nexus_state = InstanceState::Vmm;
        row.runtime.propolis_id = Some(model::ids::VmmId(0xdead));
        row.runtime.gen = Generation(9);
        applied(&mut s, row);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "active VMM has no row");
    }

    /// A mutated system: a reaper that soft-deletes the VMM an instance
    /// still has active (the model's db refuses it, so the write is
    /// recorded as a mutated db would have applied it). Fires.
    #[test]
    fn fires_when_an_active_vmm_is_soft_deleted() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.active_vmm(id);
        let before = s.db.vmm(vmm).unwrap().clone();
        let mut after = before.clone();
        after.time_deleted = Some(model::ids::Millis(s.now));
        s.model(
            model::ids::HostId::Db,
            Event::VmmWrite {
                query: model::event::Query::VmmMarkDeleted,
                cause: model::event::Cause::Task {
                    task: model::event::BackgroundTask::AbandonedVmmReaper,
                },
                outcome: WriteOutcome::Applied,
                before: Some(Box::new(before)),
                after: Some(Box::new(after)),
            },
        );
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "active VMM is soft-deleted");
    }

    /// Soft-deletes the active VMM of `id` as a mutated reaper would.
    fn soft_delete_vmm(s: &mut Story, vmm: model::ids::VmmId) {
        let before = s.db.vmm(vmm).unwrap().clone();
        let mut after = before.clone();
        after.time_deleted = Some(model::ids::Millis(s.now));
        s.model(
            HostId::Db,
            Event::VmmWrite {
                query: Query::VmmMarkDeleted,
                cause: model::event::Cause::Task {
                    task: model::event::BackgroundTask::AbandonedVmmReaper,
                },
                outcome: WriteOutcome::Applied,
                before: Some(Box::new(before)),
                after: Some(Box::new(after)),
            },
        );
    }

    /// Seeds 474, 477, 677: a write that keeps the active VMM as it was
    /// (the updater's lock) is not a new breach; the write that made a
    /// soft-deleted VMM active was judged, and only it.
    #[test]
    fn a_write_that_keeps_a_bad_active_vmm_is_not_judged_again() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.active_vmm(id);
        soft_delete_vmm(&mut s, vmm);
        // The updater locks the row: the same runtime, the same VMM.
        let row = s.row(id);
        s.model(
            HostId::Db,
            Event::InstanceWrite {
                query: Query::InstanceUpdaterLock,
                cause: Story::cause(
                    SagaId(4),
                    model::db::rows::SagaName::InstanceUpdate,
                    "LOCK_INSTANCE",
                ),
                outcome: WriteOutcome::Applied,
                before: Some(Box::new(row.clone())),
                after: Some(Box::new(row)),
            },
        );
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "active VMM is soft-deleted");
    }

    /// Issue 8 item 5: the known-upstream entry needs its causal chain. A
    /// start saga's MARK_AS_STARTING that makes a soft-deleted VMM active
    /// (`sis_move_to_starting` re-fetches the instance, not its VMM) is
    /// excused in omicron; the same end state by another write (a near
    /// miss: an API handler's runtime write) is not.
    #[test]
    fn a_near_miss_of_the_mark_as_starting_entry_is_not_excused() {
        let story = |cause: Cause| {
            let mut s = Story::new();
            let (id, _) = s.create("web", false, None);
            let (saga, vmm) = (SagaId(3), model::ids::VmmId(0xbeef));
            s.db(
                Story::cause(
                    saga,
                    model::db::rows::SagaName::InstanceStart,
                    "CREATE_VMM_RECORD",
                ),
                DbRequest::VmmInsert {
                    row: model::db::rows::VmmRow {
                        id: vmm,
                        instance_id: id,
                        sled_id: model::ids::SledId(0),
                        runtime: model::db::rows::VmmRuntime {
                            state: model::states::VmmState::Creating,
                            gen: Generation::FIRST,
                            stop_requested: false,
                        },
                        time_deleted: None,
                        failure_reason: None,
                    },
                },
            );
            soft_delete_vmm(&mut s, vmm);
            let before = s.row(id);
            let mut after = before.clone();
            after.runtime.nexus_state = InstanceState::Vmm;
            after.runtime.propolis_id = Some(vmm);
            after.runtime.gen = Generation(before.runtime.gen.0 + 1);
            s.model(
                HostId::Db,
                Event::InstanceWrite {
                    query: Query::InstanceUpdateRuntime,
                    cause,
                    outcome: WriteOutcome::Applied,
                    before: Some(Box::new(before)),
                    after: Some(Box::new(after)),
                },
            );
            check(&s)
        };
        let mark = story(Story::cause(
            SagaId(3),
            model::db::rows::SagaName::InstanceStart,
            "MARK_AS_STARTING",
        ));
        assert_eq!(mark.len(), 1);
        assert_eq!(
            mark[0].mechanism,
            "active VMM is soft-deleted by MARK_AS_STARTING"
        );
        let (known, new) = crate::known_upstream::split(mark, model::variant::Variant::Omicron);
        assert_eq!((known.len(), new.len()), (1, 0));

        let near = story(Cause::Api {
            req: model::ids::ReqId(7),
        });
        assert_eq!(near.len(), 1);
        assert_eq!(near[0].mechanism, "active VMM is soft-deleted");
        let (known, new) = crate::known_upstream::split(near, model::variant::Variant::Omicron);
        assert_eq!(
            (known.len(), new.len()),
            (0, 1),
            "a near miss is not excused"
        );
    }
}
