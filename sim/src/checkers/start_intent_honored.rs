//! `start_intent_honored` (liveness): an instance whose last accepted
//! request is run-like is Running: its external state is Running **and**
//! its active VMM is running on a sled that is up.
//!
//! "Last" follows the design's order rules (see [`RequestTracker::possible_last`](super::requests::RequestTracker::possible_last)):
//! the checker fires only when every allowed history ends with a run-like
//! request. Three exceptions, which the checker names in a [`Note`] when it
//! applies one: after that request Nexus recorded a guest shutdown (the
//! user's own guest asked to stop); or the instance became Failed
//! (SagaUnwound included) and its policy is `never` (the user chose not to
//! be restarted); or no sled that is up can take it (nothing could honor
//! it). This is the invariant omicron at HEAD is expected to break: a Nexus
//! crash between the create and start sagas, or an unwound start saga,
//! leaves a `Running` intent that nothing carries out (§5.3).

use super::end::{external_state, up_sled_has_room};
use super::history::extend_unique;
use super::requests::{Class, ReqKind, Request};
use super::view::View;
use super::{Checker, FinalState, Note, Violation};
use model::ids::InstanceId;
use model::states::{AutoRestartPolicy, ExternalState, InstanceState, VmmState};

pub const NAME: &str = "start_intent_honored";

#[derive(Debug, Default)]
pub struct StartIntentHonored {
    notes: Vec<Note>,
}

impl StartIntentHonored {
    pub fn new() -> StartIntentHonored {
        StartIntentHonored::default()
    }

    fn note(
        &mut self,
        end: &FinalState<'_>,
        id: InstanceId,
        last: &str,
        why: &str,
        exception: String,
    ) {
        self.notes.push(Note {
            checker: NAME,
            instance: Some(id),
            at: end.at,
            message: format!("{id}'s last accepted request ({last}) is run-like and it is not Running; exception applied: {why}"),
            exception,
        });
    }
}

fn labels(reqs: &[&Request]) -> String {
    let mut l: Vec<String> = reqs.iter().map(|r| r.describe()).collect();
    l.sort();
    l.dedup();
    l.join(" or ")
}

