//! `resources_released` (liveness): every reservation and every live VMM
//! row belongs to an active VMM; no VMM on a sled lacks its row.
//!
//! Leaks in both directions: a reservation or VMM row nothing points at
//! takes a sled slot forever (the abandoned-VMM reaper exists for these and
//! should have run by the time the system is quiet), and a VMM a sled runs
//! with no row is a guest Nexus cannot see, stop or bill. "On a sled" is
//! the sleds' own reports; lost sleds hold nothing.

use super::history::{extend_unique, Seq};
use super::sleds::is_present_state;
use super::view::View;
use super::{Checker, FinalState, Violation};
use model::db::Db;
use model::ids::{InstanceId, VmmId};

pub const NAME: &str = "resources_released";

#[derive(Debug, Default)]
pub struct ResourcesReleased {}

impl ResourcesReleased {
    pub fn new() -> ResourcesReleased {
        ResourcesReleased::default()
    }
}

/// Whether `vmm` is the active VMM of `instance` in the final db.
fn is_active(db: &Db, instance: InstanceId, vmm: VmmId) -> bool {
    db.instance(instance)
        .is_some_and(|i| i.runtime.propolis_id == Some(vmm))
}

impl Checker for ResourcesReleased {
    fn name(&self) -> &'static str {
        NAME
    }

    fn finish(&mut self, view: &View, end: &FinalState<'_>, out: &mut Vec<Violation>) {
        let db = end.db;
        let mut push = |id: InstanceId, mechanism: &str, message: String, first: Vec<Seq>| {
            let mut evidence = first;
            extend_unique(&mut evidence, view.requests().history(id, 12));
            out.push(Violation {
                checker: NAME,
                mechanism: mechanism.to_string(),
                instance: Some(id),
                at: end.at,
                message,
                evidence,
            });
        };
        for r in db.reservations() {
            if !is_active(db, r.instance_id, r.vmm_id) {
                // No VMM record at all: the known-upstream chain only when
                // ALLOC_SERVER never logged done (its commit's answer was
                // lost, the node failed, and steno never undoes a failed
                // node); a reservation its undo should have released is
                // named apart (`checkers::reservations`).
                let mechanism = if db.vmm(r.vmm_id).is_none() {
                    format!(
                        "reservation {}",
                        view.reservations().unrecorded(r.vmm_id).words()
                    )
                } else {
                    "reservation without an active VMM".to_string()
                };
                push(
                    r.instance_id,
                    &mechanism,
                    format!(
                        "the reservation on {} for VMM {} of {} is held, but that VMM is not the instance's active VMM",
                        r.sled_id, r.vmm_id, r.instance_id
                    ),
                    Vec::new(),
                );
            }
        }
        for v in db.vmms().filter(|v| v.time_deleted.is_none()) {
            if !is_active(db, v.instance_id, v.id) {
                push(
                    v.instance_id,
                    &format!("live {} VMM row without an active VMM", v.runtime.state),
                    format!(
                        "VMM {} of {} ({} on {}) is a live row, but not the instance's active VMM",
                        v.id, v.instance_id, v.runtime.state, v.sled_id
                    ),
                    Vec::new(),
                );
            }
        }
        let on_sleds: Vec<_> = view
            .sleds()
            .all()
            // A halted VMM (Destroyed or Failed) that its sled agent keeps
            // only until Nexus acknowledges its final push (#7928) runs
            // nothing and holds nothing: only present VMMs need a row.
            .filter(|(s, _, o)| !end.sleds_lost.contains(s) && is_present_state(o.state))
            .map(|(s, v, o)| (s, v, o.instance, o.state, o.line))
            .collect();
        for (sled, vmm, instance, state, line) in on_sleds {
            let row = db.vmm(vmm);
            let has_row = row.is_some_and(|r| r.time_deleted.is_none());
            if !has_row {
                let mechanism = match view.sleds().upstream_leak(vmm) {
                    Some(leak) => format!("VMM {leak}"),
                    None => "VMM on a sled without a row".to_string(),
                };
                push(
                    instance,
                    &mechanism,
                    format!("{sled} has VMM {vmm} of {instance} ({state}), but the db has no live row for it"),
                    vec![line],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use crate::record::Fault;
    use model::db::protocol::DbRequest;
    use model::db::rows::{SagaName, SagaState};
    use model::event::NodeStep;
    use model::ids::{HostId, SledId};
    use model::states::StartReason;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut ResourcesReleased::new())
    }

    #[test]
    fn quiet_on_a_whole_lifecycle() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.guest_shutdown(id);
        s.start_saga(id, StartReason::User);
        s.stop(id, 202);
        s.create("db", true, None);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// A start saga unwound after reserving and inserting its VMM, with
    /// the undo of its reservation lost: both leak.
    #[test]
    fn fires_on_a_leaked_reservation_and_vmm_row() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let n = SagaName::InstanceStart;
        let saga = s.saga(n, id, Some(StartReason::User));
        s.start_until_marked(saga, id, StartReason::User);
        // MARK_AS_STARTING's undo: back to NoVmm.
        let mut rt = s.row(id).runtime;
        rt.nexus_state = model::states::InstanceState::NoVmm;
        rt.propolis_id = None;
        rt.gen = rt.gen.next();
        s.db(
            Story::cause(saga, n, "MARK_AS_STARTING"),
            DbRequest::InstanceUpdateRuntime {
                id,
                new: rt,
                require_intent: None,
            },
        );
        s.node(saga, n, "MARK_AS_STARTING", NodeStep::Undone);
        s.saga_finish(saga, n, id, SagaState::Unwound);
        let v = check(&s);
        let mechs: Vec<&str> = v.iter().map(|v| v.mechanism.as_str()).collect();
        assert_eq!(
            mechs,
            vec![
                "reservation without an active VMM",
                "live Creating VMM row without an active VMM"
            ],
            "{}",
            s.trace()
        );
    }

    /// A start saga's reservation with no VMM record: ALLOC_SERVER's
    /// commit answered, the node failed (the known-upstream chain), or
    /// the node logged done and its undo ran but kept the reservation
    /// (the `start-alloc-undo-keeps-reservation` mutation): two
    /// mechanisms, so the list excuses only the first.
    #[test]
    fn names_how_a_reservation_with_no_record_was_left() {
        for (undo_ran, want) in [
            (false, "reservation for a VMM that has no record"),
            (true, "reservation kept by ALLOC_SERVER's undo"),
        ] {
            let mut s = Story::new();
            let (id, _) = s.create("web", false, None);
            let n = SagaName::InstanceStart;
            let saga = s.saga(n, id, Some(StartReason::User));
            s.db(
                Story::cause(saga, n, "ALLOC_SERVER"),
                DbRequest::SledReservationCreate {
                    instance: id,
                    vmm: model::ids::VmmId(77),
                    candidates: vec![SledId(0)],
                    capacity: 4,
                },
            );
            if undo_ran {
                s.node(saga, n, "ALLOC_SERVER", NodeStep::Done);
                s.node(saga, n, "CREATE_VMM_RECORD", NodeStep::Failed("503".into()));
                s.node(saga, n, "ALLOC_SERVER", NodeStep::Undone);
            } else {
                s.node(saga, n, "ALLOC_SERVER", NodeStep::Failed("503".into()));
            }
            s.saga_finish(saga, n, id, SagaState::Unwound);
            let v = check(&s);
            let mechs: Vec<&str> = v.iter().map(|v| v.mechanism.as_str()).collect();
            assert_eq!(mechs, vec![want], "{}", s.trace());
        }
    }

    /// The sled agent comes back after the watcher failed its VMM and the
    /// update saga deleted the row: the guest still runs.
    #[test]
    fn fires_on_a_vmm_on_a_sled_without_a_row() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.watcher_fails_vmm(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "VMM on a sled without a row");
        assert!(s.evidence(&v[0])[0].contains("sled-0 vmm"));
    }

    #[test]
    fn quiet_when_that_sled_restarted_or_was_lost() {
        for f in [
            Fault::Restart {
                host: HostId::Sled(SledId(0)),
            },
            Fault::LoseSled { sled: SledId(0) },
        ] {
            let mut s = Story::new();
            let (id, _) = s.create("web", true, None);
            s.fault(f);
            s.watcher_fails_vmm(id);
            assert!(check(&s).is_empty(), "{}", s.trace());
        }
    }
}
