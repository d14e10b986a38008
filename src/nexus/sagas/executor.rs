//! The saga executor: steno, reduced to what the instance lifecycle needs.
//!
//! A saga is declared as data: an ordered list of [`Node`]s, each with its
//! action and, beside it, its undo. The saga's typed state (its params and
//! every node's output) is logged in the db after each node, so a Nexus that
//! restarts resumes its own unfinished sagas from the log. An action runs at
//! least once: after a crash before its completion was logged it runs
//! again, so every action is idempotent. An action that fails unwinds the
//! saga: the undos of the completed nodes run in reverse order. An undo
//! that fails leaves the saga `stuck`, steno's terminal state.
//!
//! Its own module, below the sagas it runs: each saga names the executor,
//! and only `sagas/mod.rs` (recovery) names every saga.

use crate::clock;
use crate::db::protocol::{DbRequest, DbResponse};
use crate::db::rows::{NodeEventKind, SagaName, SagaNodeEventRow, SagaRow, SagaState};
use crate::event::{Cause, Event, NodeStep};
use crate::ids::{InstanceId, SagaId, SledId};
use crate::nexus::context::Nexus;
use crate::points::{NodeMoment, Point, SagaNode};
use crate::probe;
use crate::states::StartReason;
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

/// Why an action or undo failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ActionError {
    /// The HTTP status an API caller waiting on the saga gets.
    pub status: u16,
    pub message: String,
    /// The sled the failing action called and could not reach (no answer
    /// in time, refused, closed), if it failed that way. The `fixed`
    /// intent reconciler places its retry elsewhere (branch 10).
    pub unreachable_sled: Option<SledId>,
}

impl ActionError {
    pub fn new(status: u16, message: impl Into<String>) -> ActionError {
        ActionError {
            status,
            message: message.into(),
            unreachable_sled: None,
        }
    }
    pub fn conflict(message: impl Into<String>) -> ActionError {
        ActionError::new(409, message)
    }
}

pub type ActionResult = Result<(), ActionError>;

/// An action or undo: it reads and updates the saga's state.
pub type NodeFn<S> = for<'a> fn(&'a SagaContext, &'a mut S) -> LocalBoxFuture<'a, ActionResult>;

/// One node of a saga.
pub struct Node<S: 'static> {
    /// omicron's node name (`MARK_AS_STARTING`).
    pub name: &'static str,
    pub action: NodeFn<S>,
    pub undo: Option<NodeFn<S>>,
}

/// A saga type: its name, its nodes, and its state.
pub trait Saga: Serialize + DeserializeOwned + Clone + 'static {
    const NAME: SagaName;
    fn nodes() -> &'static [Node<Self>];
    fn instance_id(&self) -> InstanceId;
    /// The start reason, for `instance-start`.
    fn reason(&self) -> Option<StartReason> {
        None
    }
}

/// What an action sees: Nexus and which saga node it is.
pub struct SagaContext {
    pub nexus: Rc<Nexus>,
    pub saga: SagaId,
    pub name: SagaName,
    pub node: &'static str,
    /// Whether the node's undo (not its action) is running.
    pub undoing: bool,
}

impl SagaContext {
    /// The cause recorded on the db writes this node makes.
    pub fn cause(&self) -> Cause {
        let node = if self.undoing {
            format!("{} (undo)", self.node)
        } else {
            self.node.to_string()
        };
        Cause::Saga {
            saga: self.saga,
            name: self.name,
            node,
        }
    }
}

/// How a saga ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SagaOutcome<S> {
    Done(S),
    /// Unwound after the action error.
    Unwound(ActionError),
    /// An undo failed.
    Stuck(ActionError),
}

fn encode<S: Serialize>(s: &S) -> Vec<u8> {
    bincode::serialize(s).expect("saga state encodes")
}

/// A saga state or params from its logged bytes (bincode).
pub fn decode<S: DeserializeOwned>(bytes: &[u8]) -> S {
    bincode::deserialize(bytes).expect("saga state decodes")
}

/// Where a saga picks up.
enum Resume<S> {
    Forward {
        next: usize,
        state: S,
    },
    Unwind {
        failed: usize,
        undone: BTreeSet<usize>,
        state: S,
        error: ActionError,
    },
    Finished(SagaOutcome<S>),
}

