//! Coverage ("sometimes" properties): what a sweep reached. A checker that
//! never fails proves nothing if the runs never reach the states where bugs
//! live; this counts, over a sweep, each instance state x intent pair the
//! db held, each named point a host passed, each saga node undone, each
//! background-task decision kind, each fault kind and a few named races,
//! and lists what was never reached (issue 11).
//!
//! Counted from a run's records and the points its recorder saw, after the
//! run: coverage changes nothing a seed does.

use crate::record::{Fault, RecordKind};
use crate::verdict::RunReport;
use model::db::rows::SagaName;
use model::event::{ApiOp, Decision, Event, NodeStep, ReincarnationReason, WriteOutcome};
use model::ids::{InstanceId, SagaId};
use model::nexus::sagas::executor::{Node, Saga};
use model::nexus::sagas::{instance_create, instance_delete, instance_start, instance_update};
use model::states::{InstanceState, IntendedState, StartReason};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What is counted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    /// `instance.state x intended_state` of a row the db stored.
    StateIntent,
    /// A named point (`model::points`) a host passed.
    Point,
    /// A saga node whose undo ran (`saga.NODE`).
    Unwound,
    /// A background task's decision, by kind.
    Decision,
    /// A fault the harness injected, by kind.
    Fault,
    /// A named race (see [`RACES`]).
    Race,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::StateIntent,
        Kind::Point,
        Kind::Unwound,
        Kind::Decision,
        Kind::Fault,
        Kind::Race,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::StateIntent => "state x intent",
            Kind::Point => "named point",
            Kind::Unwound => "saga node undone",
            Kind::Decision => "task decision",
            Kind::Fault => "fault",
            Kind::Race => "race",
        }
    }
}

/// The named races: two threads of control meeting on one instance.
pub const RACES: &[(&str, &str)] = &[
    (
        "stop during reincarnation",
        "a stop is accepted while an AutoRestart start saga of the instance runs (#6809)",
    ),
    (
        "stop during start saga",
        "a stop is accepted while a user or auto start saga of the instance runs",
    ),
    (
        "push during start saga",
        "a sled agent's push writes the instance's VMM while a start saga of it runs",
    ),
    (
        "stale write dropped",
        "the generation guard drops a write that another writer overtook",
    ),
    (
        "delete during saga",
        "a delete is accepted while any saga of the instance runs",
    ),
];

/// The sagas in flight per instance: (saga, name, start reason).
type Running = BTreeMap<InstanceId, Vec<(SagaId, SagaName, Option<StartReason>)>>;

/// Items never reachable in the model, with the reason; the reachability
/// test and `--coverage` leave them out of "never reached".
pub const UNREACHABLE: &[(Kind, &str, &str)] = &[
    (
        Kind::Point,
        "create.undo_after_fail",
        "passed only with omicron's fix #7437 turned off (--without-fix), which the swarm never does; scenario create-unwinds-through-failed reaches it",
    ),
    (
        Kind::StateIntent,
        "Creating x GuestShutdown",
        "GuestShutdown is written only by an update saga's commit for a VMM whose guest stopped; a Creating instance has no VMM",
    ),
    (
        Kind::StateIntent,
        "Vmm x GuestShutdown",
        "the commit that writes GuestShutdown also unlinks the VMM (NoVmm), and every start writes or requires intent Running before MARK_AS_STARTING links a new one",
    ),
    (
        Kind::StateIntent,
        "Failed x GuestShutdown",
        "an instance becomes Failed only through its active VMM, and one with intent GuestShutdown has none until a start writes Running",
    ),
    (
        Kind::StateIntent,
        "Destroyed x GuestShutdown",
        "omicron and fixed write Destroyed before the delete saga runs; legacy never writes GuestShutdown",
    ),
];

