//! Saga properties over the real model, through the harness: plans built in
//! code (one Nexus, two sleds, omicron's default timings), run in every
//! variant and a few seeds.
//!
//! - Crash recovery: for every node of `instance-create`, `instance-start`,
//!   `start-instance-update` and `instance-update` (read from their `NODES`
//!   by `model::nexus::sagas::saga_nodes`), Nexus halts at
//!   `<saga>.<NODE>.after_action` (and `.after_log`), is restarted a few
//!   seconds later, and saga recovery finishes the saga: the run ends as
//!   the same story without the crash does, and no checker fires. The one
//!   exception is omicron's own: a Nexus that dies inside the create saga
//!   never starts the instance (omicron-lifecycle 3.5, 5.3), except in
//!   `fixed`, whose reconciler does.
//! - Unwinding: an error injected into each node of `instance-start` and
//!   `instance-create` (steno's `saga_inject_error`) unwinds the saga, runs
//!   exactly the undos of the nodes before it in reverse order, and leaves
//!   nothing behind.
//! - The known stuck undo (#7727, #9174): a start whose `ENSURE_RUNNING`
//!   fails after the sled agent lost the VMM ends `Stuck`, reported as
//!   known-upstream.

use crate::common::*;
use intent_sim::fault::Fault;
use intent_sim::plan::Expected;
use intent_sim::record::{PointArm, RecordKind};
use intent_sim::verdict::RunReport;
use model::db::rows::{SagaName, SagaState};
use model::event::{ApiOp, Cause, Event, NodeStep, Query, WriteOutcome};
use model::nexus::sagas::saga_nodes;
use model::points::NodeMoment;
use model::states::{ExternalState, IntendedState, VmmState};
use model::variant::Variant;

/// Seeds each case runs with.
const SEEDS: [u64; 3] = [1, 2, 3];

const WEB: &str = "web";

fn nodes(prefix: &str) -> Vec<&'static str> {
    let nodes: Vec<&'static str> = saga_nodes()
        .into_iter()
        .filter(|n| n.saga.point_prefix() == prefix)
        .map(|n| n.node)
        .collect();
    assert!(!nodes.is_empty(), "no saga with point prefix {prefix}");
    nodes
}

/// Every crash point of a saga: `<prefix>.<NODE>.<suffix>`.
fn crash_points(prefix: &str) -> Vec<String> {
    nodes(prefix)
        .iter()
        .flat_map(|n| {
            NodeMoment::ALL
                .iter()
                .map(move |s| format!("{prefix}.{n}.{s}"))
        })
        .collect()
}

/// Collects what went wrong across many runs, and fails once, with the
/// trace of the first failing run.
#[derive(Default)]
struct Failures {
    lines: Vec<String>,
    first_trace: Option<String>,
    runs: usize,
}

impl Failures {
    fn check(&mut self, case: &str, r: &RunReport, problems: Vec<String>) {
        self.runs += 1;
        if problems.is_empty() {
            return;
        }
        for p in &problems {
            self.lines
                .push(format!("{case} [{} seed {}]: {p}", r.variant, r.seed));
        }
        if self.first_trace.is_none() {
            self.first_trace = Some(format!("first failing run: {case}\n{}", explain(r)));
        }
    }

    fn finish(self) {
        assert!(self.runs > 0, "no runs");
        if !self.lines.is_empty() {
            panic!(
                "{} problem(s) in {} runs:\n{}\n\n{}",
                self.lines.len(),
                self.runs,
                self.lines.join("\n"),
                self.first_trace.unwrap_or_default()
            );
        }
    }
}

/// No crash of the harness, no divergence from the story, no hang, and no
/// checker fired outside the known-upstream list.
fn clean_verdict(r: &RunReport) -> Vec<String> {
    let mut p = Vec::new();
    if let Some(c) = &r.crash {
        p.push(format!("harness crash: {c}"));
    }
    for d in &r.divergences {
        p.push(format!("diverged: {d}"));
    }
    if let Some(h) = &r.hung {
        p.push(format!("hung: {h}"));
    }
    for v in &r.violations {
        p.push(format!("violated {}: {}", v.signature(), v.message));
    }
    p
}

