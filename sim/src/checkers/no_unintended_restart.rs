//! `no_unintended_restart` (safety): after a stop-like request S completed,
//! no `MARK_AS_STARTING` of that instance commits, unless a run-like request
//! was accepted after S was sent or was still in flight when S completed.
//! This is omicron #6809: a stop that found the VMM gone answered 503, the
//! instance went Failed, and reincarnation started it again although the
//! user's last word was "stop".
//!
//! It also judges against the ground truth of the sled agents (omicron
//! #7282's mechanism): an automatic start (reincarnation, the `fixed`
//! reconciler) of an instance whose guest shut itself down on its sled
//! since the last run-like request was accepted fires, whether or not
//! Nexus ever recorded the shutdown. A guest shut itself down when its VMM
//! went Stopping on its sled with no accepted put-state Stopped for it
//! while it was the instance's active VMM in the db; a push lost on the
//! way to Nexus does not change what the sled knew. A VMM Nexus had
//! already let go of (an orphan an unwound start saga could not
//! unregister) is not the instance's guest any more: the instance owed a
//! start before it powered off. Unless
//! the sled agent itself died (crashed, lost power, was lost, or restarted
//! with an empty table; its pushes live in the process) or forgot the VMM
//! before its push reached Nexus: then nobody knows the guest shut down,
//! the VMM looks gone, and reincarnating a Failed instance is what omicron
//! is right to do (RFD 486). A shutdown Nexus did
//! record is a stop-like request and judged as such.
//!
//! `MARK_AS_STARTING` is the moment a start saga commits to running the
//! instance, whoever started the saga (a user, reincarnation, the `fixed`
//! reconciler), so judging that single write covers every way an instance
//! can be restarted.

use super::history::Seq;
use super::requests::{mark_as_starting, Class};
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Fault, Record, RecordKind};
use model::event::{Event, VmmGoneReason};
use model::ids::{HostId, InstanceId, SledId};
use model::states::{StartReason, VmmState};
use std::collections::BTreeMap;

pub const NAME: &str = "no_unintended_restart";

#[derive(Debug, Default)]
pub struct NoUnintendedRestart {
    /// Instances whose guest shut itself down on its sled: the sled, and
    /// the sled's record. A run-like request the view shows accepted after
    /// that record excuses it (see [`run_like_since`]).
    guest_down: BTreeMap<InstanceId, (SledId, Seq)>,
}

impl NoUnintendedRestart {
    pub fn new() -> NoUnintendedRestart {
        NoUnintendedRestart::default()
    }
}

impl NoUnintendedRestart {
    /// Follows what the sled agents did: guests that shut themselves down
    /// (a VMM going Stopping that no accepted put-state Stopped asked for:
    /// the view's `stop_asked`).
    fn sled_truth(&mut self, e: &Event, view: &View) {
        match e {
            // The shutdown begins when the VMM goes Stopping; not at
            // Destroyed: an unregistered VMM is reported Destroyed (then
            // gone as Unregistered) without stopping, and a run-like
            // request accepted while the guest was stopping came after the
            // shutdown.
            // Only the instance's active VMM (in the db's latest rows) is
            // its guest: a VMM Nexus had already let go of (an unwound
            // start saga's orphan on an unreachable sled) left the instance
            // owing a start before its guest powered off (swarm seed
            // 10527 of `fixed` at build abce611).
            Event::VmmOnSled {
                sled,
                vmm,
                instance,
                state: VmmState::Stopping,
                ..
            } if !view.requests().stop_asked(*vmm)
                && view
                    .requests()
                    .instance_row(*instance)
                    .is_some_and(|r| r.runtime.propolis_id == Some(*vmm)) =>
            {
                // The earliest shutdown no run-like request excuses yet.
                let excused = self
                    .guest_down
                    .get(instance)
                    .is_none_or(|(_, seq)| run_like_since(view, *instance, *seq));
                if excused {
                    self.guest_down.insert(*instance, (*sled, view.seq()));
                }
            }
            // The sled agent lost track of the VMM (its Propolis died with
            // it) before Nexus heard of the shutdown: nobody knows of it.
            Event::VmmGone {
                sled,
                instance,
                reason: VmmGoneReason::Forgotten,
                ..
            } => {
                self.guest_down
                    .retain(|i, (s, _)| !(i == instance && s == sled));
            }
            _ => {}
        }
    }