/// Items the model can reach but the swarm reaches too rarely for the CI
/// seed count (issue 11: tune the swarm's weights until this is empty),
/// with how they are reached; `--coverage` over a long sweep shows them.
pub const RARE: &[(Kind, &str, &str)] = &[
    (
        Kind::Fault,
        "upgrade",
        "scenario-only (scenarios/upgrade-*.toml): a run with an upgrade is legacy until it, so a swarm draw would make omicron's and fixed's ceilings admit legacy's #6809 restarts",
    ),
    (
        Kind::Fault,
        "sled hang",
        "scenario-only (start-saga-hangs-before-register and sled_hang steps): a call that never answers keeps its saga unsettled, so sagas_settle fires by design",
    ),
    (
        Kind::Fault,
        "sled agent restart keeps vmms",
        "scenario-only (sled-agent-restart-keeps-vmms): it switches off omicron's start-up zone cleanup, so single_active_vmm, resources_released and no_orphan_vmm fire in every variant by design",
    ),
    (
        Kind::Unwound,
        "instance-create.CREATE_INSTANCE_RECORD",
        "6 of 2,100 swarm runs (seeds 0..700, every variant): MOVE_TO_STOPPED fails only when the db is down at that moment",
    ),
    (
        Kind::Decision,
        "instance_reincarnation: reincarnate (SagaUnwound)",
        "9 of 2,100 swarm runs: an instance keeps pointing at its SagaUnwound VMM only when MARK_AS_STARTING's undo write is dropped as stale",
    ),
    (
        Kind::Decision,
        "instance_intent_reconciler: finish create",
        "not reached in 2,100 swarm runs (scenario-reachable): needs a create saga that fails after its record committed (a Nexus or db crash inside the create)",
    ),
];

/// Counts over one run or many.
#[derive(Clone, Default, Debug)]
pub struct Coverage {
    counts: BTreeMap<(Kind, String), u64>,
    runs: u64,
}

impl Coverage {
    /// What one run reached.
    pub fn of(r: &RunReport) -> Coverage {
        let mut c = Coverage {
            runs: 1,
            ..Coverage::default()
        };
        for p in &r.points {
            c.hit(Kind::Point, p.clone());
        }
        // Sagas in flight per instance: (saga, name, reason).
        let mut running: Running = BTreeMap::new();
        for record in &r.records {
            match &record.kind {
                RecordKind::Fault(f) => c.hit(Kind::Fault, fault_kind(f).to_string()),
                RecordKind::Upgrade { .. } => c.hit(Kind::Fault, "upgrade".to_string()),
                RecordKind::Unpause { .. } => c.hit(Kind::Fault, "unpause".to_string()),
                RecordKind::Heal => c.hit(Kind::Fault, "heal".to_string()),
                RecordKind::Model(e) => match e {
                    Event::InstanceWrite {
                        outcome,
                        after,
                        cause,
                        ..
                    } => {
                        if let (WriteOutcome::Applied, Some(row)) = (outcome, after) {
                            c.hit(
                                Kind::StateIntent,
                                format!("{} x {}", row.runtime.nexus_state, row.intended_state),
                            );
                            if matches!(cause, model::event::Cause::SledPush { .. })
                                && starting(&running, row.id)
                            {
                                c.hit(Kind::Race, "push during start saga".into());
                            }
                        }
                        if *outcome == WriteOutcome::StaleGeneration {
                            c.hit(Kind::Race, "stale write dropped".into());
                        }
                    }
                    Event::VmmWrite {
                        outcome,
                        after,
                        cause,
                        ..
                    } => {
                        if let (WriteOutcome::Applied, Some(row)) = (outcome, after) {
                            if matches!(cause, model::event::Cause::SledPush { .. })
                                && starting(&running, row.instance_id)
                            {
                                c.hit(Kind::Race, "push during start saga".into());
                            }
                        }
                        if *outcome == WriteOutcome::StaleGeneration {
                            c.hit(Kind::Race, "stale write dropped".into());
                        }
                    }
                    Event::SagaCreated {
                        saga,
                        name,
                        instance,
                        reason,
                    } => {
                        let list = running.entry(*instance).or_default();
                        if !list.iter().any(|(s, ..)| s == saga) {
                            list.push((*saga, *name, *reason));
                        }
                    }
                    Event::SagaResumed {
                        saga,
                        name,
                        instance,
                    } => {
                        let list = running.entry(*instance).or_default();
                        if !list.iter().any(|(s, ..)| s == saga) {
                            list.push((*saga, *name, None));
                        }
                    }
                    Event::SagaFinished { saga, instance, .. } => {
                        if let Some(list) = running.get_mut(instance) {
                            list.retain(|(s, ..)| s != saga);
                        }
                    }
                    Event::SagaNode {
                        name, node, step, ..
                    } => {
                        if matches!(step, NodeStep::Undone | NodeStep::UndoFailed(_)) {
                            c.hit(Kind::Unwound, format!("{}.{node}", name.as_str()));
                        }
                    }
                    Event::ApiAccepted { op, instance, .. } => {
                        let sagas = running.get(instance).map(Vec::as_slice).unwrap_or(&[]);
                        let start_reasons = sagas
                            .iter()
                            .filter(|(_, n, _)| *n == SagaName::InstanceStart)
                            .map(|(.., r)| *r);
                        match op {
                            ApiOp::Stop => {
                                for reason in start_reasons {
                                    if reason == Some(StartReason::AutoRestart) {
                                        c.hit(Kind::Race, "stop during reincarnation".into());
                                    } else {
                                        c.hit(Kind::Race, "stop during start saga".into());
                                    }
                                }
                            }
                            ApiOp::Delete if !sagas.is_empty() => {
                                c.hit(Kind::Race, "delete during saga".into());
                            }
                            _ => {}
                        }
                    }
                    Event::TaskDecision { task, decision, .. } => {
                        c.hit(
                            Kind::Decision,
                            format!("{task}: {}", decision_kind(decision)),
                        );
                    }
                    _ => {}
                },
                RecordKind::Workload(_) | RecordKind::Point { .. } => {}
            }
        }
        c
    }

