//! `auto_restart_respects_policy` (safety): a start with reason
//! `AutoRestart` (reincarnation) only revives an instance that was Failed,
//! or on a SagaUnwound VMM, in the row reincarnation selected; whose policy
//! is not `never`; and whose last auto-restart, as the history shows it,
//! is at least one cooldown old.
//!
//! Judged at the start saga's `MARK_AS_STARTING` commit, the moment the
//! restart takes hold, against the row reincarnation selected (the
//! `Decision::Reincarnate` with the saga's id), the only moment omicron
//! consults policy and cooldown. The cooldown is measured from the
//! auto-restarts this checker saw commit before the selection, not from
//! `time_last_auto_restarted`, the field the code under test writes (an
//! auto-restart that forgets to stamp it would otherwise hide itself). A
//! restart's time is the earliest its stamp can carry: the saga's last
//! node before the commit (`sis_move_to_starting` reads the clock after
//! that node and before its write lands). Two auto-restart sagas in flight at once (one resumed after a
//! Nexus crash, one newly selected) may each commit in turn, a few seconds
//! apart, when the first unwinds before its VMM runs; each was selected
//! within the rules, so that is not judged a violation here. User starts
//! carry out a user's request and are `no_unintended_restart`'s business.
//! A reconciler start (`fixed`) of an instance that was Failed is a restart
//! by something other than a user request, whatever reason its saga
//! carries: it is judged too (its policy must not be `never`), so a
//! reconciler that revives what reincarnation may not is caught.

use super::history::Seq;
use super::requests::{mark_as_starting, MarkAsStarting};
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Record, RecordKind};
use model::db::rows::InstanceRow;
use model::event::Event;
use model::ids::{InstanceId, Millis, SagaId};
use model::states::{AutoRestartPolicy, InstanceState, StartReason, VmmState};
use std::collections::BTreeMap;

pub const NAME: &str = "auto_restart_respects_policy";

#[derive(Debug)]
pub struct AutoRestartRespectsPolicy {
    default_cooldown: Millis,
    /// The time of each saga's latest node record.
    node_at: BTreeMap<SagaId, Millis>,
    /// The auto-restarts the history shows, per instance: the commit's
    /// record and the earliest time its stamp can carry.
    restarts: BTreeMap<InstanceId, Vec<(Seq, Millis)>>,
}

impl AutoRestartRespectsPolicy {
    /// `default_cooldown_ms`: what a NULL `auto_restart_cooldown` means.
    pub fn new(default_cooldown_ms: u64) -> AutoRestartRespectsPolicy {
        AutoRestartRespectsPolicy {
            default_cooldown: Millis(default_cooldown_ms),
            node_at: BTreeMap::new(),
            restarts: BTreeMap::new(),
        }
    }

    fn cooldown(&self, row: &InstanceRow) -> Millis {
        row.auto_restart_cooldown.unwrap_or(self.default_cooldown)
    }

    /// The last auto-restart of `id` the history showed before record
    /// `seq` (the selection), and when the next may happen.
    fn cool_at(&self, row: &InstanceRow, seq: Seq) -> Option<(Millis, Millis)> {
        self.restarts
            .get(&row.id)?
            .iter()
            .rev()
            .find(|(s, _)| *s < seq)
            .map(|(_, at)| (*at, *at + self.cooldown(row)))
    }
}

impl Checker for AutoRestartRespectsPolicy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, out: &mut Vec<Violation>) {
        let RecordKind::Model(e) = &record.kind else {
            return;
        };
        if let Event::SagaNode { saga, .. } = e {
            self.node_at.insert(*saga, record.at);
        }
        let Some(m) = mark_as_starting(e) else {
            return;
        };
        if view
            .requests()
            .saga(m.saga)
            .is_some_and(|i| i.reason == Some(StartReason::AutoRestart))
        {
            self.judge(record, view, &m, out);
            let at = self.node_at.get(&m.saga).copied().unwrap_or(record.at);
            self.restarts
                .entry(m.instance)
                .or_default()
                .push((view.seq(), at));
            return;
        }
        let t = view.requests();
        let Some(info) = t.saga(m.saga) else {
            return;
        };
        if info.reason == Some(StartReason::IntentReconciler)
            && m.before.runtime.nexus_state == InstanceState::Failed
            && m.before.auto_restart_policy == Some(AutoRestartPolicy::Never)
        {
            let evidence = t.start_evidence(Vec::new(), m.saga, m.instance);
            out.push(Violation {
                checker: NAME,
                mechanism: "reconciler restart of a Failed instance with policy never".to_string(),
                instance: Some(m.instance),
                at: record.at,
                message: format!(
                    "start saga {} (IntentReconciler) committed MARK_AS_STARTING of {}, which was Failed with auto_restart_policy never",
                    m.saga, m.instance
                ),
                evidence,
            });
        }
    }
}

