//! The headline stories, each told through the harness in virtual time with
//! a plan built in code (one Nexus, two sleds, omicron's default timings):
//!
//! - #6809: a stop that finds its VMM gone answers 503 and leaves the
//!   instance Failed. `legacy` (before PR #8053) reincarnates it although
//!   the user's last word was "stop"; `omicron` and `fixed` keep the intent
//!   Stopped and never restart it.
//! - The gap PR #8053 leaves open: a Nexus that dies between the create saga
//!   and the start saga of a `create start=true` leaves the instance Stopped
//!   with intent Running. `omicron` (and `legacy`) never start it;
//!   `fixed`'s intent reconciler does.
//! - Determinism: one seed gives one byte-identical trace, for a story with
//!   faults and for the swarm; another seed gives another trace.
//! - A panic inside the model is reported as the `crashed` verdict.

use crate::common::*;
use intent_sim::catalog;
use intent_sim::checkers::requests::mark_as_starting;
use intent_sim::fault::Fault;
use intent_sim::plan::Expected;
use intent_sim::record::{PointArm, Record, RecordKind, RequestOutcome, WorkloadEvent};
use intent_sim::trace;
use intent_sim::verdict::{RunReport, Verdict};
use model::db::rows::{InstanceRow, SagaName};
use model::event::{ApiOp, Decision, Event, WriteOutcome};
use model::ids::{HostId, InstanceId, SagaId, SledId};
use model::states::{ExternalState, InstanceState, IntendedState, StartReason, VmmState};
use model::variant::Variant;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const WEB: &str = "web";
const SEED: u64 = 7;

// ---------------------------------------------------------------------------
// Reading a run's records
// ---------------------------------------------------------------------------

/// The index of the record with the outcome of the first `op` request, and
/// that outcome.
fn first_outcome(r: &RunReport, op: ApiOp) -> Option<(usize, RequestOutcome)> {
    r.records
        .iter()
        .enumerate()
        .find_map(|(i, x)| match &x.kind {
            RecordKind::Workload(WorkloadEvent::Outcome { op: o, outcome, .. })
                if o.name() == op.name() =>
            {
                Some((i, outcome.clone()))
            }
            _ => None,
        })
}

/// The after-row of the last applied write to instance `id`.
fn last_row(records: &[Record], id: InstanceId) -> Option<InstanceRow> {
    records.iter().rev().find_map(|x| match &x.kind {
        RecordKind::Model(Event::InstanceWrite {
            outcome: WriteOutcome::Applied,
            after: Some(a),
            ..
        }) if a.id == id => Some((**a).clone()),
        _ => None,
    })
}

/// Sagas created with start reason `reason`.
fn sagas_with_reason(r: &RunReport, reason: StartReason) -> BTreeSet<SagaId> {
    r.records
        .iter()
        .filter_map(|x| match &x.kind {
            RecordKind::Model(Event::SagaCreated {
                saga,
                reason: Some(why),
                ..
            }) if *why == reason => Some(*saga),
            _ => None,
        })
        .collect()
}

/// The sagas of reincarnation's `Reincarnate` decisions for `id`.
fn reincarnations(r: &RunReport, id: InstanceId) -> Vec<SagaId> {
    r.records
        .iter()
        .filter_map(|x| match &x.kind {
            RecordKind::Model(Event::TaskDecision {
                instance,
                decision: Decision::Reincarnate { saga, .. },
                ..
            }) if *instance == id => Some(*saga),
            _ => None,
        })
        .collect()
}

/// `(index, saga)` of every committed `MARK_AS_STARTING` of `id`.
fn marks_as_starting(r: &RunReport, id: InstanceId) -> Vec<(usize, SagaId)> {
    r.records
        .iter()
        .enumerate()
        .filter_map(|(i, x)| match &x.kind {
            RecordKind::Model(e) => mark_as_starting(e)
                .filter(|m| m.instance == id)
                .map(|m| (i, m.saga)),
            _ => None,
        })
        .collect()
}