    fn hit(&mut self, kind: Kind, key: String) {
        *self.counts.entry((kind, key)).or_default() += 1;
    }

    /// Adds another run's (or sweep's) counts.
    pub fn merge(&mut self, other: &Coverage) {
        self.runs += other.runs;
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
    }

    /// How often `key` of `kind` was reached.
    pub fn count(&self, kind: Kind, key: &str) -> u64 {
        self.counts
            .get(&(kind, key.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every item the model can reach, by kind, not yet reached here (the
    /// [`UNREACHABLE`] ones left out).
    pub fn never_reached(&self) -> Vec<(Kind, String)> {
        universe()
            .into_iter()
            .filter(|(k, key)| self.count(*k, key) == 0 && unreachable_reason(*k, key).is_none())
            .collect()
    }

    /// The table `cargo sim sweep --coverage` prints: every item of the
    /// universe with its count (and anything reached outside it), then what
    /// was never reached.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut items = universe();
        for k in self.counts.keys() {
            if !items.contains(k) {
                items.push(k.clone());
            }
        }
        items.sort();
        writeln!(out, "coverage over {} runs", self.runs).expect("String");
        for kind in Kind::ALL {
            let of_kind: Vec<&(Kind, String)> = items.iter().filter(|(k, _)| *k == kind).collect();
            let reached = of_kind
                .iter()
                .filter(|(k, key)| self.count(*k, key) > 0)
                .count();
            writeln!(
                out,
                "\n{} ({reached} of {} reached)",
                kind.name(),
                of_kind.len()
            )
            .expect("String");
            for (k, key) in of_kind {
                let n = self.count(*k, key);
                let note = match (n, unreachable_reason(*k, key), rare_reason(*k, key)) {
                    (0, Some(why), _) => format!("  unreachable: {why}"),
                    (0, None, Some(how)) => format!("  NEVER REACHED (rare: {how})"),
                    (0, None, None) => "  NEVER REACHED".to_string(),
                    _ => String::new(),
                };
                writeln!(out, "  {n:>8}  {key}{note}").expect("String");
            }
        }
        let never = self.never_reached();
        if never.is_empty() {
            writeln!(out, "\nevery reachable item was reached").expect("String");
        } else {
            writeln!(out, "\nnever reached ({}):", never.len()).expect("String");
            for (k, key) in never {
                writeln!(out, "  {}: {key}", k.name()).expect("String");
            }
        }
        out
    }
}

/// Why an item is unreachable in the model, if it is.
pub fn unreachable_reason(kind: Kind, key: &str) -> Option<&'static str> {
    UNREACHABLE
        .iter()
        .find(|(k, name, _)| *k == kind && *name == key)
        .map(|(.., why)| *why)
}

/// How a rare item is reached, if it is one of [`RARE`].
pub fn rare_reason(kind: Kind, key: &str) -> Option<&'static str> {
    RARE.iter()
        .find(|(k, name, _)| *k == kind && *name == key)
        .map(|(.., how)| *how)
}

fn starting(running: &Running, instance: InstanceId) -> bool {
    running
        .get(&instance)
        .is_some_and(|l| l.iter().any(|(_, n, _)| *n == SagaName::InstanceStart))
}

fn fault_kind(f: &Fault) -> &'static str {
    match f {
        Fault::Crash { .. } => "crash",
        Fault::PowerLoss { .. } => "power loss",
        Fault::Restart { .. } => "restart",
        Fault::LoseSled { .. } => "sled lost",
        Fault::Partition { oneway: false, .. } => "partition",
        Fault::Partition { oneway: true, .. } => "partition one-way",
        Fault::Repair { .. } => "repair",
        Fault::Hold {
            deliver_late: false,
            ..
        } => "hold",
        Fault::Hold {
            deliver_late: true, ..
        } => "hold delivering late",
        Fault::Release { .. } => "release",
        Fault::GuestShutdown { .. } => "guest shutdown",
        Fault::ForgetVmm { .. } => "forget vmm",
        Fault::Upgrade {} => "upgrade",
        Fault::SledError { .. } => "sled error",
        Fault::SledHang { .. } => "sled hang",
        Fault::VmmFailsBooting { .. } => "vmm fails booting",
        Fault::SledAgentRestartKeepsVmms { .. } => "sled agent restart keeps vmms",
    }
}

