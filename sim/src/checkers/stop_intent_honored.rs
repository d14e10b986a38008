//! `stop_intent_honored` (liveness): an instance whose last accepted
//! request is a stop, a create with `start: false` or a recorded guest
//! shutdown is Stopped or Failed, and no VMM of it is present on a sled that
//! is not lost. Deletes are `delete_honored`'s, so a history whose last
//! request may be a delete also accepts Destroyed here.
//!
//! When the last accepted request is indeterminate between a run-like and
//! a stop-like one (a create with `start = true` still in flight as a stop
//! completes), neither order may be assumed, but one of them must explain
//! the end: the instance is Running on an up sled (the run-like request
//! last; or no up sled has room for it), or it is stopped with no VMM
//! present (the stop-like request last). This checker fires when the end
//! fits neither order (mechanism `overlapping ... end ...`).
//!
//! The VMM half matters as much as the state half: the db can say Stopped
//! while a sled that was unreachable when Nexus gave up on it still runs
//! the guest, and a user who asked for a stop is still paying for it.

use super::end::{external_state, up_sled_has_room};
use super::history::{extend_unique, Seq};
use super::requests::{Class, ReqKind, Request};
use super::view::View;
use super::{Checker, FinalState, Violation};
use model::ids::InstanceId;
use model::states::{ExternalState, VmmState};

pub const NAME: &str = "stop_intent_honored";

#[derive(Debug, Default)]
pub struct StopIntentHonored {}

impl StopIntentHonored {
    pub fn new() -> StopIntentHonored {
        StopIntentHonored::default()
    }
}

impl StopIntentHonored {
    /// The end state after overlapping run-like and stop-like requests
    /// must satisfy one of their orders.
    fn judge_overlap(
        &self,
        id: InstanceId,
        last: &[&Request],
        view: &View,
        end: &FinalState<'_>,
        out: &mut Vec<Violation>,
    ) {
        let row = end.db.instance(id);
        let state = row.map(|r| external_state(end.db, r));
        let present: Vec<_> = view
            .sleds()
            .present_of(id)
            .into_iter()
            .filter(|(sled, _, _)| !end.sleds_lost.contains(sled))
            .collect();
        let may_be_deleted = last.iter().any(|r| r.kind == ReqKind::Delete);
        let stop_order = present.is_empty()
            && match state {
                Some(ExternalState::Stopped | ExternalState::Failed) => true,
                Some(ExternalState::Destroyed) | None => may_be_deleted,
                Some(_) => false,
            };
        let run_order = row.is_some_and(|r| {
            let running = state == Some(ExternalState::Running)
                && r.runtime.propolis_id.is_some_and(|v| {
                    end.db.vmm(v).is_some_and(|vr| {
                        end.sleds_up.contains(&vr.sled_id)
                            && view
                                .sleds()
                                .get(vr.sled_id, v)
                                .is_some_and(|o| o.state == VmmState::Running)
                    })
                });
            running || !up_sled_has_room(end, r)
        });
        if stop_order || run_order {
            return;
        }
        let shown = state
            .map(|s| s.to_string())
            .unwrap_or_else(|| "without an instance record".into());
        let mut what: Vec<String> = last.iter().map(|r| r.describe()).collect();
        what.sort();
        what.dedup();
        let what = what.join(" or ");
        let vmm = match present.first() {
            Some((sled, vmm, o)) => format!(" with VMM {vmm} {} on {sled}", o.state),
            None => String::new(),
        };
        let mut evidence: Vec<Seq> = Vec::new();
        for r in last {
            extend_unique(&mut evidence, r.lines.clone());
        }
        if let Some((_, _, o)) = present.first() {
            extend_unique(&mut evidence, vec![o.line]);
        }
        extend_unique(&mut evidence, view.requests().history(id, 16));
        out.push(Violation {
            checker: NAME,
            mechanism: format!("overlapping run-like and stop-like requests end {shown}"),
            instance: Some(id),
            at: end.at,
            message: format!(
                "{id}'s last accepted request is any of {what}, but at the end it is {shown}{vmm}: \
                 neither Running on an up sled nor stopped with no VMM present, so no order of them explains it"
            ),
            evidence,
        });
    }
}