/// Whether the host halted at `point` (crash armed).
fn crashed_at(r: &RunReport, point: &str) -> bool {
    r.records.iter().any(
        |x| matches!(&x.kind, RecordKind::Point { name, action: PointArm::Crash } if name == point),
    )
}

fn resumed(r: &RunReport, saga: SagaName) -> bool {
    r.records.iter().any(
        |x| matches!(&x.kind, RecordKind::Model(Event::SagaResumed { name, .. }) if *name == saga),
    )
}

fn saga_of_prefix(prefix: &str) -> SagaName {
    SagaName::ALL
        .into_iter()
        .find(|s| s.point_prefix() == prefix)
        .expect("a saga per prefix")
}

/// The outcomes the workload got for `op` requests, in order.
fn outcomes(r: &RunReport, which: fn(&ApiOp) -> bool) -> Vec<Expected> {
    r.records
        .iter()
        .filter_map(|x| match &x.kind {
            RecordKind::Workload(intent_sim::record::WorkloadEvent::Outcome {
                op,
                outcome,
                ..
            }) if which(op) => Some(match outcome {
                intent_sim::record::RequestOutcome::Status { status, .. } => {
                    Expected::Status(*status)
                }
                intent_sim::record::RequestOutcome::NoResponse => Expected::NoResponse,
            }),
            _ => None,
        })
        .collect()
}

/// The intent `end_shape` reports in `variant`: none in legacy.
fn intent(variant: Variant, i: IntendedState) -> Option<IntendedState> {
    variant.tracks_intent().then_some(i)
}

/// The shape a clean create-and-run ends in.
fn running_shape(variant: Variant) -> EndShape {
    EndShape {
        external: Some(ExternalState::Running),
        intent: intent(variant, IntendedState::Running),
        on_sleds: vec![VmmState::Running],
        live_vmm_rows: 1,
        reservations: 1,
        unfinished_sagas: 0,
        stuck_sagas: 0,
    }
}

// ---------------------------------------------------------------------------
// Crash recovery
// ---------------------------------------------------------------------------

/// Create with `start: true` and wait for Running; with `crash`, Nexus halts
/// at that point on the way and is restarted 5 s after it did.
fn create_and_run(crash: Option<&str>, wait_running: bool) -> Story {
    let mut s = Story::new("sagas-create-and-run", 2);
    match crash {
        None => {
            s.create(WEB, true, &[Expected::Status(201)]);
        }
        Some(p) => {
            s.arm(p, PointArm::Crash)
                .create(WEB, true, &[])
                .wait_point(p, 120)
                .sleep(5)
                .restart_nexus();
        }
    }
    if wait_running {
        s.wait_state(WEB, ExternalState::Running, 180);
    }
    s
}

#[test]
fn clean_create_and_run_ends_running() {
    let mut f = Failures::default();
    for variant in Variant::ALL {
        for seed in SEEDS {
            let r = create_and_run(None, true).run(variant, seed);
            let mut p = clean_verdict(&r);
            let shape = end_shape(&r, WEB);
            if shape != running_shape(r.variant) {
                p.push(format!("ended {shape:?}"));
            }
            f.check("clean create+start", &r, p);
        }
    }
    f.finish();
}

/// A Nexus crash after any start-saga node: recovery finishes the saga and
/// the instance runs, as if nothing happened.
#[test]
fn crash_in_start_saga_recovers() {
    let mut f = Failures::default();
    for point in crash_points("start") {
        for variant in Variant::ALL {
            for seed in SEEDS {
                let r = create_and_run(Some(&point), true).run(variant, seed);
                let mut p = clean_verdict(&r);
                if !crashed_at(&r, &point) {
                    p.push("never halted at the point".into());
                }
                if !resumed(&r, SagaName::InstanceStart) {
                    p.push("the start saga was not resumed".into());
                }
                let shape = end_shape(&r, WEB);
                if shape != running_shape(r.variant) {
                    p.push(format!(
                        "ended {shape:?}, a clean run ends {:?}",
                        running_shape(r.variant)
                    ));
                }
                f.check(&point, &r, p);
            }
        }
    }
    f.finish();
}