    /// A sled agent that died took what it knew of its guests' shutdowns
    /// with it (its pushes live in the process).
    fn sled_agent_died(&mut self, f: &Fault) {
        let died = match f {
            Fault::Crash {
                host: HostId::Sled(s),
            }
            | Fault::PowerLoss {
                host: HostId::Sled(s),
            }
            | Fault::Restart {
                host: HostId::Sled(s),
            }
            | Fault::LoseSled { sled: s }
            | Fault::SledAgentRestartKeepsVmms { sled: s } => *s,
            _ => return,
        };
        self.guest_down.retain(|_, (sled, _)| *sled != died);
    }

    /// An automatic start of an instance whose guest shut itself down.
    fn judge_guest_shutdown(
        &self,
        instance: InstanceId,
        saga: model::ids::SagaId,
        record: &Record,
        view: &View,
        out: &mut Vec<Violation>,
    ) {
        let t = view.requests();
        let reason = t.saga(saga).and_then(|s| s.reason);
        let automatic = matches!(
            reason,
            Some(StartReason::AutoRestart | StartReason::IntentReconciler)
        );
        let Some((_, sled_line)) = self
            .guest_down
            .get(&instance)
            .filter(|(_, seq)| automatic && !run_like_since(view, instance, *seq))
        else {
            return;
        };
        let reason = reason.map(|r| r.to_string()).unwrap_or_default();
        let evidence = t.start_evidence(vec![*sled_line], saga, instance);
        out.push(Violation {
            checker: NAME,
            mechanism: format!("restart after the guest shut itself down on its sled ({reason})"),
            instance: Some(instance),
            at: record.at,
            message: format!(
                "{instance} committed MARK_AS_STARTING by start saga {saga} ({reason}) after its guest shut itself down on its sled, with no run-like request accepted since"
            ),
            evidence,
        });
    }
}

/// Whether the view shows a run-like request of `instance` that took
/// effect after record `seq`: accepted after it (Nexus's word, a create's
/// insert, or `fixed`'s validated intent write, which is the acceptance
/// even when the client never hears back), or indeterminate (it may have
/// been accepted at any time after it was sent).
fn run_like_since(view: &View, instance: InstanceId, seq: Seq) -> bool {
    view.requests()
        .accepted_of(instance)
        .into_iter()
        .filter(|r| r.class() == Class::RunLike)
        .any(|r| r.may_have_been_accepted() || r.accepted.is_some_and(|a| a.seq > seq))
}

impl Checker for NoUnintendedRestart {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, out: &mut Vec<Violation>) {
        if let RecordKind::Fault(f) = &record.kind {
            self.sled_agent_died(f);
        }
        let RecordKind::Model(e) = &record.kind else {
            return;
        };
        self.sled_truth(e, view);
        let Some(m) = mark_as_starting(e) else {
            return;
        };
        let t = view.requests();
        let Some(s) = t.unexcused_stop(m.instance, t.now().seq) else {
            self.judge_guest_shutdown(m.instance, m.saga, record, view, out);
            return;
        };
        let saga = t.saga(m.saga);
        let reason = saga
            .and_then(|s| s.reason)
            .map(|r| r.to_string())
            .unwrap_or_else(|| "unknown reason".into());
        let evidence = t.start_evidence(s.lines.clone(), m.saga, m.instance);
        out.push(Violation {
            checker: NAME,
            mechanism: format!("restart after {} {} ({reason})", s.kind.label(), s.outcome_words()),
            instance: Some(m.instance),
            at: record.at,
            message: format!(
                "{} committed MARK_AS_STARTING by start saga {} ({reason}) after {} {}, with no run-like request accepted since it was sent",
                m.instance,
                m.saga,
                s.describe(),
                s.outcome_words()
            ),
            evidence,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::db::protocol::{DbRequest, ValidatedAt};
    use model::event::{ApiOp, Cause};
    use model::states::{AutoRestartPolicy, IntendedState, StartReason};

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut NoUnintendedRestart::new())
    }