impl Checker for StopIntentHonored {
    fn name(&self) -> &'static str {
        NAME
    }

    fn finish(&mut self, view: &View, end: &FinalState<'_>, out: &mut Vec<Violation>) {
        for id in view.requests().instances_with_requests() {
            let t = view.requests();
            let last = t.possible_last(id);
            let mixed = last.iter().any(|r| r.class() == Class::RunLike)
                && last.iter().any(|r| r.class() == Class::StopLike);
            if mixed {
                self.judge_overlap(id, &last, view, end, out);
                continue;
            }
            if last.is_empty()
                || !last.iter().all(|r| r.class() == Class::StopLike)
                || last.iter().all(|r| r.kind == ReqKind::Delete)
            {
                continue;
            }
            let may_be_deleted = last.iter().any(|r| r.kind == ReqKind::Delete);
            let kinds = {
                let mut k: Vec<&str> = last
                    .iter()
                    .filter(|r| r.kind != ReqKind::Delete)
                    .map(|r| r.kind.label())
                    .collect();
                k.sort();
                k.dedup();
                k.join(" or ")
            };
            let what = {
                let mut k: Vec<String> = last.iter().map(|r| r.describe()).collect();
                k.sort();
                k.join(" or ")
            };
            let evidence = |extra: Vec<Seq>| {
                let mut ev: Vec<Seq> = Vec::new();
                for r in &last {
                    extend_unique(&mut ev, r.lines.clone());
                }
                extend_unique(&mut ev, extra);
                extend_unique(&mut ev, t.history(id, 16));
                ev
            };
            let row = end.db.instance(id);
            let state = row.map(|r| external_state(end.db, r));
            let state_ok = match state {
                Some(ExternalState::Stopped | ExternalState::Failed) => true,
                Some(ExternalState::Destroyed) | None => may_be_deleted,
                Some(_) => false,
            };
            if !state_ok {
                let shown = state
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "without an instance record".into());
                out.push(Violation {
                    checker: NAME,
                    mechanism: format!("{kinds} ends {shown}"),
                    instance: Some(id),
                    at: end.at,
                    message: format!(
                        "{id}'s last accepted request is {what}, but at the end it is {shown}"
                    ),
                    evidence: evidence(Vec::new()),
                });
                continue;
            }
            let present: Vec<_> = view
                .sleds()
                .present_of(id)
                .into_iter()
                .filter(|(sled, _, _)| !end.sleds_lost.contains(sled))
                .collect();
            if let Some((sled, vmm, o)) = present.first() {
                out.push(Violation {
                    checker: NAME,
                    mechanism: match view.sleds().upstream_leak(*vmm) {
                        Some(leak) => format!("{kinds} leaves a VMM present, {leak}"),
                        None => format!("{kinds} leaves a VMM present"),
                    },
                    instance: Some(id),
                    at: end.at,
                    message: format!(
                        "{id}'s last accepted request is {what}, but VMM {vmm} is still {} on {sled}",
                        o.state
                    ),
                    evidence: evidence(vec![o.line]),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::event::ApiOp;
    use model::ids::SledId;
    use model::states::StartReason;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut StopIntentHonored::new())
    }

    #[test]
    fn quiet_after_a_stop() {
        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.stop(id, 202);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Legacy #6809's end: stopped by the user, restarted by reincarnation.
    #[test]
    fn fires_when_a_stopped_instance_ends_running() {
        let (mut s, id) = Story::answered_503_vmm_gone(ApiOp::Stop, None);
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "stop ends Running");
    }

    #[test]
    fn fires_when_a_create_start_false_ends_running() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        s.start_saga(id, StartReason::IntentReconciler);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "create start=false ends Running");
    }

    /// The watcher failed the VMM of a sled it could not reach (mgs said
    /// off); the sled comes back with the guest still running.
    #[test]
    fn fires_when_a_failed_instance_still_has_its_vmm_on_a_sled() {
        let (mut s, id, stop) = Story::stop_accepted();
        s.respond(stop, ApiOp::Stop, "web", 504);
        s.watcher_fails_vmm(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "stop leaves a VMM present");
    }

    #[test]
    fn quiet_when_the_vmm_is_on_a_lost_sled() {
        let (mut s, id, stop) = Story::stop_accepted();
        s.respond(stop, ApiOp::Stop, "web", 504);
        s.fault(crate::record::Fault::LoseSled { sled: SledId(0) });
        s.watcher_fails_vmm(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Design must-not-fire: a stop with no response that never happened.
    #[test]
    fn quiet_when_a_stop_with_no_response_did_not_take_effect() {
        let (s, _) = Story::stop_with_no_response();
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Design must-not-fire: a start overlapping a stop, start wins.
    #[test]
    fn quiet_when_a_start_overlaps_a_stop() {
        let (s, _) = Story::start_overlapping_stop();
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Design must-not-fire: a guest shutdown after a start: Stopped.
    #[test]
    fn quiet_on_a_guest_shutdown_after_a_start() {
        let (s, _) = Story::guest_shutdown_after_create();
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn fires_when_a_guest_shutdown_is_undone_by_a_restart() {
        let (mut s, id) = Story::guest_shutdown_after_create();
        s.start_saga(id, StartReason::IntentReconciler);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "guest shutdown ends Running");
    }

    /// A create with start = true still in flight (no response yet) while
    /// a stop is accepted and answered: the create's start saga runs the
    /// VMM, then the watcher fails it though the sled still runs it. The
    /// end is Failed with a VMM present: not Running (the create last) and
    /// not stopped with no VMM (the stop last). It fires.
    #[test]
    fn fires_when_a_create_and_a_stop_overlap_and_the_end_fits_neither() {
        let (s, id) = create_overlapping_stop();
        let mut s = s;
        s.watcher_fails_vmm(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "overlapping run-like and stop-like requests end Failed"
        );
        assert!(
            v[0].message.contains("no order of them"),
            "{}",
            v[0].message
        );
    }

    /// The same overlap, ending either way: quiet.
    #[test]
    fn quiet_when_a_create_and_a_stop_overlap_and_the_end_fits_one_order() {
        // The create's start last: Running.
        let (s, _) = create_overlapping_stop();
        assert!(check(&s).is_empty(), "{}", s.trace());
        // The stop last: stopped, no VMM.
        let (mut s, id) = create_overlapping_stop();
        s.stop_vmm(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// "web": a create with start = true, accepted and not answered; a stop
    /// accepted and answered 202 meanwhile; the create's start saga runs.
    fn create_overlapping_stop() -> (Story, model::ids::InstanceId) {
        let mut s = Story::new();
        let (id, _create) = s.create_accepted("web");
        let stop = s.send_accepted(ApiOp::Stop, id);
        s.respond(stop, ApiOp::Stop, "web", 202);
        s.start_saga(id, StartReason::AutoStart);
        (s, id)
    }
}