/// A Nexus crash after any create-saga node: recovery finishes the create
/// saga, but the start that `project_create_instance` would have run next
/// died with the handler. omicron (and legacy) leave the instance Stopped
/// with intent Running, which `start_intent_honored` reports (the gap PR
/// #8053 leaves open, omicron-lifecycle 3.5 and 5.3); `fixed`'s intent
/// reconciler starts it.
#[test]
fn crash_in_create_saga_recovers_but_only_fixed_starts_it() {
    let mut f = Failures::default();
    for point in crash_points("create") {
        for variant in Variant::ALL {
            for seed in SEEDS {
                let r = create_and_run(Some(&point), false).run(variant, seed);
                let mut p = Vec::new();
                if !crashed_at(&r, &point) {
                    p.push("never halted at the point".into());
                }
                if !resumed(&r, SagaName::InstanceCreate) {
                    p.push("the create saga was not resumed".into());
                }
                let shape = end_shape(&r, WEB);
                let fired: Vec<String> = r.violations.iter().map(|v| v.signature()).collect();
                match variant {
                    Variant::Fixed => {
                        p.extend(clean_verdict(&r));
                        if shape != running_shape(r.variant) {
                            p.push(format!("ended {shape:?}"));
                        }
                    }
                    Variant::Legacy | Variant::Omicron => {
                        let stopped_with_running_intent = EndShape {
                            external: Some(ExternalState::Stopped),
                            intent: intent(variant, IntendedState::Running),
                            on_sleds: Vec::new(),
                            live_vmm_rows: 0,
                            reservations: 0,
                            unfinished_sagas: 0,
                            stuck_sagas: 0,
                        };
                        if shape != stopped_with_running_intent {
                            p.push(format!("ended {shape:?}"));
                        }
                        if fired != ["start_intent_honored/create start=true ends Stopped"] {
                            p.push(format!("fired {fired:?}"));
                        }
                        if r.crash.is_some() || !r.divergences.is_empty() || r.hung.is_some() {
                            p.push(format!(
                                "crash {:?} divergences {:?} hung {:?}",
                                r.crash, r.divergences, r.hung
                            ));
                        }
                    }
                }
                f.check(&point, &r, p);
            }
        }
    }
    f.finish();
}

/// What makes an update saga run on a Running instance.
#[derive(Clone, Copy, Debug)]
enum UpdateTrigger {
    /// A user stop: the VMM stops and is Destroyed; the instance ends
    /// Stopped with intent Stopped.
    Stop,
    /// The guest powers off: the same, with intent GuestShutdown (not in
    /// legacy, which keeps no intent).
    GuestShutdown,
    /// The sled agent forgets the VMM; the watcher marks it Failed and runs
    /// the update saga inline; the instance becomes Failed, and
    /// reincarnation (intent Running, default policy) starts it again.
    WatcherFailsForgottenVmm,
}

const TRIGGERS: [UpdateTrigger; 3] = [
    UpdateTrigger::Stop,
    UpdateTrigger::GuestShutdown,
    UpdateTrigger::WatcherFailsForgottenVmm,
];

fn update_story(trigger: UpdateTrigger, crash: Option<&str>) -> Story {
    let mut s = Story::new(format!("sagas-update-{trigger:?}"), 2);
    s.create(WEB, true, &[Expected::Status(201)])
        .wait_state(WEB, ExternalState::Running, 60);
    if let Some(p) = crash {
        s.arm(p, PointArm::Crash);
    }
    match trigger {
        // The update saga runs after the sled's Destroyed push, after the
        // stop was answered.
        UpdateTrigger::Stop => s.stop(WEB, &[Expected::Status(202)]),
        UpdateTrigger::GuestShutdown => s.fault(Fault::GuestShutdown {
            instance: WEB.into(),
        }),
        UpdateTrigger::WatcherFailsForgottenVmm => s.fault(Fault::ForgetVmm {
            instance: WEB.into(),
        }),
    };
    if let Some(p) = crash {
        s.wait_point(p, 120).sleep(5).restart_nexus();
    }
    s
}