fn resume_point<S: Saga>(row: &SagaRow, log: &[SagaNodeEventRow]) -> Resume<S> {
    let state: S = log
        .iter()
        .rev()
        .find(|e| e.kind == NodeEventKind::Done)
        .map(|e| decode(&e.data))
        .unwrap_or_else(|| decode(&row.params));
    let error = ActionError::new(500, "saga unwound before this Nexus restarted");
    if let Some(stuck) = log.iter().find(|e| e.kind == NodeEventKind::UndoFailed) {
        let node = S::nodes()[stuck.node as usize].name;
        return Resume::Finished(SagaOutcome::Stuck(ActionError::new(
            500,
            format!("undo of {node} failed"),
        )));
    }
    match row.state {
        SagaState::Done => return Resume::Finished(SagaOutcome::Done(state)),
        SagaState::Unwound => return Resume::Finished(SagaOutcome::Unwound(error)),
        SagaState::Stuck => return Resume::Finished(SagaOutcome::Stuck(error)),
        SagaState::Running | SagaState::Unwinding => {}
    }
    if let Some(failed) = log.iter().find(|e| e.kind == NodeEventKind::Failed) {
        let undone: BTreeSet<usize> = log
            .iter()
            .filter(|e| e.kind == NodeEventKind::UndoDone)
            .map(|e| e.node as usize)
            .collect();
        // steno's log invariant: an undo runs only after its node's action
        // completed. A saga fails at one node after every node before it
        // logged its completion, and only those nodes are ever undone
        // (steno `SagaExecutor`'s unwind; omicron relies on it so that
        // no undo meets a resource its action never made).
        let done = |n: usize| {
            log.iter()
                .any(|e| e.node as usize == n && e.kind == NodeEventKind::Done)
        };
        debug_assert!(
            (0..failed.node as usize).all(done),
            "saga {}: node {} failed before an earlier node completed",
            row.id,
            failed.node
        );
        debug_assert!(
            undone.iter().all(|&n| n < failed.node as usize && done(n)),
            "saga {}: an undo was logged for a node whose action never completed",
            row.id
        );
        return Resume::Unwind {
            failed: failed.node as usize,
            undone,
            state,
            error,
        };
    }
    let next = log
        .iter()
        .filter(|e| e.kind == NodeEventKind::Done)
        .map(|e| e.node as usize + 1)
        .max()
        .unwrap_or(0);
    Resume::Forward { next, state }
}

/// Removes a saga from the running set when its execution ends.
struct RunningGuard<'a> {
    nexus: &'a Nexus,
    id: SagaId,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.nexus.saga_stopped(self.id);
    }
}

/// How often a caller looks whether a saga another task runs has ended.
const WAIT_POLL: Duration = Duration::from_secs(1);

/// Prepares (logs) and runs saga `id` to its end: `saga_execute`. If the saga
/// was already prepared, this resumes it from its log; if it already ended,
/// this returns how.
pub async fn execute<S: Saga>(nexus: &Rc<Nexus>, id: SagaId, params: S) -> SagaOutcome<S> {
    while nexus.is_saga_running(id) {
        turmoil::time::sleep(WAIT_POLL).await;
    }
    nexus.saga_started(id);
    let _guard = RunningGuard { nexus, id };
    let instance = params.instance_id();
    let row = SagaRow {
        id,
        name: S::NAME,
        instance_id: instance,
        current_sec: nexus.id,
        state: SagaState::Running,
        time_created: clock::now(),
        params: encode(&params),
    };
    let cause = Cause::Saga {
        saga: id,
        name: S::NAME,
        node: "(prepare)".into(),
    };
    let resume = match nexus
        .db_until_answered(cause, DbRequest::SagaCreate { row })
        .await
    {
        DbResponse::Write(_) => {
            nexus.emit(Event::SagaCreated {
                saga: id,
                name: S::NAME,
                instance,
                reason: params.reason(),
            });
            Resume::Forward {
                next: 0,
                state: params,
            }
        }
        DbResponse::Sagas(mut found) => {
            let (row, log) = found.pop().expect("SagaCreate answers the existing saga");
            let resume = resume_point::<S>(&row, &log);
            if !matches!(resume, Resume::Finished(_)) {
                nexus.emit(Event::SagaResumed {
                    saga: id,
                    name: S::NAME,
                    instance,
                });
            }
            resume
        }
        other => panic!("db answered SagaCreate with {other:?}"),
    };
    let mut exec = Execution {
        ctx: SagaContext {
            nexus: nexus.clone(),
            saga: id,
            name: S::NAME,
            node: "",
            undoing: false,
        },
        instance,
    };
    match resume {
        Resume::Finished(outcome) => outcome,
        Resume::Forward { next, state } => exec.forward(next, state).await,
        Resume::Unwind {
            failed,
            undone,
            state,
            error,
        } => exec.unwind(failed, undone, state, error).await,
    }
}