    /// Legacy #6809: the stop finds the VMM gone and answers 503, the
    /// instance goes Failed, and reincarnation starts it again.
    #[test]
    fn fires_on_legacy_6809() {
        let (mut s, id) =
            Story::answered_503_vmm_gone(ApiOp::Stop, Some(AutoRestartPolicy::BestEffort));
        s.advance(60_000);
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "restart after stop answered 503 (AutoRestart)"
        );
        assert_eq!(v[0].instance, Some(id));
        assert!(s
            .evidence(&v[0])
            .iter()
            .any(|l| l.contains("MARK_AS_STARTING")));
        assert!(s
            .evidence(&v[0])
            .iter()
            .any(|l| l.contains("<--") && l.contains("503")));
        assert!(s.evidence(&v[0]).iter().any(|l| l.contains("reincarnate")));
    }

    /// The §5.2 race: reincarnation selected a Failed instance, the user
    /// stopped it (Failed to NoVmm, no sled call), then the start saga
    /// marked it starting.
    #[test]
    fn fires_when_a_start_saga_outlives_a_completed_stop() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.forget(id);
        s.fail_vmm(
            id,
            Story::cause(
                model::ids::SagaId(1),
                model::db::rows::SagaName::InstanceUpdate,
                "watcher",
            ),
        );
        let saga = s.reincarnation_selects(id);
        let stop = s.send_accepted(ApiOp::Stop, id);
        let mut rt = s.row(id).runtime;
        rt.nexus_state = model::states::InstanceState::NoVmm;
        rt.gen = rt.gen.next();
        s.db(
            model::event::Cause::Api { req: stop },
            model::db::protocol::DbRequest::InstanceUpdateRuntime {
                id,
                new: rt,
                require_intent: None,
            },
        );
        s.respond(stop, ApiOp::Stop, "web", 202);
        s.saga_with_id(
            saga,
            model::db::rows::SagaName::InstanceStart,
            id,
            Some(StartReason::AutoRestart),
        );
        s.run_start_saga(saga, id, StartReason::AutoRestart);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "restart after stop answered 202 (AutoRestart)"
        );
    }

    #[test]
    fn fires_after_a_recorded_guest_shutdown() {
        let (mut s, id) = Story::guest_shutdown_after_create();
        s.start_saga(id, StartReason::IntentReconciler);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert!(v[0]
            .mechanism
            .starts_with("restart after guest shutdown recorded"));
    }

    /// Design must-not-fire: a reboot answered 503, then auto-restarted.
    #[test]
    fn quiet_on_reboot_503_then_auto_restart() {
        let (s, _) = Story::reboot_503_then_auto_restart(None);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Design must-not-fire: a stop with no response, then a restart.
    #[test]
    fn quiet_when_the_stop_got_no_response() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.forget(id);
        let stop = s.send_accepted(ApiOp::Stop, id);
        s.fail_vmm(id, model::event::Cause::Api { req: stop });
        s.no_response(stop, ApiOp::Stop, "web");
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Design must-not-fire: a start overlapping a stop; the start's saga
    /// marks the instance starting after the stop completed.
    #[test]
    fn quiet_when_a_start_overlaps_the_stop() {
        let (s, _) = Story::start_overlapping_stop();
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn quiet_when_the_user_starts_after_a_stop() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.stop(id, 202);
        s.start(id, 202);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// `fixed` writes a start's intent in the transaction that validates
    /// it: when that write commits, the start is accepted, even if the
    /// db's answer is lost and the user gets 503 before Nexus could say so.
    /// The reconciler that then carries the intent out is excused.
    #[test]
    fn quiet_when_a_validated_start_intent_committed_before_a_503() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.stop(id, 202);
        let start = s.send(ApiOp::Start, "web");
        let row = s.row(id);
        s.db(
            Cause::Api { req: start },
            DbRequest::InstanceSetIntendedState {
                id,
                intent: IntendedState::Running,
                validated_at: Some(ValidatedAt {
                    instance_gen: row.runtime.gen,
                    vmm: None,
                }),
            },
        );
        s.respond(start, ApiOp::Start, "web", 503);
        s.start_saga(id, StartReason::IntentReconciler);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// The same start, had its intent been written without validation
    /// (omicron writes it first), is not accepted: the restart fires.
    #[test]
    fn fires_when_an_unvalidated_start_intent_precedes_a_503() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.stop(id, 202);
        let start = s.send(ApiOp::Start, "web");
        s.set_intent(id, IntendedState::Running, Cause::Api { req: start });
        s.respond(start, ApiOp::Start, "web", 503);
        s.start_saga(id, StartReason::IntentReconciler);
        assert_eq!(check(&s).len(), 1, "{}", s.trace());
    }

    /// A create with `start = true` races a delete: the create's start
    /// half commits its Running intent after the delete's Destroyed and
    /// the delete answers 503. The reconciler's start carries out the
    /// create's intent, the last accepted (swarm seeds 18147, 18973 at
    /// e15e87f).
    #[test]
    fn quiet_when_a_creates_start_intent_commits_after_a_failed_delete() {
        let mut s = Story::new();
        let (id, create, del) = s.create_racing_delete("web");
        s.set_intent_validated(id, IntendedState::Running, create);
        s.respond(del, ApiOp::Delete, "web", 503);
        s.start_saga(id, StartReason::IntentReconciler);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// The same delete, with no run-like intent after it: the start fires.
    #[test]
    fn fires_when_a_start_follows_a_failed_delete_that_was_last() {
        let mut s = Story::new();
        let (id, create, del) = s.create_racing_delete("web");
        s.respond(create, Story::CREATE_START, "web", 201);
        s.respond(del, ApiOp::Delete, "web", 503);
        s.start_saga(id, StartReason::IntentReconciler);
        assert_eq!(check(&s).len(), 1, "{}", s.trace());
    }

    #[test]
    fn quiet_when_the_stop_was_rejected() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.forget(id);
        let stop = s.send(ApiOp::Stop, "web");
        s.reject(stop, ApiOp::Stop, id, 409);
        s.respond(stop, ApiOp::Stop, "web", 409);
        s.fail_vmm(id, model::event::Cause::Api { req: stop });
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// omicron #7282's mechanism: the guest powers off on its sled, the
    /// sled's pushes never reach Nexus, the watcher finds the VMM gone
    /// (404), fails the instance with intent Running, and reincarnation
    /// starts the guest again. Nexus never recorded the shutdown; the sled
    /// knew. Fires, quoting the sled's line.
    #[test]
    fn fires_on_an_auto_restart_after_an_unrecorded_guest_shutdown() {
        let (mut s, id) = unrecorded_guest_shutdown();
        s.watcher_fails_vmm(id);
        s.advance(60_000);
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "restart after the guest shut itself down on its sled (AutoRestart)"
        );
        assert!(
            s.evidence(&v[0])[0].contains("sled-0 vmm")
                && s.evidence(&v[0])[0].contains("Stopping"),
            "{:?}",
            s.evidence(&v[0])
        );
    }

    /// Seed 775 of `fixed`: a user start after the shutdown whose intent
    /// write committed (`fixed`'s acceptance) but whose client got no
    /// response; the reconciler carries the intent out. Quiet: the start
    /// was accepted after the shutdown. Without that start, the same
    /// reconciler start fires.
    #[test]
    fn quiet_when_fixed_accepted_a_start_its_client_never_heard_of() {
        let shut_down = || {
            let (mut s, id) = unrecorded_guest_shutdown();
            s.update_saga(id, model::states::InstanceState::NoVmm, None);
            (s, id)
        };
        let (mut s, id) = shut_down();
        let start = s.send(ApiOp::Start, "web");
        let row = s.row(id);
        s.db(
            Cause::Api { req: start },
            DbRequest::InstanceSetIntendedState {
                id,
                intent: IntendedState::Running,
                validated_at: Some(ValidatedAt {
                    instance_gen: row.runtime.gen,
                    vmm: None,
                }),
            },
        );
        s.no_response(start, ApiOp::Start, "web");
        s.start_saga(id, StartReason::IntentReconciler);
        assert!(check(&s).is_empty(), "{}", s.trace());

        let (mut e, id) = shut_down();
        e.start_saga(id, StartReason::IntentReconciler);
        let v = check(&e);
        assert_eq!(v.len(), 1, "{}", e.trace());
        assert_eq!(
            v[0].mechanism,
            "restart after the guest shut itself down on its sled (IntentReconciler)"
        );
    }

    /// A user start after the shutdown is a run-like request: quiet. A
    /// VMM the sled agent lost (not a guest shutdown) may be restarted.
    #[test]
    fn quiet_after_a_user_start_or_when_the_sled_lost_the_vmm() {
        let (mut s, id) = unrecorded_guest_shutdown();
        s.watcher_fails_vmm(id);
        let start = s.send_accepted(ApiOp::Start, id);
        s.start_saga(id, StartReason::User);
        s.respond(start, ApiOp::Start, "web", 202);
        assert!(check(&s).is_empty(), "{}", s.trace());

        let mut s = Story::new();
        let (id, _) = s.create("web", true, Some(AutoRestartPolicy::BestEffort));
        s.forget(id);
        s.watcher_fails_vmm(id);
        s.advance(60_000);
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// The sled agent died before its push reached Nexus: nobody knows the
    /// guest shut down, the VMM is gone with its sled agent, and
    /// reincarnating the Failed instance is omicron's right answer (RFD
    /// 486): quiet. The same story with a crash of another sled still fires.
    #[test]
    fn quiet_when_the_sled_agent_died_before_nexus_heard_of_the_shutdown() {
        let (mut s, id) = unrecorded_guest_shutdown();
        s.fault(crate::record::Fault::Crash {
            host: model::ids::HostId::Sled(model::ids::SledId(0)),
        });
        s.watcher_fails_vmm(id);
        s.advance(60_000);
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());

        let (mut s, id) = unrecorded_guest_shutdown();
        s.fault(crate::record::Fault::Crash {
            host: model::ids::HostId::Sled(model::ids::SledId(1)),
        });
        s.watcher_fails_vmm(id);
        s.advance(60_000);
        s.reincarnate(id);
        assert_eq!(check(&s).len(), 1, "{}", s.trace());
    }

    /// Swarm seed 10527 of `fixed` (build abce611): a start saga unwound
    /// and left the instance NoVmm with intent Running while its VMM went
    /// on running on a sled it could not reach (an orphan); the orphan's
    /// guest then powered off, and the reconciler started the instance.
    /// Quiet: the VMM that shut down was no longer the instance's, which
    /// owed a start already. The same shutdown while the VMM is still the
    /// instance's active VMM, then the same let-go and start, fires.
    #[test]
    fn quiet_when_the_vmm_that_shut_down_was_no_longer_the_instances() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, Some(AutoRestartPolicy::BestEffort));
        let vmm = s.active_vmm(id);
        s.update_saga(id, model::states::InstanceState::NoVmm, None);
        sled_reports_guest_shutdown(&mut s, id, vmm);
        s.start_saga(id, StartReason::IntentReconciler);
        assert!(check(&s).is_empty(), "{}", s.trace());

        let mut s = Story::new();
        let (id, _) = s.create("web", true, Some(AutoRestartPolicy::BestEffort));
        let vmm = s.active_vmm(id);
        sled_reports_guest_shutdown(&mut s, id, vmm);
        s.update_saga(id, model::states::InstanceState::NoVmm, None);
        s.start_saga(id, StartReason::IntentReconciler);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "restart after the guest shut itself down on its sled (IntentReconciler)"
        );
    }

    /// "web" running; its guest powers off on sled-0 and the VMM leaves
    /// the sled, and Nexus hears nothing of it.
    fn unrecorded_guest_shutdown() -> (Story, model::ids::InstanceId) {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, Some(AutoRestartPolicy::BestEffort));
        let vmm = s.active_vmm(id);
        sled_reports_guest_shutdown(&mut s, id, vmm);
        (s, id)
    }

    /// The guest of `vmm` powers off on sled-0: the sled's own reports
    /// (Stopping, Destroyed, gone), none of which reaches Nexus.
    fn sled_reports_guest_shutdown(
        s: &mut Story,
        id: model::ids::InstanceId,
        vmm: model::ids::VmmId,
    ) {
        s.fault(crate::record::Fault::GuestShutdown {
            instance: "web".into(),
        });
        // The sled's own reports; none reaches Nexus.
        let sled = model::ids::SledId(0);
        for (state, g) in [
            (model::states::VmmState::Stopping, 10),
            (model::states::VmmState::Destroyed, 11),
        ] {
            s.model(
                model::ids::HostId::Sled(sled),
                Event::VmmOnSled {
                    sled,
                    vmm,
                    instance: id,
                    state,
                    gen: model::states::Generation(g),
                },
            );
        }
        s.vmm_gone(vmm, model::event::VmmGoneReason::Destroyed);
    }
}
