//! `sagas_settle` (liveness): no saga is left running, unwinding or
//! `stuck`.
//!
//! A saga left running holds its instance hostage (a start saga in flight
//! keeps the reconciler away, an update saga holds the lock); a stuck saga
//! is steno's terminal "an undo failed", which omicron cannot leave without
//! an operator (#7727, #9174: an unwinding start whose `ENSURE_REGISTERED`
//! undo finds the VMM gone). The saga table is read from the db at the end;
//! the mechanism names the saga and, when stuck, the node whose undo failed,
//! so that the known-upstream list can name exactly that case. The node
//! comes from the undo failure the checker saw, or else from the db's saga
//! log: a Nexus that crashed between logging the failure and reporting it
//! left only the log (swarm fixed seed 129, once the swarm drew holds
//! between a Nexus and a sled).

use super::history::{Lines, Seq};
use super::view::View;
use super::{Checker, FinalState, Violation};
use crate::record::{Record, RecordKind};
use model::db::rows::{NodeEventKind, SagaState};
use model::event::{Cause, Decision, Event, NodeStep};
use model::ids::SagaId;
use model::nexus::sagas::node_name;
use std::collections::BTreeMap;

pub const NAME: &str = "sagas_settle";

/// Lines kept per saga: its creation, its last nodes, its writes.
const SAGA_HISTORY: usize = 24;

#[derive(Debug, Default)]
pub struct SagasSettle {
    lines: BTreeMap<SagaId, Lines>,
    /// The node whose undo failed last, per saga.
    undo_failed: BTreeMap<SagaId, String>,
    /// The last node each saga logged.
    last_node: BTreeMap<SagaId, String>,
}

impl SagasSettle {
    pub fn new() -> SagasSettle {
        SagasSettle::default()
    }

    fn remember(&mut self, saga: SagaId, seq: Seq) {
        self.lines
            .entry(saga)
            .or_insert_with(|| Lines::new(SAGA_HISTORY))
            .push(seq);
    }
}

impl Checker for SagasSettle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, record: &Record, view: &View, _out: &mut Vec<Violation>) {
        let RecordKind::Model(e) = &record.kind else {
            return;
        };
        let saga = match e {
            Event::SagaCreated { saga, .. }
            | Event::SagaResumed { saga, .. }
            | Event::SagaFinished { saga, .. } => Some(*saga),
            Event::SagaNode {
                saga, node, step, ..
            } => {
                self.last_node.insert(*saga, node.clone());
                if let NodeStep::UndoFailed(_) = step {
                    self.undo_failed.insert(*saga, node.clone());
                }
                Some(*saga)
            }
            Event::InstanceWrite { cause, .. }
            | Event::VmmWrite { cause, .. }
            | Event::ReservationWrite { cause, .. } => match cause {
                Cause::Saga { saga, .. } => Some(*saga),
                _ => None,
            },
            Event::TaskDecision {
                decision:
                    Decision::Reincarnate { saga, .. }
                    | Decision::StartUpdate { saga }
                    | Decision::RecoverSaga { saga, .. }
                    | Decision::ReconcileStart { saga },
                ..
            } => Some(*saga),
            _ => None,
        };
        if let Some(s) = saga {
            self.remember(s, view.seq());
        }
    }

    fn finish(&mut self, view: &View, end: &FinalState<'_>, out: &mut Vec<Violation>) {
        for saga in end.db.sagas() {
            let stuck = saga.state == SagaState::Stuck || end.db.saga_stuck(saga.id);
            let (mechanism, how) = if stuck {
                let logged = || {
                    let e = end
                        .db
                        .saga_log(saga.id)
                        .iter()
                        .rev()
                        .find(|e| e.kind == NodeEventKind::UndoFailed)?;
                    node_name(saga.name, e.node).map(str::to_string)
                };
                match self.undo_failed.get(&saga.id).cloned().or_else(logged) {
                    Some(node) => (
                        format!("{} stuck ({node} undo failed)", saga.name),
                        format!("stuck: the undo of {node} failed"),
                    ),
                    None => (format!("{} stuck", saga.name), "stuck".to_string()),
                }
            } else {
                match saga.state {
                    SagaState::Running => (
                        format!("{} left running", saga.name),
                        match self.last_node.get(&saga.id) {
                            Some(n) => format!("still running (last node {n})"),
                            None => "still running, no node done".to_string(),
                        },
                    ),
                    SagaState::Unwinding => (
                        format!("{} left unwinding", saga.name),
                        "still unwinding".to_string(),
                    ),
                    _ => continue,
                }
            };
            let mut evidence = self
                .lines
                .get(&saga.id)
                .map(|l| l.all())
                .unwrap_or_default();
            // A saga that logged nothing (only its table row says it
            // exists): its instance's history is the best evidence.
            if evidence.is_empty() {
                evidence = view.requests().history(saga.instance_id, 12);
            }
            out.push(Violation {
                checker: NAME,
                mechanism,
                instance: Some(saga.instance_id),
                at: end.at,
                message: format!(
                    "saga {} {} for {} (owned by {}) is {how} at the end",
                    saga.name, saga.id, saga.instance_id, saga.current_sec
                ),
                evidence,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::testkit::Story;
    use model::db::rows::SagaName;
    use model::states::StartReason;

    fn check(s: &Story) -> Vec<Violation> {
        s.run(&mut SagasSettle::new())
    }

    #[test]
    fn quiet_when_every_saga_finished() {
        let (s, _) = Story::stopped_and_deleted();
        assert!(check(&s).is_empty(), "{}", s.trace());
    }

    #[test]
    fn fires_on_a_saga_left_running() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let saga = s.saga(SagaName::InstanceStart, id, Some(StartReason::User));
        s.node(
            saga,
            SagaName::InstanceStart,
            "ALLOC_SERVER",
            NodeStep::Done,
        );
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(v[0].mechanism, "instance-start left running");
        assert!(v[0].message.contains("ALLOC_SERVER"));
    }

    /// #7727/#9174: the unwinding start saga's ENSURE_REGISTERED undo
    /// finds the VMM gone, and the saga is stuck.
    #[test]
    fn fires_on_a_stuck_saga_naming_the_node() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let n = SagaName::InstanceStart;
        let saga = s.saga(n, id, Some(StartReason::User));
        s.node(
            saga,
            n,
            "ENSURE_RUNNING",
            NodeStep::Failed("sled 500".into()),
        );
        s.node(
            saga,
            n,
            "ENSURE_REGISTERED",
            NodeStep::UndoFailed("vmm gone".into()),
        );
        s.saga_finish(saga, n, id, SagaState::Stuck);
        let v = check(&s);
        assert_eq!(v.len(), 1, "{}", s.trace());
        assert_eq!(
            v[0].mechanism,
            "instance-start stuck (ENSURE_REGISTERED undo failed)"
        );
    }

    #[test]
    fn fires_on_a_saga_left_unwinding() {
        let mut s = Story::new();
        let (id, _) = s.create("web", false, None);
        let n = SagaName::InstanceUpdate;
        let saga = s.saga(n, id, None);
        s.saga_finish(saga, n, id, SagaState::Unwinding);
        let v = check(&s);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].mechanism, "instance-update left unwinding");
    }
}