/// The state of the last `VmmOnSled` event of `id` (and its sled).
fn last_on_sled(r: &RunReport, id: InstanceId) -> Option<(SledId, VmmState)> {
    r.records.iter().rev().find_map(|x| match &x.kind {
        RecordKind::Model(Event::VmmOnSled {
            sled,
            instance,
            state,
            ..
        }) if *instance == id => Some((*sled, *state)),
        _ => None,
    })
}

fn no_harness_trouble(r: &RunReport) {
    assert!(
        r.crash.is_none() && r.divergences.is_empty() && r.hung.is_none(),
        "crash {:?} divergences {:?} hung {:?}\n{}",
        r.crash,
        r.divergences,
        r.hung,
        explain(r)
    );
}

/// Every record as a trace line, instance names in place of ids.
fn rendered(r: &RunReport) -> Vec<String> {
    r.records
        .iter()
        .map(|x| trace::render(x, &r.names))
        .collect()
}

// ---------------------------------------------------------------------------
// a, b: the stop that finds its VMM gone (#6809, PR #8053's test)
// ---------------------------------------------------------------------------

/// The first half of `scenarios/stop-finds-vmm-gone.toml`: the sled agent
/// forgets the running VMM, the stop gets 503 and the instance goes Failed;
/// then two reincarnation periods pass.
fn stop_finds_vmm_gone() -> Story {
    let mut s = Story::new("headline-stop-finds-vmm-gone", 2);
    s.create(WEB, true, &[Expected::Status(201)])
        .wait_state(WEB, ExternalState::Running, 60)
        .fault(Fault::ForgetVmm {
            instance: WEB.into(),
        })
        .stop(WEB, &[Expected::Status(503)])
        .wait_state(WEB, ExternalState::Failed, 60)
        .sleep(150);
    s
}

/// The stop's outcome record index, after asserting it was a 503.
fn stop_got_503(r: &RunReport) -> usize {
    let (at, outcome) =
        first_outcome(r, ApiOp::Stop).unwrap_or_else(|| panic!("no stop outcome\n{}", explain(r)));
    assert!(
        matches!(outcome, RequestOutcome::Status { status: 503, .. }),
        "stop got {outcome:?}\n{}",
        explain(r)
    );
    at
}

#[test]
fn legacy_restarts_the_instance_a_stop_found_gone() {
    let r = stop_finds_vmm_gone().run(Variant::Legacy, SEED);
    no_harness_trouble(&r);
    let id = instance_id(&r, WEB).expect("web was created");
    let stop_at = stop_got_503(&r);

    let chosen = reincarnations(&r, id);
    assert!(
        !chosen.is_empty(),
        "no Reincarnate decision\n{}",
        explain(&r)
    );
    let auto = sagas_with_reason(&r, StartReason::AutoRestart);
    let restarted: Vec<SagaId> = marks_as_starting(&r, id)
        .into_iter()
        .filter(|(i, saga)| *i > stop_at && auto.contains(saga))
        .map(|(_, saga)| saga)
        .collect();
    assert!(
        !restarted.is_empty(),
        "no MARK_AS_STARTING by an AutoRestart saga after the stop\n{}",
        explain(&r)
    );
    assert!(
        restarted.iter().all(|s| chosen.contains(s)),
        "the restarting saga {restarted:?} is not one reincarnation chose ({chosen:?})"
    );
    assert!(
        r.fired_new().contains("no_unintended_restart"),
        "no_unintended_restart did not fire: {:?}\n{}",
        r.fired(),
        explain(&r)
    );
    assert_eq!(r.verdict(), Verdict::Violated);
}