impl Checker for StartIntentHonored {
    fn name(&self) -> &'static str {
        NAME
    }

    fn finish(&mut self, view: &View, end: &FinalState<'_>, out: &mut Vec<Violation>) {
        for id in view.requests().instances_with_requests() {
            let t = view.requests();
            let last = t.possible_last(id);
            // No request owes anything in the history where none took
            // effect (swarm seed 10588 of `fixed`, build abce611: the
            // create's saga unwound and deleted its record, and a reboot
            // sent to a dead Nexus got no answer).
            if last.is_empty() || t.none_may_have_taken_effect(id) {
                continue;
            }
            let all_run = |reqs: &[&Request]| reqs.iter().all(|r| r.class() == Class::RunLike);
            // Would the instance owe a start were it not for the guest
            // powering off? Then the first exception applies.
            let guest_excused = !all_run(&last) && {
                let user = t.possible_last_user(id);
                !user.is_empty()
                    && all_run(&user)
                    && last.iter().any(|r| r.kind == ReqKind::GuestShutdown)
            };
            if !all_run(&last) && !guest_excused {
                continue;
            }
            let what = labels(&last);
            let row = end.db.instance(id);
            let running = row.is_some_and(|row| {
                external_state(end.db, row) == ExternalState::Running
                    && row
                        .runtime
                        .propolis_id
                        .and_then(|v| end.db.vmm(v).map(|r| (v, r)))
                        .is_some_and(|(v, r)| {
                            end.sleds_up.contains(&r.sled_id)
                                && view
                                    .sleds()
                                    .get(r.sled_id, v)
                                    .is_some_and(|o| o.state == VmmState::Running)
                        })
            });
            if running {
                continue;
            }
            if guest_excused {
                let user = labels(&t.possible_last_user(id));
                self.note(
                    end,
                    id,
                    &user,
                    "Nexus recorded a guest shutdown after it",
                    format!("the guest of {id} shut itself down"),
                );
                continue;
            }
            let state = row.map(|r| external_state(end.db, r));
            let earliest = last.iter().filter_map(|r| r.accepted).min();
            let failed_after = t
                .last_failed(id)
                .is_some_and(|f| earliest.is_some_and(|e| f > e));
            let failed_now = row.is_some_and(|r| {
                r.runtime.nexus_state == InstanceState::Failed
                    || external_state(end.db, r) == ExternalState::Failed
            });
            let never =
                row.is_some_and(|r| r.auto_restart_policy == Some(AutoRestartPolicy::Never));
            if never && (failed_after || failed_now) {
                self.note(
                    end,
                    id,
                    &what,
                    "it became Failed and its auto-restart policy is never",
                    format!("{id} is Failed and its auto-restart policy is never"),
                );
                continue;
            }
            if let Some(r) = row {
                if !up_sled_has_room(end, r) {
                    self.note(
                        end,
                        id,
                        &what,
                        "no sled that is up can take it",
                        format!("no up sled has room for {id}"),
                    );
                    continue;
                }
            }
            let t = view.requests();
            let shown = match state {
                Some(s) => s.to_string(),
                None => "without an instance record".to_string(),
            };
            let detail = match (row, state) {
                (Some(r), Some(ExternalState::Running)) => {
                    let vmm = r.runtime.propolis_id.and_then(|v| end.db.vmm(v));
                    match vmm {
                        Some(v) if !end.sleds_up.contains(&v.sled_id) => {
                            format!("Running, but its VMM's {} is not up", v.sled_id)
                        }
                        Some(v) => format!(
                            "Running in the db, but {} does not report VMM {} Running",
                            v.sled_id, v.id
                        ),
                        None => "Running with no VMM row".to_string(),
                    }
                }
                (Some(r), _) => format!("{shown} (intent {})", r.intended_state),
                (None, _) => shown.clone(),
            };
            let kinds = {
                let mut k: Vec<&str> = last.iter().map(|r| r.kind.label()).collect();
                k.sort();
                k.dedup();
                k.join(" or ")
            };
            let mut evidence = Vec::new();
            for r in &last {
                extend_unique(&mut evidence, r.lines.clone());
            }
            extend_unique(&mut evidence, t.history(id, 16));
            out.push(Violation {
                checker: NAME,
                mechanism: format!("{kinds} ends {shown}"),
                instance: Some(id),
                at: end.at,
                message: format!(
                    "{id}'s last accepted request is {what}, but at the end it is {detail}"
                ),
                evidence,
            });
        }
    }

    fn notes(&self) -> &[Note] {
        &self.notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use crate::record::Fault;
    use model::db::rows::SagaName;
    use model::event::ApiOp;
    use model::ids::{HostId, SledId};
    use model::states::StartReason;

    fn check(s: &Story) -> (Vec<Violation>, Vec<Note>) {
        let mut c = StartIntentHonored::new();
        let v = s.run(&mut c);
        (v, c.notes().to_vec())
    }

    /// The headline: a create with start=true whose start never happened
    /// (Nexus crashed between the create and start sagas) ends NoVmm with
    /// intent Running.
    #[test]
    fn fires_on_a_create_start_true_left_stopped() {
        let mut s = Story::new();
        let op = Story::CREATE_START;
        let req = s.send(op, "web");
        let id = s.insert("web", true, None);
        s.fault(Fault::Crash {
            host: HostId::Nexus(model::ids::NexusId(0)),
        });
        s.no_response(req, op, "web");
        let (v, notes) = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "create start=true ends Stopped");
        assert_eq!(v[0].instance, Some(id));
        assert!(v[0].message.contains("intent Running"));
        assert!(notes.is_empty());
    }

    /// Swarm seed 10588 of `fixed` (build abce611): a create with
    /// start=true inserts its record, its Nexus dies (no response), a
    /// reboot sent to the dead Nexus gets none either, and the recovered
    /// create saga unwinds, deleting the record. The history in which
    /// neither request took effect is allowed: quiet. The same story with
    /// the reboot answered 503 (accepted) fires.
    #[test]
    fn quiet_when_no_request_may_have_taken_effect() {
        let story = |reboot_status: Option<u16>| {
            let mut s = Story::new();
            let op = Story::CREATE_START;
            let create = s.send(op, "web");
            let (id, saga) = s.insert_creating("web", true, None);
            s.fault(Fault::Crash {
                host: HostId::Nexus(model::ids::NexusId(0)),
            });
            s.no_response(create, op, "web");
            let reboot = s.send(ApiOp::Reboot, "web");
            match reboot_status {
                Some(status) => {
                    s.accept(reboot, ApiOp::Reboot, id);
                    s.respond(reboot, ApiOp::Reboot, "web", status);
                }
                None => s.no_response(reboot, ApiOp::Reboot, "web"),
            }
            s.db(
                Story::cause(saga, SagaName::InstanceCreate, "CREATE_INSTANCE_RECORD"),
                model::db::protocol::DbRequest::InstanceDeleteCreating { id },
            );
            s.saga_finish(
                saga,
                SagaName::InstanceCreate,
                id,
                model::db::rows::SagaState::Unwound,
            );
            s
        };
        let s = story(None);
        assert_eq!(check(&s), (vec![], vec![]), "{}", s.trace());

        let s = story(Some(503));
        let (v, _) = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "reboot ends without an instance record");
    }

    #[test]
    fn fires_when_an_unwound_start_leaves_it_stopped() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let start = s.send_accepted(ApiOp::Start, id);
        let saga = s.saga(SagaName::InstanceStart, id, Some(StartReason::User));
        s.node(
            saga,
            SagaName::InstanceStart,
            "ENSURE_RUNNING",
            model::event::NodeStep::Failed("sled 500".into()),
        );
        s.saga_finish(
            saga,
            SagaName::InstanceStart,
            id,
            model::db::rows::SagaState::Unwound,
        );
        s.respond(start, ApiOp::Start, "web", 500);
        let (v, _) = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "start ends Stopped");
    }

    #[test]
    fn fires_when_the_db_says_running_but_the_sled_lost_the_vmm() {
        let mut s = Story::new();
        let (_id, _) = s.create("web", true, None);
        s.fault(Fault::Restart {
            host: HostId::Sled(SledId(0)),
        });
        let (v, _) = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "create start=true ends Running");
        assert!(v[0].message.contains("does not report"));
    }

    #[test]
    fn quiet_when_running() {
        let mut s = Story::new();
        s.create("web", true, None);
        assert_eq!(check(&s), (vec![], vec![]), "{}", s.trace());
    }

    /// Design must-not-fire: a guest shutdown after a start. The exception
    /// is named in a note.
    #[test]
    fn quiet_with_a_note_on_a_guest_shutdown_after_a_start() {
        let (s, _) = Story::guest_shutdown_after_start();
        let (v, notes) = check(&s);
        assert!(v.is_empty(), "{v:?}\n{}", s.trace());
        assert_eq!(notes.len(), 1);
        assert!(notes[0].message.contains("guest shutdown"));
    }

    /// The exception is judged from the sled, not from the intent the code
    /// under test writes: an update saga that records `GuestShutdown` for
    /// a VMM its sled was asked to stop (the guest did not power itself
    /// off) gets no exception, and the create's start is owed.
    #[test]
    fn fires_when_the_recorded_guest_shutdown_is_not_the_sleds() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let vmm = s.active_vmm(id);
        s.model(
            HostId::Sled(SledId(0)),
            model::event::Event::SledPutState {
                sled: SledId(0),
                vmm,
                requested: model::states::RequestedState::Stopped,
                accepted: true,
            },
        );
        s.sled_state(vmm, VmmState::Stopping);
        s.sled_state(vmm, VmmState::Destroyed);
        s.update_saga(
            id,
            InstanceState::NoVmm,
            Some(model::states::IntendedState::GuestShutdown),
        );
        let (v, notes) = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "create start=true ends Stopped");
        assert!(notes.is_empty(), "{notes:?}");
    }

    /// Design must-not-fire: a start overlapping a stop, stop wins.
    #[test]
    fn quiet_when_a_start_overlaps_a_stop() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let start = s.send_accepted(ApiOp::Start, id);
        let stop = s.send_accepted(ApiOp::Stop, id);
        s.respond(start, ApiOp::Start, "web", 202);
        s.stop_vmm(id);
        s.respond(stop, ApiOp::Stop, "web", 202);
        assert_eq!(check(&s).0, vec![], "{}", s.trace());
    }

    /// Design must-not-fire: a stop with no response that took effect.
    #[test]
    fn quiet_when_a_stop_with_no_response_took_effect() {
        let (mut s, id) = Story::stop_with_no_response();
        s.stop_vmm(id);
        assert_eq!(check(&s).0, vec![], "{}", s.trace());
    }

    /// A stop whose Nexus died before it could say it accepted the stop
    /// (no acceptance, no response) is indeterminate: the history in which
    /// it took effect is allowed.
    #[test]
    fn quiet_when_an_unacknowledged_stop_took_effect() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        let stop = s.send(ApiOp::Stop, "web");
        s.fault(Fault::Crash {
            host: HostId::Nexus(model::ids::NexusId(0)),
        });
        s.no_response(stop, ApiOp::Stop, "web");
        s.stop_vmm(id);
        assert_eq!(check(&s).0, vec![], "{}", s.trace());
    }

    /// Design must-not-fire: a reboot answered 503, then auto-restarted.
    #[test]
    fn quiet_on_reboot_503_then_auto_restart() {
        let (s, _) = Story::reboot_503_then_auto_restart(None);
        assert_eq!(check(&s), (vec![], vec![]), "{}", s.trace());
    }

    #[test]
    fn fires_on_reboot_503_never_restarted_unless_policy_never() {
        let (s, _) = Story::answered_503_vmm_gone(ApiOp::Reboot, None);
        let (v, _) = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "reboot ends Failed");

        let (s, _) = Story::answered_503_vmm_gone(ApiOp::Reboot, Some(AutoRestartPolicy::Never));
        let (v, notes) = check(&s);
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].message.contains("policy is never"));
    }

    #[test]
    fn quiet_with_a_note_when_no_up_sled_has_room() {
        let mut s = Story::new();
        s.capacity = 1;
        s.sleds_up = [SledId(0)].into_iter().collect();
        s.create("a", true, None);
        let op = Story::CREATE_START;
        let req = s.send(op, "b");
        let id = s.insert("b", true, None);
        s.accept(req, op, id);
        s.respond(req, op, "b", 201);
        let (v, notes) = check(&s);
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].message.contains("no sled that is up"));
    }
}