struct Execution {
    ctx: SagaContext,
    instance: InstanceId,
}

impl Execution {
    /// The node running now, as points name it.
    fn saga_node(&self) -> SagaNode {
        SagaNode {
            saga: self.ctx.name,
            node: self.ctx.node,
        }
    }

    /// One of the running node's points.
    async fn node_point(&self, moment: NodeMoment) {
        self.ctx
            .nexus
            .point(Point::Node(self.saga_node(), moment))
            .await;
    }

    async fn log(&self, node: usize, kind: NodeEventKind, data: Vec<u8>) {
        let row = SagaNodeEventRow {
            saga_id: self.ctx.saga,
            node: node as u16,
            kind,
            data,
        };
        self.ctx
            .nexus
            .db_until_answered(self.ctx.cause(), DbRequest::SagaNodeEvent { row })
            .await;
    }

    async fn set_state(&self, state: SagaState) {
        self.ctx
            .nexus
            .db_until_answered(
                self.ctx.cause(),
                DbRequest::SagaUpdateState {
                    id: self.ctx.saga,
                    state,
                },
            )
            .await;
    }

    fn emit_node(&self, step: NodeStep) {
        self.ctx.nexus.emit(Event::SagaNode {
            saga: self.ctx.saga,
            name: self.ctx.name,
            node: self.ctx.node.to_string(),
            step,
        });
    }

    async fn finish(&self, state: SagaState) {
        self.set_state(state).await;
        self.ctx.nexus.emit(Event::SagaFinished {
            saga: self.ctx.saga,
            name: self.ctx.name,
            instance: self.instance,
            state,
        });
    }

    async fn forward<S: Saga>(&mut self, next: usize, mut state: S) -> SagaOutcome<S> {
        let nodes = S::nodes();
        for (i, node) in nodes.iter().enumerate().skip(next) {
            self.ctx.node = node.name;
            let injected = probe::inject_error(self.ctx.nexus.host, &self.saga_node().to_string());
            let result = if injected {
                Err(ActionError::new(500, "injected error"))
            } else {
                (node.action)(&self.ctx, &mut state).await
            };
            match result {
                Ok(()) => {
                    self.node_point(NodeMoment::AfterAction).await;
                    self.log(i, NodeEventKind::Done, encode(&state)).await;
                    self.emit_node(NodeStep::Done);
                    self.node_point(NodeMoment::AfterLog).await;
                }
                Err(error) => {
                    self.log(i, NodeEventKind::Failed, Vec::new()).await;
                    self.emit_node(NodeStep::Failed(error.message.clone()));
                    self.set_state(SagaState::Unwinding).await;
                    return self.unwind(i, BTreeSet::new(), state, error).await;
                }
            }
        }
        self.finish(SagaState::Done).await;
        SagaOutcome::Done(state)
    }

    async fn unwind<S: Saga>(
        &mut self,
        failed: usize,
        undone: BTreeSet<usize>,
        mut state: S,
        error: ActionError,
    ) -> SagaOutcome<S> {
        let nodes = S::nodes();
        // Undo only after do: the failed node itself never completed, so
        // its undo never runs; every node below it did (see resume_point).
        debug_assert!(failed < nodes.len(), "saga failed at a node it lacks");
        for j in (0..failed).rev() {
            let node = &nodes[j];
            let Some(undo) = node.undo else { continue };
            if undone.contains(&j) {
                continue;
            }
            self.ctx.node = node.name;
            self.ctx.undoing = true;
            let result = undo(&self.ctx, &mut state).await;
            self.ctx.undoing = false;
            match result {
                Ok(()) => {
                    self.log(j, NodeEventKind::UndoDone, Vec::new()).await;
                    self.emit_node(NodeStep::Undone);
                }
                Err(undo_error) => {
                    self.log(j, NodeEventKind::UndoFailed, Vec::new()).await;
                    self.emit_node(NodeStep::UndoFailed(undo_error.message.clone()));
                    self.finish(SagaState::Stuck).await;
                    return SagaOutcome::Stuck(undo_error);
                }
            }
        }
        self.finish(SagaState::Unwound).await;
        SagaOutcome::Unwound(error)
    }
}