impl AutoRestartRespectsPolicy {
    /// An AutoRestart start saga's commit, against the row reincarnation
    /// selected.
    fn judge(&self, record: &Record, view: &View, m: &MarkAsStarting, out: &mut Vec<Violation>) {
        let t = view.requests();
        let Some(info) = t.saga(m.saga) else {
            return;
        };
        // Without a recorded selection, judge the row the commit replaced:
        // the best evidence of what the saga started from.
        let (selected, vmm_state, selected_at, selected_seq) = match &info.selection {
            Some(s) => (&s.row, s.vmm_state, s.at, s.line),
            None => (
                &m.before,
                m.before
                    .runtime
                    .propolis_id
                    .and_then(|v| t.vmm_row(v))
                    .map(|v| v.runtime.state),
                record.at,
                view.seq(),
            ),
        };
        let st = selected.runtime.nexus_state;
        let revivable = (st == InstanceState::Failed && selected.runtime.propolis_id.is_none())
            || (st == InstanceState::Vmm && vmm_state == Some(VmmState::SagaUnwound));
        let problem = if !revivable {
            let what = match (st, vmm_state) {
                (InstanceState::Vmm, Some(v)) => format!("Vmm on a {v} VMM"),
                _ => st.to_string(),
            };
            Some((
                format!("auto-restart of a {what} instance"),
                format!("the selected row was {what}, neither Failed nor on a SagaUnwound VMM"),
            ))
        } else if selected.auto_restart_policy == Some(AutoRestartPolicy::Never) {
            Some((
                "auto-restart with policy never".to_string(),
                "the selected row's auto_restart_policy is never".to_string(),
            ))
        } else {
            self.cool_at(selected, selected_seq)
                .filter(|(_, cool)| selected_at < *cool)
                .map(|(last, cool)| {
                    (
                        "auto-restart within cooldown".to_string(),
                        format!(
                            "selected at {selected_at}, before its cooldown ended at {cool} (last auto-restart the history shows: {last})"
                        ),
                    )
                })
        };
        let Some((mechanism, why)) = problem else {
            return;
        };
        let evidence = t.start_evidence(Vec::new(), m.saga, m.instance);
        out.push(Violation {
            checker: NAME,
            mechanism,
            instance: Some(m.instance),
            at: record.at,
            message: format!(
                "start saga {} (AutoRestart) committed MARK_AS_STARTING of {}, but {why}",
                m.saga, m.instance
            ),
            evidence,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;

    const COOLDOWN: u64 = 300_000;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut AutoRestartRespectsPolicy::new(COOLDOWN))
    }

    fn failed(s: &mut Story, policy: Option<AutoRestartPolicy>) -> model::ids::InstanceId {
        let (id, _) = s.create("web", true, policy);
        s.forget(id);
        s.watcher_fails_vmm(id);
        id
    }

    #[test]
    fn quiet_on_a_failed_best_effort_instance() {
        let mut s = Story::new();
        let id = failed(&mut s, None);
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// Design must-not-fire: a reboot answered 503, then auto-restarted.
    #[test]
    fn quiet_on_reboot_503_then_auto_restart() {
        let (s, _) = Story::reboot_503_then_auto_restart(Some(AutoRestartPolicy::BestEffort));
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn fires_with_policy_never() {
        let mut s = Story::new();
        let id = failed(&mut s, Some(AutoRestartPolicy::Never));
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "auto-restart with policy never");
    }

    #[test]
    fn fires_on_an_instance_that_was_not_failed() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "auto-restart of a NoVmm instance");
    }