/// Every fault kind [`fault_kind`] names.
const FAULT_KINDS: &[&str] = &[
    "crash",
    "power loss",
    "restart",
    "sled lost",
    "partition",
    "partition one-way",
    "repair",
    "hold",
    "release",
    "guest shutdown",
    "forget vmm",
    "upgrade",
    "sled error",
    "sled hang",
    "vmm fails booting",
    "sled agent restart keeps vmms",
    "hold delivering late",
    "unpause",
    "heal",
];

fn decision_kind(d: &Decision) -> &'static str {
    match d {
        Decision::WatcherVmmState { .. } => "vmm state",
        Decision::Reincarnate {
            reason: ReincarnationReason::Failed,
            ..
        } => "reincarnate (Failed)",
        Decision::Reincarnate {
            reason: ReincarnationReason::SagaUnwound,
            ..
        } => "reincarnate (SagaUnwound)",
        Decision::StartUpdate { .. } => "start update",
        Decision::ReapVmm { .. } => "reap vmm",
        Decision::RecoverSaga { .. } => "recover saga",
        Decision::ReconcileStart { .. } => "start",
        Decision::ReconcileStop { .. } => "stop",
        Decision::ReconcileDelete { .. } => "delete",
        Decision::ReconcileFinishCreate => "finish create",
        Decision::ReconcileReapOrphan { .. } => "reap orphan",
    }
}

/// Every decision kind, with its task.
const DECISIONS: &[&str] = &[
    "instance_watcher: vmm state",
    "instance_reincarnation: reincarnate (Failed)",
    "instance_reincarnation: reincarnate (SagaUnwound)",
    "instance_updater: start update",
    "abandoned_vmm_reaper: reap vmm",
    "saga_recovery: recover saga",
    "instance_intent_reconciler: start",
    "instance_intent_reconciler: stop",
    "instance_intent_reconciler: delete",
    "instance_intent_reconciler: finish create",
    "instance_intent_reconciler: reap orphan",
];

/// The saga nodes that have an undo, as `saga.NODE`.
fn undoable<S: Saga>() -> impl Iterator<Item = String> {
    let nodes: &'static [Node<S>] = S::nodes();
    nodes
        .iter()
        .filter(|n| n.undo.is_some())
        .map(|n| format!("{}.{}", S::NAME.as_str(), n.name))
}

/// Everything that could be reached.
pub fn universe() -> Vec<(Kind, String)> {
    let mut u = Vec::new();
    for s in [
        InstanceState::Creating,
        InstanceState::NoVmm,
        InstanceState::Vmm,
        InstanceState::Failed,
        InstanceState::Destroyed,
    ] {
        for i in [
            IntendedState::Running,
            IntendedState::Stopped,
            IntendedState::GuestShutdown,
            IntendedState::Destroyed,
        ] {
            u.push((Kind::StateIntent, format!("{s} x {i}")));
        }
    }
    u.extend(
        model::nexus::sagas::named_points()
            .iter()
            .map(|p| (Kind::Point, p.to_string())),
    );
    u.extend(
        undoable::<instance_create::Params>()
            .chain(undoable::<instance_start::Params>())
            .chain(undoable::<instance_update::StartParams>())
            .chain(undoable::<instance_update::Params>())
            .chain(undoable::<instance_delete::Params>())
            .map(|n| (Kind::Unwound, n)),
    );
    u.extend(DECISIONS.iter().map(|d| (Kind::Decision, d.to_string())));
    u.extend(FAULT_KINDS.iter().map(|f| (Kind::Fault, f.to_string())));
    u.extend(RACES.iter().map(|(r, _)| (Kind::Race, r.to_string())));
    u
}
