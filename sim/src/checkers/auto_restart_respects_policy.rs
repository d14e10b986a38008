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
//! auto-restarts the selected row reflects (committed at a generation no
//! newer than the row's), not from
//! `time_last_auto_restarted`, the field the code under test writes (an
//! auto-restart that forgets to stamp it would otherwise hide itself). A
//! restart's time is the earliest its stamp can carry: the saga's last
//! node before the commit (`sis_move_to_starting` reads the clock after
//! that node and before its write lands). Two auto-restart sagas in flight
//! at once (one resumed after a Nexus crash, one newly selected) may each
//! commit in turn, a few seconds apart, when the first unwinds before its
//! VMM runs; each was selected within the rules, so that is not judged a
//! violation here. That holds even when the second selection's Decision is
//! recorded after the first's commit, from a row read before it (swarm
//! seed 8141 at build 91bf77b): the order of records is not what the
//! selection saw, the row's generation is. User starts
//! carry out a user's request and are `no_unintended_restart`'s business.
//! A reconciler start (`fixed`) of an instance that was Failed is a restart
//! by something other than a user request, whatever reason its saga
//! carries: it is judged too (its policy must not be `never`), so a
//! reconciler that revives what reincarnation may not is caught.

use super::requests::{mark_as_starting, MarkAsStarting};
use super::view::View;
use super::{Checker, Violation};
use crate::record::{Record, RecordKind};
use model::db::rows::InstanceRow;
use model::event::Event;
use model::ids::{InstanceId, Millis, SagaId};
use model::states::{AutoRestartPolicy, Generation, InstanceState, StartReason, VmmState};
use std::collections::BTreeMap;

pub const NAME: &str = "auto_restart_respects_policy";

#[derive(Debug)]
pub struct AutoRestartRespectsPolicy {
    default_cooldown: Millis,
    /// The time of each saga's latest node record.
    node_at: BTreeMap<SagaId, Millis>,
    /// The auto-restarts the history shows, per instance: the generation
    /// the commit wrote and the earliest time its stamp can carry.
    restarts: BTreeMap<InstanceId, Vec<(Generation, Millis)>>,
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

    /// The last auto-restart of the selected `row` that the row reflects
    /// (committed at a generation no newer than the row's; a rival's commit
    /// after the row was read is not in it), and when the next may happen.
    fn cool_at(&self, row: &InstanceRow) -> Option<(Millis, Millis)> {
        self.restarts
            .get(&row.id)?
            .iter()
            .rev()
            .find(|(g, _)| *g <= row.runtime.gen)
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
                .push((m.after.runtime.gen, at));
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
        let (selected, vmm_state, selected_at) = match &info.selection {
            Some(s) => (&s.row, s.vmm_state, s.at),
            None => (
                &m.before,
                m.before
                    .runtime
                    .propolis_id
                    .and_then(|v| t.vmm_row(v))
                    .map(|v| v.runtime.state),
                record.at,
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
            self.cool_at(selected)
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

    /// The selected row in reincarnation's decision is the code under
    /// test's own claim. A decision that names the row's generation but
    /// says Failed (or policy best_effort) while the db held it Running
    /// (or the record says never) is judged by what the db held: fires.
    #[test]
    fn fires_when_the_decision_misreports_the_row_it_selected() {
        use model::event::{BackgroundTask, Decision, ReincarnationReason};
        use model::ids::{HostId, NexusId};
        let lie = |policy: Option<AutoRestartPolicy>| {
            let mut s = Story::new();
            let (id, _) = s.create("web", true, policy);
            let mut claimed = s.row(id);
            let saga = SagaId(777);
            if policy == Some(AutoRestartPolicy::Never) {
                s.forget(id);
                s.watcher_fails_vmm(id);
                claimed = s.row(id);
                claimed.auto_restart_policy = Some(AutoRestartPolicy::BestEffort);
            } else {
                claimed.runtime.nexus_state = InstanceState::Failed;
                claimed.runtime.propolis_id = None;
            }
            s.model(
                HostId::Nexus(NexusId(0)),
                Event::TaskDecision {
                    task: BackgroundTask::InstanceReincarnation,
                    instance: id,
                    decision: Decision::Reincarnate {
                        saga,
                        reason: ReincarnationReason::Failed,
                        selected: Box::new(claimed),
                    },
                },
            );
            s.saga_with_id(
                saga,
                model::db::rows::SagaName::InstanceStart,
                id,
                Some(StartReason::AutoRestart),
            );
            s.run_start_saga(saga, id, StartReason::AutoRestart);
            s
        };
        let s = lie(Some(AutoRestartPolicy::BestEffort));
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "auto-restart of a Vmm on a Running VMM instance"
        );

        let s = lie(Some(AutoRestartPolicy::Never));
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "auto-restart with policy never");
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
            DbRequest::VmmMarkSagaUnwound {
                id: vmm,
                keep_ended: false,
            },
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

    /// A rival auto-restart (selected from the Failed row) commits
    /// `MARK_AS_STARTING` and unwinds, its VMM marked SagaUnwound; a second
    /// selection, recorded after, is made from the row `selected` returns.
    /// Returns the story after the second restart's commit.
    fn rival_then_selection(selected: impl FnOnce(&Story, InstanceRow) -> InstanceRow) -> Story {
        use model::db::protocol::DbRequest;
        use model::db::rows::{SagaName, SagaState};
        use model::event::{BackgroundTask, Decision, ReincarnationReason};
        let mut s = Story::new();
        let id = failed(&mut s, None);
        let read_before = s.row(id);
        let rival = s.reincarnation_selects(id);
        s.saga_with_id(
            rival,
            SagaName::InstanceStart,
            id,
            Some(StartReason::AutoRestart),
        );
        let vmm = s.start_until_marked(rival, id, StartReason::AutoRestart);
        s.advance(1_000);
        s.db(
            Story::cause(rival, SagaName::InstanceStart, "CREATE_VMM_RECORD"),
            DbRequest::VmmMarkSagaUnwound {
                id: vmm,
                keep_ended: false,
            },
        );
        s.saga_finish(rival, SagaName::InstanceStart, id, SagaState::Unwound);
        let row = selected(&s, read_before);
        let second = SagaId(9_999);
        s.model(
            crate::checkers::testkit::NEXUS,
            Event::TaskDecision {
                task: BackgroundTask::InstanceReincarnation,
                instance: id,
                decision: Decision::Reincarnate {
                    saga: second,
                    reason: ReincarnationReason::Failed,
                    selected: Box::new(row),
                },
            },
        );
        s.saga_with_id(
            second,
            SagaName::InstanceStart,
            id,
            Some(StartReason::AutoRestart),
        );
        s.start_until_marked(second, id, StartReason::AutoRestart);
        s
    }

    /// Seed 8141's shape: the second selection's Decision is recorded after
    /// the rival's commit but from the row read before it (Failed, the
    /// older generation). Two restarts in flight, each selected within the
    /// rules: quiet.
    #[test]
    fn quiet_when_the_rivals_commit_postdates_the_selected_row() {
        let s = rival_then_selection(|_, before| before);
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    /// The same, but the selection reflects the rival's commit (the row on
    /// its SagaUnwound VMM): the rival's restart counts, within cooldown.
    #[test]
    fn fires_when_the_selected_row_reflects_the_rivals_commit() {
        let s = rival_then_selection(|s, before| s.row(before.id));
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "auto-restart within cooldown");
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