    /// Failed, auto-restarted, failed again, and `wait` ms later
    /// reincarnation restarts it once more.
    fn restarted_twice(wait: u64) -> Story {
        let mut s = Story::new();
        let id = failed(&mut s, None);
        s.reincarnate(id);
        s.forget(id);
        s.watcher_fails_vmm(id);
        s.advance(wait);
        s.reincarnate(id);
        s
    }

    #[test]
    fn fires_within_the_cooldown() {
        let s = restarted_twice(COOLDOWN / 2);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "auto-restart within cooldown");
    }

    /// The `start-no-restart-stamp` mutation: the first auto-restart
    /// forgets to stamp `time_last_auto_restarted`, so reincarnation (which
    /// reads that field) restarts the instance again at once. The cooldown
    /// comes from the restarts the history shows: fires. A second restart
    /// one cooldown later is quiet, stamp or no stamp.
    #[test]
    fn fires_within_the_cooldown_when_the_restart_left_no_stamp() {
        let story = |wait: u64| {
            let mut s = Story::new();
            s.no_restart_stamp = true;
            let id = failed(&mut s, None);
            s.reincarnate(id);
            assert_eq!(s.row(id).runtime.time_last_auto_restarted, None);
            s.forget(id);
            s.watcher_fails_vmm(id);
            s.advance(wait);
            s.reincarnate(id);
            s
        };
        let s = story(1_000);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "auto-restart within cooldown");
        assert!(
            v[0].message.contains("the history shows"),
            "{}",
            v[0].message
        );
        let s = story(COOLDOWN);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn quiet_once_the_cooldown_is_over() {
        let s = restarted_twice(COOLDOWN);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn the_cooldown_default_is_a_parameter() {
        let s = restarted_twice(10_000);
        assert!(s.run(&mut AutoRestartRespectsPolicy::new(5_000)).is_empty());
        assert_eq!(s.run(&mut AutoRestartRespectsPolicy::new(60_000)).len(), 1);
    }

    #[test]
    fn user_and_reconciler_starts_are_not_judged() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, Some(AutoRestartPolicy::Never));
        s.start_saga(id, StartReason::User);
        s.stop(id, 202);
        s.start_saga(id, StartReason::IntentReconciler);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn the_rows_own_cooldown_wins_over_the_default() {
        let mut s = Story::new();
        s.cooldown = Some(Millis(10_000));
        let id = failed(&mut s, None);
        s.reincarnate(id);
        s.forget(id);
        s.watcher_fails_vmm(id);
        s.advance(20_000);
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// A start saga unwound and its move back to NoVmm lost a race: the
    /// instance points at a SagaUnwound VMM, which reincarnation revives.
    #[test]
    fn quiet_on_a_saga_unwound_vmm_and_fires_on_a_running_one() {
        use model::db::protocol::DbRequest;
        use model::db::rows::SagaName;
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let saga = s.saga(SagaName::InstanceStart, id, Some(StartReason::User));
        let vmm = s.start_until_marked(saga, id, StartReason::User);
        s.db(
            Story::cause(saga, SagaName::InstanceStart, "CREATE_VMM_RECORD"),
            DbRequest::VmmMarkSagaUnwound { id: vmm },
        );
        s.saga_finish(
            saga,
            SagaName::InstanceStart,
            id,
            model::db::rows::SagaState::Unwound,
        );
        s.reincarnate(id);
        assert!(check(&s).is_empty(), "{}", s.trace());

        let mut s = Story::new();
        let (id, _) = s.create("web", true, None);
        s.reincarnate(id);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "auto-restart of a Vmm on a Running VMM instance"
        );
    }

    /// A mutated `fixed` reconciler that restarts a Failed instance whose
    /// policy is never: fires, although its saga's reason is not
    /// AutoRestart.
    #[test]
    fn fires_on_a_reconciler_restart_of_a_failed_never_instance() {
        let mut s = Story::new();
        let id = failed(&mut s, Some(AutoRestartPolicy::Never));
        s.start_saga(id, StartReason::IntentReconciler);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "reconciler restart of a Failed instance with policy never"
        );
    }
}