/// A Nexus crash after any node of either update saga: recovery finishes
/// them (the lock is inherited, the commit replay finds its own write) and
/// the run ends as the same story without the crash does.
#[test]
fn crash_in_update_sagas_recovers() {
    let mut f = Failures::default();
    for trigger in TRIGGERS {
        for variant in Variant::ALL {
            let clean = update_story(trigger, None).run(variant, SEEDS[0]);
            let want = end_shape(&clean, WEB);
            let mut p = clean_verdict(&clean);
            let expected = match trigger {
                UpdateTrigger::Stop => (ExternalState::Stopped, IntendedState::Stopped),
                UpdateTrigger::GuestShutdown => {
                    (ExternalState::Stopped, IntendedState::GuestShutdown)
                }
                UpdateTrigger::WatcherFailsForgottenVmm => {
                    (ExternalState::Running, IntendedState::Running)
                }
            };
            if (want.external, want.intent) != (Some(expected.0), intent(variant, expected.1)) {
                p.push(format!("the clean run ended {want:?}"));
            }
            if want.unfinished_sagas + want.stuck_sagas > 0 {
                p.push(format!("the clean run left sagas: {want:?}"));
            }
            f.check(&format!("clean {trigger:?}"), &clean, p);
            for prefix in ["start_update", "update"] {
                for point in crash_points(prefix) {
                    for seed in SEEDS {
                        let r = update_story(trigger, Some(&point)).run(variant, seed);
                        let mut p = clean_verdict(&r);
                        if !crashed_at(&r, &point) {
                            p.push("never halted at the point".into());
                        }
                        if !resumed(&r, saga_of_prefix(prefix)) {
                            p.push(format!(
                                "the {} saga was not resumed",
                                saga_of_prefix(prefix)
                            ));
                        }
                        let shape = end_shape(&r, WEB);
                        if shape != want {
                            p.push(format!("ended {shape:?}, the clean run ends {want:?}"));
                        }
                        f.check(&format!("{trigger:?} {point}"), &r, p);
                    }
                }
            }
        }
    }
    f.finish();
}

// ---------------------------------------------------------------------------
// Unwinding
// ---------------------------------------------------------------------------

/// Each instance-start node with an error injected, and the undos that must
/// run, in order (the nodes before it that have one).
#[rustfmt::skip]
const START_UNWINDS: [(&str, &[&str]); 6] = [
    ("GENERATE_PROPOLIS_ID", &[]),
    ("ALLOC_SERVER", &[]),
    ("CREATE_VMM_RECORD", &["ALLOC_SERVER"]),
    ("MARK_AS_STARTING", &["CREATE_VMM_RECORD", "ALLOC_SERVER"]),
    ("ENSURE_REGISTERED", &["MARK_AS_STARTING", "CREATE_VMM_RECORD", "ALLOC_SERVER"]),
    ("ENSURE_RUNNING", &["ENSURE_REGISTERED", "MARK_AS_STARTING", "CREATE_VMM_RECORD", "ALLOC_SERVER"]),
];

/// Each instance-create node with an error injected, and the undos that run.
#[rustfmt::skip]
const CREATE_UNWINDS: [(&str, &[&str]); 2] = [
    ("CREATE_INSTANCE_RECORD", &[]),
    ("MOVE_TO_STOPPED", &["CREATE_INSTANCE_RECORD"]),
];

