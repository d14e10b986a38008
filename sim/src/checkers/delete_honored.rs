//! `delete_honored` (liveness): an accepted delete ends Destroyed, with no
//! VMM and no reservation left.
//!
//! "Accepted" here means Nexus accepted it and the client heard back (a
//! success, or a 5xx after acceptance, which does not undo it); a delete
//! with no response is indeterminate, and the history without it is
//! allowed. A delete is the one request a user cannot take back, so the
//! checker asks for everything it promises: the record Destroyed, and no
//! VMM row, VMM on a sled, or sled reservation still held for it.

use super::end::external_state;
use super::history::{extend_unique, Seq};
use super::requests::ReqKind;
use super::view::View;
use super::{Checker, FinalState, Violation};
use model::states::InstanceState;

pub const NAME: &str = "delete_honored";

#[derive(Debug, Default)]
pub struct DeleteHonored {}

impl DeleteHonored {
    pub fn new() -> DeleteHonored {
        DeleteHonored::default()
    }
}

impl Checker for DeleteHonored {
    fn name(&self) -> &'static str {
        NAME
    }

    fn finish(&mut self, view: &View, end: &FinalState<'_>, out: &mut Vec<Violation>) {
        for id in view.requests().instances_with_requests() {
            let t = view.requests();
            let Some(del) = t
                .accepted_of(id)
                .into_iter()
                .filter(|r| r.kind == ReqKind::Delete && r.completed().is_some())
                .max_by_key(|r| r.completed())
            else {
                continue;
            };
            // A delete that failed after acceptance (a 5xx) and was followed
            // by another accepted request on the same instance did not end
            // it: the user went on using the instance, and that request's
            // own checker judges the end. The delete is judged only when
            // nothing accepted was sent after its answer, and no request
            // was accepted after it (its intent committed over the
            // delete's Destroyed, as a create's start half can while the
            // delete runs: swarm seed 14788 at e15e87f).
            let superseded = t.accepted_of(id).into_iter().any(|r| {
                r.kind != ReqKind::Delete
                    && r.kind != ReqKind::GuestShutdown
                    && (del.completed().is_some_and(|d| r.sent.seq > d.seq)
                        || matches!((r.accepted, del.accepted), (Some(a), Some(d)) if a.seq > d.seq))
            });
            if superseded {
                continue;
            }
            let mut problems: Vec<(String, String, Vec<Seq>)> = Vec::new();
            let row = end.db.instance(id);
            if let Some(r) = row {
                if r.runtime.nexus_state != InstanceState::Destroyed {
                    let shown = external_state(end.db, r);
                    problems.push((
                        format!("delete ends {shown}"),
                        format!("{id} is {shown}, not Destroyed"),
                        Vec::new(),
                    ));
                } else if let Some(v) = r.runtime.propolis_id {
                    problems.push((
                        "delete leaves an active VMM".to_string(),
                        format!("{id} is Destroyed but still has active VMM {v}"),
                        Vec::new(),
                    ));
                }
            }
            let rows: Vec<_> = end
                .db
                .vmms()
                .filter(|v| v.instance_id == id && v.time_deleted.is_none())
                .collect();
            if let Some(v) = rows.first() {
                // A Creating row no saga will finish: CREATE_VMM_RECORD's
                // insert committed but its node failed (known upstream).
                let creating = v.runtime.state == model::states::VmmState::Creating;
                problems.push((
                    if creating {
                        "delete leaves a live Creating VMM row without an active VMM".to_string()
                    } else {
                        "delete leaves a VMM row".to_string()
                    },
                    format!(
                        "VMM {} of {id} is still a live row ({})",
                        v.id, v.runtime.state
                    ),
                    Vec::new(),
                ));
            }
            let present: Vec<_> = view
                .sleds()
                .present_of(id)
                .into_iter()
                .filter(|(sled, _, _)| !end.sleds_lost.contains(sled))
                .collect();
            if let Some((sled, vmm, o)) = present.first() {
                problems.push((
                    match view.sleds().upstream_leak(*vmm) {
                        Some(leak) => format!("delete leaves a VMM on a sled, {leak}"),
                        None => "delete leaves a VMM on a sled".to_string(),
                    },
                    format!("VMM {vmm} of {id} is still {} on {sled}", o.state),
                    vec![o.line],
                ));
            }
            let res: Vec<_> = end
                .db
                .reservations()
                .filter(|r| r.instance_id == id)
                .collect();
            if let Some(r) = res.first() {
                // No VMM record at all: a failed ALLOC_SERVER's reservation
                // (its commit's answer was lost; steno never undoes a failed
                // node) is on the known-upstream list; one its undo should
                // have released is named apart (`checkers::reservations`).
                let unrecorded = end.db.vmm(r.vmm_id).is_none();
                problems.push((
                    if unrecorded {
                        format!(
                            "delete leaves a reservation {}",
                            view.reservations().unrecorded(r.vmm_id).words()
                        )
                    } else {
                        "delete leaves a reservation".to_string()
                    },
                    format!(
                        "{id} still holds a reservation on {} for VMM {}",
                        r.sled_id, r.vmm_id
                    ),
                    Vec::new(),
                ));
            }
            for (mechanism, what, extra) in problems {
                let mut evidence = del.lines.clone();
                extend_unique(&mut evidence, extra);
                extend_unique(&mut evidence, t.history(id, 16));
                out.push(Violation {
                    checker: NAME,
                    mechanism,
                    instance: Some(id),
                    at: end.at,
                    message: format!(
                        "{} was accepted and {}, but {what}",
                        del.describe(),
                        del.outcome_words()
                    ),
                    evidence,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::db::protocol::DbRequest;
    use model::db::rows::SagaName;
    use model::event::{ApiOp, Cause};
    use model::ids::InstanceId;
    use model::states::IntendedState;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut DeleteHonored::new())
    }

    /// A delete accepted but answered 503 (its saga never ran): the
    /// instance is still there, Stopped, and the checker says so.
    fn failed_delete() -> (Story, InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let del = s.send_accepted(ApiOp::Delete, id);
        s.respond(del, ApiOp::Delete, "web", 503);
        (s, id)
    }

    #[test]
    fn fires_when_an_accepted_delete_never_happens() {
        let (s, _) = failed_delete();
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "delete ends Stopped");
    }

    /// The same delete, followed by a start the user sent after the 503:
    /// the user went on using the instance, and the start is what counts.
    #[test]
    fn quiet_when_a_failed_delete_is_followed_by_an_accepted_start() {
        let (mut s, id) = failed_delete();
        s.start(id, 202);
        assert_eq!(check(&s), vec![], "{}", s.trace());
    }

    /// A create with `start = true` whose start half commits its Running
    /// intent after a delete's Destroyed, while the delete's saga fails
    /// (503): the create's start took effect last and the delete did not
    /// (swarm seed 14788 at e15e87f, where branch 7 refused the delete).
    #[test]
    fn quiet_when_a_creates_start_intent_commits_after_a_failed_delete() {
        let mut s = Story::new();
        let (id, create, del) = s.create_racing_delete("web");
        s.set_intent_validated(id, IntendedState::Running, create);
        s.respond(del, ApiOp::Delete, "web", 503);
        s.start_saga(id, model::states::StartReason::AutoStart);
        assert_eq!(check(&s), vec![], "{}", s.trace());
    }

    /// The same race with the create's start intent committed before the
    /// delete's: the delete is the last word and is owed.
    #[test]
    fn fires_when_a_creates_start_intent_committed_before_a_failed_delete() {
        let mut s = Story::new();
        let (id, create) = s.create_accepted("web");
        s.set_intent_validated(id, IntendedState::Running, create);
        s.respond(create, Story::CREATE_START, "web", 201);
        let del = s.send(ApiOp::Delete, "web");
        s.set_intent_validated(id, IntendedState::Destroyed, del);
        s.accept(del, ApiOp::Delete, id);
        s.respond(del, ApiOp::Delete, "web", 503);
        s.start_saga(id, model::states::StartReason::AutoStart);
        let v = check(&s);
        assert!(
            v.iter().any(|v| v.mechanism == "delete ends Running"),
            "{v:?}\n{}",
            s.trace()
        );
    }

    #[test]
    fn quiet_after_a_delete() {
        let (s, _) = Story::stopped_and_deleted();
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// A delete accepted, its saga lost with the Nexus that ran it (503),
    /// never recovered.
    #[test]
    fn fires_when_an_accepted_delete_never_happened() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let req = s.send(ApiOp::Delete, "web");
        s.set_intent(id, IntendedState::Destroyed, Cause::Api { req });
        s.accept(req, ApiOp::Delete, id);
        s.saga(SagaName::InstanceDelete, id, None);
        s.respond(req, ApiOp::Delete, "web", 503);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "delete ends Stopped");
    }

    #[test]
    fn fires_when_a_reservation_is_left_behind() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        // A start saga that reserved a slot and was never undone.
        s.db(
            Cause::Task {
                task: model::event::BackgroundTask::InstanceReincarnation,
            },
            DbRequest::SledReservationCreate {
                vmm: model::ids::VmmId(77),
                instance: id,
                candidates: vec![model::ids::SledId(0)],
                capacity: 4,
            },
        );
        s.delete(id, 204);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        // No VMM record stands for it: the signature says so, for the
        // known-upstream list (a failed ALLOC_SERVER's leak).
        assert_eq!(
            v[0].mechanism,
            "delete leaves a reservation for a VMM that has no record"
        );
    }

    #[test]
    fn quiet_when_the_delete_was_rejected_or_got_no_response() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let req = s.send(ApiOp::Delete, "web");
        s.reject(req, ApiOp::Delete, id, 400);
        s.respond(req, ApiOp::Delete, "web", 400);
        let req = s.send_accepted(ApiOp::Delete, id);
        s.no_response(req, ApiOp::Delete, "web");
        assert!(check(&s).is_empty(), "{}", s.trace());
    }
}