#[test]
fn omicron_and_fixed_keep_the_instance_a_stop_found_gone_failed() {
    for variant in [Variant::Omicron, Variant::Fixed] {
        let r = stop_finds_vmm_gone().run(variant, SEED);
        no_harness_trouble(&r);
        let id = instance_id(&r, WEB).expect("web was created");
        let stop_at = stop_got_503(&r);

        let row = last_row(&r.records, id).expect("web has rows");
        assert_eq!(
            (row.runtime.nexus_state, row.intended_state),
            (InstanceState::Failed, IntendedState::Stopped),
            "{variant}: the last row is {row:?}\n{}",
            explain(&r)
        );
        assert_eq!(
            Rebuilt::at_end(&r).external(id),
            Some(ExternalState::Failed),
            "{variant}\n{}",
            explain(&r)
        );
        assert!(
            reincarnations(&r, id).is_empty(),
            "{variant}: reincarnation chose it\n{}",
            explain(&r)
        );
        let late: Vec<_> = marks_as_starting(&r, id)
            .into_iter()
            .filter(|(i, _)| *i > stop_at)
            .collect();
        assert!(
            late.is_empty(),
            "{variant}: MARK_AS_STARTING after the stop: {late:?}\n{}",
            explain(&r)
        );
        assert!(
            r.violations.is_empty() && r.known.is_empty(),
            "{variant}: fired {:?}\n{}",
            r.fired(),
            explain(&r)
        );
        assert_eq!(r.verdict(), Verdict::Held);
    }
}

// ---------------------------------------------------------------------------
// c: a Nexus crash between the create saga and the start saga
// ---------------------------------------------------------------------------

const BETWEEN: &str = "create.between_create_and_start";

/// `create start=true`; Nexus halts after the create saga, before the start
/// saga, and is restarted 5 s later.
fn create_crash_between() -> Story {
    let mut s = Story::new("headline-create-crash-between", 2);
    s.arm(BETWEEN, PointArm::Crash)
        .create(WEB, true, &[Expected::NoResponse])
        .wait_point(BETWEEN, 60)
        .sleep(5)
        .restart_nexus()
        .sleep(60);
    s
}

fn halted_between(r: &RunReport) -> bool {
    r.records.iter().any(|x| {
        matches!(&x.kind, RecordKind::Point { name, action: PointArm::Crash } if name == BETWEEN)
            && x.host == NEXUS
    })
}