#[test]
fn unwind_tables_cover_every_node() {
    fn names(t: &[(&'static str, &[&str])]) -> Vec<&'static str> {
        t.iter().map(|(n, _)| *n).collect()
    }
    assert_eq!(names(&START_UNWINDS), nodes("start"));
    assert_eq!(names(&CREATE_UNWINDS), nodes("create"));
}

/// The steps (node, step) of saga `name`'s first run, in order.
fn node_steps(r: &RunReport, name: SagaName) -> Vec<(String, NodeStep)> {
    let first = r.records.iter().find_map(|x| match &x.kind {
        RecordKind::Model(Event::SagaCreated { saga, name: n, .. }) if *n == name => Some(*saga),
        _ => None,
    });
    r.records
        .iter()
        .filter_map(|x| match &x.kind {
            RecordKind::Model(Event::SagaNode {
                saga, node, step, ..
            }) if Some(*saga) == first => Some((node.clone(), step.clone())),
            _ => None,
        })
        .collect()
}

fn undone(steps: &[(String, NodeStep)]) -> Vec<&str> {
    steps
        .iter()
        .filter(|(_, s)| *s == NodeStep::Undone)
        .map(|(n, _)| n.as_str())
        .collect()
}

/// An error injected into each node of a user's start: the saga unwinds
/// through exactly the undos before it, and when it has finished nothing
/// is left: no reservation, nothing on a sled, no live VMM row that is
/// not SagaUnwound, the instance Stopped (NoVmm). By the end of the run
/// the reaper has deleted the SagaUnwound row.
///
/// What happens next is the variant's: the intent stays Running (the start
/// wrote it), which omicron and legacy never carry out, so
/// `start_intent_honored` fires there (omicron-lifecycle 3.2: "an instance
/// that is Stopped while its intent stays Running"; #7727); `fixed`'s
/// reconciler starts the instance and nothing fires.
#[test]
fn start_saga_unwinds_cleanly_from_every_node() {
    let mut f = Failures::default();
    for (node, undos) in START_UNWINDS {
        let target = format!("start.{node}");
        for variant in Variant::ALL {
            for seed in SEEDS {
                let mut s = Story::new(format!("sagas-unwind-{target}"), 2);
                s.create(WEB, false, &[Expected::Status(201)])
                    .arm(&target, PointArm::InjectError)
                    .start(WEB, &[Expected::Status(500)]);
                let r = s.run(variant, seed);
                f.check(&target, &r, start_unwind_problems(&r, &target, node, undos));
            }
        }
    }
    f.finish();
}

fn start_unwind_problems(r: &RunReport, target: &str, node: &str, undos: &[&str]) -> Vec<String> {
    let mut p = Vec::new();
    let injected = r.records.iter().any(|x| {
        matches!(&x.kind, RecordKind::Point { name, action: PointArm::InjectError } if name == target)
    });
    if !injected {
        p.push("the error was never injected".into());
    }
    let steps = node_steps(r, SagaName::InstanceStart);
    if !steps.contains(&(node.to_string(), NodeStep::Failed("injected error".into()))) {
        p.push(format!("{node} did not fail: {steps:?}"));
    }
    if undone(&steps) != undos {
        p.push(format!("undid {:?}, expected {undos:?}", undone(&steps)));
    }
    let Some(at) = after_first(r, |x| {
        is_saga_finished(x, SagaName::InstanceStart, SagaState::Unwound)
    }) else {
        p.push("the start saga never finished Unwound".into());
        return p;
    };
    let id = instance_id(r, WEB).expect("web was created");
    let then = Rebuilt::upto(&r.records, at);
    if then.external(id) != Some(ExternalState::Stopped)
        || then
            .instance(id)
            .and_then(|i| i.runtime.propolis_id)
            .is_some()
    {
        p.push(format!(
            "unwound, but the instance is {:?}",
            then.instance(id).map(|i| &i.runtime)
        ));
    }
    if !then.reservations_of(id).is_empty() {
        p.push(format!(
            "unwound, but reservations remain: {:?}",
            then.reservations_of(id)
        ));
    }
    if !then.on_sleds(id).is_empty() {
        p.push(format!("unwound, but on a sled: {:?}", then.on_sleds(id)));
    }
    let live: Vec<VmmState> = then.live_vmms(id).iter().map(|v| v.runtime.state).collect();
    let made_vmm = !matches!(
        node,
        "GENERATE_PROPOLIS_ID" | "ALLOC_SERVER" | "CREATE_VMM_RECORD"
    );
    let want_live = if made_vmm {
        vec![VmmState::SagaUnwound]
    } else {
        Vec::new()
    };
    if live != want_live {
        p.push(format!(
            "unwound, live VMM rows {live:?}, expected {want_live:?}"
        ));
    }
    // The unwound saga's VMM, reaped by the end.
    let end = Rebuilt::at_end(r);
    for v in then.live_vmms(id) {
        let row = end.vmms.get(&v.id);
        if row.is_none_or(|row| row.time_deleted.is_none()) {
            p.push(format!(
                "the SagaUnwound VMM {} was never reaped: {row:?}",
                v.id
            ));
        }
        if end.reservations.contains_key(&v.id) {
            p.push(format!("VMM {} still holds a reservation", v.id));
        }
    }
    let shape = end_shape(r, WEB);
    let fired: Vec<String> = r.violations.iter().map(|v| v.signature()).collect();
    if r.crash.is_some() || !r.divergences.is_empty() || r.hung.is_some() {
        p.push(format!(
            "crash {:?} divergences {:?} hung {:?}",
            r.crash, r.divergences, r.hung
        ));
    }
    match r.variant {
        Variant::Fixed => {
            if shape != running_shape(r.variant) {
                p.push(format!(
                    "the reconciler should have started it; ended {shape:?}"
                ));
            }
            if !fired.is_empty() {
                p.push(format!("fired {fired:?}"));
            }
        }
        Variant::Legacy | Variant::Omicron => {
            let stopped = EndShape {
                external: Some(ExternalState::Stopped),
                intent: intent(r.variant, IntendedState::Running),
                on_sleds: Vec::new(),
                live_vmm_rows: 0,
                reservations: 0,
                unfinished_sagas: 0,
                stuck_sagas: 0,
            };
            if shape != stopped {
                p.push(format!("ended {shape:?}, expected {stopped:?}"));
            }
            if fired != ["start_intent_honored/start ends Stopped"] {
                p.push(format!("fired {fired:?}"));
            }
        }
    }
    p
}

/// An error injected into each node of the create saga: it unwinds, the
/// record is gone, the create gets 500, nothing else was made, and no
/// checker fires (a create whose record the undo deleted again did not take
/// effect).
#[test]
fn create_saga_unwinds_cleanly_from_every_node() {
    let mut f = Failures::default();
    for (node, undos) in CREATE_UNWINDS {
        let target = format!("create.{node}");
        for start in [true, false] {
            for variant in Variant::ALL {
                for seed in SEEDS {
                    let r = create_unwind_story(&target, start).run(variant, seed);
                    let mut p = create_unwind_problems(&r, node, undos);
                    for v in &r.violations {
                        p.push(format!("violated {}: {}", v.signature(), v.message));
                    }
                    f.check(&format!("{target} start={start}"), &r, p);
                }
            }
        }
    }
    f.finish();
}

fn create_unwind_story(target: &str, start: bool) -> Story {
    let mut s = Story::new(format!("sagas-unwind-{target}"), 2);
    s.arm(target, PointArm::InjectError)
        .create(WEB, start, &[Expected::Status(500)])
        .sleep(5);
    s
}

fn create_unwind_problems(r: &RunReport, node: &str, undos: &[&str]) -> Vec<String> {
    let mut p = Vec::new();
    if r.crash.is_some() || !r.divergences.is_empty() || r.hung.is_some() {
        p.push(format!(
            "crash {:?} divergences {:?} hung {:?}",
            r.crash, r.divergences, r.hung
        ));
    }
    let steps = node_steps(r, SagaName::InstanceCreate);
    if !steps.contains(&(node.to_string(), NodeStep::Failed("injected error".into()))) {
        p.push(format!("{node} did not fail: {steps:?}"));
    }
    if undone(&steps) != undos {
        p.push(format!("undid {:?}, expected {undos:?}", undone(&steps)));
    }
    let end = Rebuilt::at_end(r);
    if end.sagas_ended(SagaName::InstanceCreate, SagaState::Unwound) != 1 {
        p.push("the create saga did not end Unwound".into());
    }
    if !end.instances.is_empty() {
        p.push(format!("instance rows remain: {:?}", end.instances));
    }
    if !end.vmms.is_empty() || !end.reservations.is_empty() {
        p.push(format!(
            "VMMs {:?} reservations {:?}",
            end.vmms, end.reservations
        ));
    }
    if end
        .sagas
        .values()
        .any(|(n, _, _)| *n != SagaName::InstanceCreate)
    {
        p.push(format!("another saga ran: {:?}", end.sagas));
    }
    p
}

#[test]
fn create_unwound_after_its_record_fires_no_checker() {
    for start in [true, false] {
        let r = create_unwind_story("create.MOVE_TO_STOPPED", start).run(Variant::Omicron, 1);
        assert!(r.violations.is_empty(), "{}", explain(&r));
    }
}

// ---------------------------------------------------------------------------
// The stuck undo (#7727, #9174)
// ---------------------------------------------------------------------------

const REGISTERED: &str = "start.ENSURE_REGISTERED.after_log";

/// A user start paused right after `ENSURE_REGISTERED`; the sled agent
/// forgets the VMM; then `ENSURE_RUNNING` fails, either because the sled
/// answers NO_SUCH_INSTANCE or by an injected error. Unwinding, the
/// `ENSURE_REGISTERED` undo finds the VMM gone and fails: the saga is stuck.
fn stuck_story(inject: bool) -> Story {
    let mut s = Story::new("sagas-stuck-undo", 2);
    s.create(WEB, false, &[Expected::Status(201)])
        .arm(REGISTERED, PointArm::Pause)
        .start_no_wait(WEB)
        .wait_point(REGISTERED, 60)
        .fault(Fault::ForgetVmm {
            instance: WEB.into(),
        })
        .sleep(5);
    if inject {
        s.arm("start.ENSURE_RUNNING", PointArm::InjectError);
    }
    s.unpause(REGISTERED).sleep(60);
    s
}

#[test]
fn start_stuck_when_the_sled_forgot_the_vmm_is_known_upstream() {
    let mut f = Failures::default();
    for inject in [false, true] {
        for variant in Variant::ALL {
            for seed in SEEDS {
                let r = stuck_story(inject).run(variant, seed);
                let mut p = clean_verdict(&r);
                let steps = node_steps(&r, SagaName::InstanceStart);
                let failed = steps
                    .iter()
                    .any(|(n, s)| n == "ENSURE_RUNNING" && matches!(s, NodeStep::Failed(_)));
                if !failed {
                    p.push(format!("ENSURE_RUNNING did not fail: {steps:?}"));
                }
                let undo_failed = steps
                    .iter()
                    .any(|(n, s)| n == "ENSURE_REGISTERED" && matches!(s, NodeStep::UndoFailed(_)));
                if !undo_failed {
                    p.push(format!(
                        "the ENSURE_REGISTERED undo did not fail: {steps:?}"
                    ));
                }
                let end = Rebuilt::at_end(&r);
                if end.sagas_ended(SagaName::InstanceStart, SagaState::Stuck) != 1 {
                    p.push("no instance-start saga ended Stuck".into());
                }
                let known: Vec<String> = r.known.iter().map(|v| v.signature()).collect();
                if known != ["sagas_settle/instance-start stuck (ENSURE_REGISTERED undo failed)"] {
                    p.push(format!("known-upstream: {known:?}"));
                }
                let starts = outcomes(&r, |op| *op == ApiOp::Start);
                if starts != [Expected::Status(500)] {
                    p.push(format!("the start got {starts:?}"));
                }
                // The watcher fails the forgotten VMM, the update saga makes
                // the instance Failed, and reincarnation (intent Running)
                // starts it again: only the stuck saga remains.
                let shape = end_shape(&r, WEB);
                let want = EndShape {
                    stuck_sagas: 1,
                    ..running_shape(r.variant)
                };
                if shape != want {
                    p.push(format!("ended {shape:?}, expected {want:?}"));
                }
                f.check(&format!("stuck undo inject={inject}"), &r, p);
            }
        }
    }
    f.finish();
}

/// omicron's `sis_ensure_registered_undo` passes `REGISTERED_VMM_RECORD`
/// (the record `instance_ensure_registered` returns, with the runtime the
/// sled reported: Starting, generation 2) to `mark_vmm_failed`, which
/// writes Failed at generation 3 and runs the update saga inline. The model
/// passes CREATE_VMM_RECORD's row (Creating, generation 1), so its Failed
/// write carries generation 2, is dropped as stale, and the instance stays
/// on a VMM no sled has until the watcher notices (up to 30 s later).
#[test]
fn stuck_undo_marks_the_registered_vmm_failed() {
    let r = stuck_story(false).run(Variant::Omicron, 1);
    let write = r.records.iter().find_map(|x| match &x.kind {
        RecordKind::Model(Event::VmmWrite {
            query: Query::VmmUpdateRuntime,
            cause: Cause::Saga { node, .. },
            outcome,
            after,
            ..
        }) if node == "ENSURE_REGISTERED (undo)" => Some((*outcome, after.clone())),
        _ => None,
    });
    let (outcome, after) = write.unwrap_or_else(|| panic!("no undo write\n{}", explain(&r)));
    assert_eq!(outcome, WriteOutcome::Applied, "{}", explain(&r));
    assert_eq!(
        after.map(|a| a.runtime.state),
        Some(VmmState::Failed),
        "{}",
        explain(&r)
    );
}