#[test]
fn create_crash_between_create_and_start() {
    for variant in Variant::ALL {
        let r = create_crash_between().run(variant, SEED);
        no_harness_trouble(&r);
        assert!(
            halted_between(&r),
            "{variant}: never halted\n{}",
            explain(&r)
        );
        let restarts = r
            .records
            .iter()
            .filter(|x| matches!(&x.kind, RecordKind::Model(Event::HostStarted)) && x.host == NEXUS)
            .count();
        assert_eq!(restarts, 2, "{variant}: nexus-0 did not start again");
        let id = instance_id(&r, WEB).expect("web was created");
        let row = last_row(&r.records, id).expect("web has rows");
        match variant {
            Variant::Legacy | Variant::Omicron => {
                assert_eq!(
                    (row.runtime.nexus_state, row.intended_state),
                    (InstanceState::NoVmm, IntendedState::Running),
                    "{variant}: the last row is {row:?}\n{}",
                    explain(&r)
                );
                assert_eq!(
                    Rebuilt::at_end(&r).external(id),
                    Some(ExternalState::Stopped)
                );
                assert!(
                    marks_as_starting(&r, id).is_empty(),
                    "{variant}: something started it\n{}",
                    explain(&r)
                );
                let fired: Vec<String> = r.violations.iter().map(|v| v.signature()).collect();
                assert_eq!(
                    fired,
                    ["start_intent_honored/create start=true ends Stopped"],
                    "{variant}\n{}",
                    explain(&r)
                );
                assert_eq!(r.verdict(), Verdict::Violated);
            }
            Variant::Fixed => {
                assert_eq!(
                    row.runtime.nexus_state,
                    InstanceState::Vmm,
                    "fixed: the last row is {row:?}\n{}",
                    explain(&r)
                );
                let (_, state) = last_on_sled(&r, id)
                    .unwrap_or_else(|| panic!("fixed: never on a sled\n{}", explain(&r)));
                assert_eq!(state, VmmState::Running, "fixed\n{}", explain(&r));
                assert_eq!(
                    Rebuilt::at_end(&r).external(id),
                    Some(ExternalState::Running)
                );
                let by_reconciler = sagas_with_reason(&r, StartReason::IntentReconciler);
                assert!(
                    marks_as_starting(&r, id)
                        .iter()
                        .any(|(_, s)| by_reconciler.contains(s)),
                    "fixed: not started by the reconciler\n{}",
                    explain(&r)
                );
                assert!(
                    r.violations.is_empty(),
                    "fixed: fired {:?}\n{}",
                    r.fired(),
                    explain(&r)
                );
                assert_eq!(r.verdict(), Verdict::Held);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// d: determinism
// ---------------------------------------------------------------------------

/// A story with faults of several kinds: a crash at a point, a restart, a
/// partition and its repair, a held link, a guest shutdown and a forgotten
/// VMM.
fn faulty_story() -> Story {
    let sled0 = HostId::Sled(SledId(0));
    let sled1 = HostId::Sled(SledId(1));
    let cut = |a, b| Fault::Partition {
        a,
        b,
        oneway: false,
    };
    let mend = |a, b| Fault::Repair {
        a,
        b,
        oneway: false,
    };
    let mut s = Story::new("headline-determinism", 2);
    s.arm(BETWEEN, PointArm::Crash)
        .create(WEB, true, &[])
        .wait_point(BETWEEN, 60)
        .sleep(3)
        .restart_nexus()
        // Nexus reaches no sled: db1's start saga unwinds.
        .fault(cut(NEXUS, sled0))
        .fault(cut(NEXUS, sled1))
        .create("db1", true, &[])
        .fault(mend(NEXUS, sled0))
        .fault(mend(NEXUS, sled1))
        .start("db1", &[])
        .fault(Fault::Hold {
            a: NEXUS,
            b: sled1,
            deliver_late: false,
        })
        .sleep(2)
        .fault(Fault::Release { a: NEXUS, b: sled1 })
        .sleep(40)
        .fault(Fault::GuestShutdown {
            instance: "db1".into(),
        })
        .fault(Fault::ForgetVmm {
            instance: WEB.into(),
        })
        .stop(WEB, &[])
        .start("db1", &[]);
    s
}

fn assert_same_trace(a: &RunReport, b: &RunReport, what: &str) {
    let (la, lb) = (rendered(a), rendered(b));
    if let Some(i) = (0..la.len().min(lb.len())).find(|&i| la[i] != lb[i]) {
        panic!(
            "{what}: the traces differ first at line {i}:\n  {}\n  {}",
            la[i], lb[i]
        );
    }
    assert_eq!(
        la.len(),
        lb.len(),
        "{what}: one trace is a prefix of the other"
    );
    assert_eq!(la, lb);
    assert_eq!(a.fired(), b.fired(), "{what}");
    assert_eq!(a.verdict(), b.verdict(), "{what}");
}

#[test]
fn a_story_with_faults_is_deterministic() {
    for variant in Variant::ALL {
        let story = faulty_story();
        let a = story.run(variant, SEED);
        assert!(a.crash.is_none(), "{variant}: {:?}", a.crash);
        assert!(a.records.len() > 50, "{variant}: a trivial trace");
        let b = story.run(variant, SEED);
        assert_same_trace(&a, &b, &format!("{variant} seed {SEED}"));
        let c = story.run(variant, SEED + 1);
        assert_ne!(
            rendered(&a),
            rendered(&c),
            "{variant}: seeds {SEED} and {} gave the same trace",
            SEED + 1
        );
    }
}

#[test]
fn the_swarm_is_deterministic() {
    let swarm = catalog::find("swarm").expect("the swarm scenario");
    for variant in Variant::ALL {
        let mut traces = Vec::new();
        for seed in [3, 7] {
            let (a, shape_a) = catalog::run(&swarm, None, variant, seed).expect("swarm run");
            let (b, shape_b) = catalog::run(&swarm, None, variant, seed).expect("swarm run");
            assert!(a.crash.is_none(), "{variant} seed {seed}: {:?}", a.crash);
            assert_eq!(
                shape_a.map(|s| s.to_string()),
                shape_b.map(|s| s.to_string()),
                "{variant} seed {seed}: the drawn plan differs"
            );
            assert_same_trace(&a, &b, &format!("swarm {variant} seed {seed}"));
            traces.push(rendered(&a));
        }
        assert_ne!(
            traces[0], traces[1],
            "{variant}: swarm seeds 3 and 7 gave the same trace"
        );
    }
}

// ---------------------------------------------------------------------------
// A panic in the model is the `crashed` verdict
// ---------------------------------------------------------------------------

/// A tracing layer that panics on the model's event whose message contains
/// `needle`. The model writes every event to `tracing` from the host task
/// that emits it (`model::probe::emit`), so this panics inside that task,
/// as a bug in the model would, without touching the harness's probe.
struct PanicOn {
    needle: &'static str,
    /// Set when the layer panicked.
    fired: Arc<AtomicBool>,
}

/// Where `model::probe::emit` writes its `tracing` event.
const EMIT_MODULE: &str = "model::probe";
const NEEDLE: &str = "MARK_AS_STARTING: done";

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PanicOn {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().module_path() != Some(EMIT_MODULE) {
            return;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.contains(self.needle) {
            self.fired.store(true, Ordering::Relaxed);
            panic!("injected model panic at {:?}", m.0);
        }
    }
}

/// A create start=true whose start saga panics (in the model's own task)
/// when `MARK_AS_STARTING` is done.
///
/// tracing caches each callsite's interest globally, and while only one
/// subscriber exists it computes a callsite's interest from the default of
/// the thread that registers the callsite. If another test's thread (with
/// no subscriber) registers `emit`'s callsite, the cache says "never" and
/// this thread's layer misses the events from then on. So when the model
/// emitted the event but the layer did not fire, the cache is rebuilt
/// under this thread's subscriber (the callsite is registered by then, so
/// it stays) and the run, which is deterministic, is repeated.
fn run_with_model_panic() -> RunReport {
    use tracing_subscriber::layer::SubscriberExt;
    let fired = Arc::new(AtomicBool::new(false));
    let subscriber = tracing_subscriber::registry().with(PanicOn {
        needle: NEEDLE,
        fired: fired.clone(),
    });
    let mut s = Story::new("headline-model-panic", 2);
    s.create(WEB, true, &[]).sleep(30);
    tracing::subscriber::with_default(subscriber, || {
        let mut last = None;
        for _ in 0..3 {
            tracing::callsite::rebuild_interest_cache();
            let r = s.run(Variant::Fixed, SEED);
            let missed =
                !fired.load(Ordering::Relaxed) && rendered(&r).iter().any(|l| l.contains(NEEDLE));
            if !missed {
                return r;
            }
            last = Some(r);
        }
        last.expect("three runs")
    })
}

#[test]
fn a_panic_in_a_saga_task_is_the_crashed_verdict() {
    let r = run_with_model_panic();
    assert_eq!(r.verdict(), Verdict::Crashed, "{}", explain(&r));
    let crash = r.crash.clone().unwrap_or_default();
    assert!(crash.starts_with("panic: "), "{crash}");
    assert!(!r.matches_expectation());
    // The run stopped where the model panicked: the start saga never
    // finished, and no liveness checker judged the crashed run.
    let start_finished = r.records.iter().any(|x| {
        matches!(
            &x.kind,
            RecordKind::Model(Event::SagaFinished {
                name: SagaName::InstanceStart,
                ..
            })
        )
    });
    assert!(!start_finished, "{}", explain(&r));
    assert!(r.violations.is_empty(), "{:?}", r.fired());
}

/// The verdict should name the model's panic. `sim/src/panics.rs` keeps the
/// message of the *last* panic caught while running (its hook overwrites
/// it), and the last one is tokio's follow-up "a spawned task panicked and
/// the LocalSet is configured to shutdown on unhandled panic", so the
/// model's own message and location are lost.
#[test]
fn the_crashed_verdict_names_the_models_panic() {
    let r = run_with_model_panic();
    let crash = r.crash.clone().unwrap_or_default();
    assert!(crash.contains("injected model panic"), "{crash}");
}
