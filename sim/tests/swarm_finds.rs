//! The two headline bugs found by the swarm itself, each printing the seed
//! it found, and a replayed seed giving the same run. (The swarm's seeds,
//! judged against its settings, are tests of their own in `cases.rs`.)

use intent_sim::catalog;
use intent_sim::record::{PointArm, RecordKind, WorkloadEvent};
use intent_sim::report;
use intent_sim::trace;
use intent_sim::verdict::RunReport;
use model::variant::Variant;

/// How far the headline tests look.
const FINDER_SEEDS: u64 = 300;

fn run(variant: Variant, seed: u64) -> RunReport {
    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    catalog::run(&s, None, variant, seed)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn lines(r: &RunReport) -> Vec<String> {
    r.records
        .iter()
        .map(|x| trace::render(x, &r.names))
        .collect()
}

/// Finds the first seed in 0..FINDER_SEEDS whose run satisfies `found`.
fn find(variant: Variant, found: impl Fn(&RunReport) -> bool) -> Option<RunReport> {
    (0..FINDER_SEEDS).map(|s| run(variant, s)).find(found)
}

/// In `legacy`, the swarm finds #6809: a stop answered 503
/// (NO_SUCH_INSTANCE) followed by an automatic restart.
#[test]
fn swarm_finds_the_legacy_restart_after_a_503_stop() {
    let r = find(Variant::Legacy, |r| {
        r.violations.iter().any(|v| {
            v.checker == "no_unintended_restart"
                && r.evidence(v)
                    .iter()
                    .any(|e| e.contains("stop") && e.contains("503"))
                && r.evidence(v).iter().any(|e| e.contains("AutoRestart"))
        })
    })
    .expect("no legacy seed in 0..300 shows a restart after a stop answered 503");
    println!(
        "legacy: seed {} shows #6809 (stop answered 503, then auto-restarted)\n{}",
        r.seed,
        report::repro(&r)
    );
    assert!(r
        .records
        .iter()
        .any(|x| matches!(&x.kind, RecordKind::Workload(WorkloadEvent::Outcome { .. }))));
}

/// In `omicron`, the swarm finds the gap PR #8053 leaves open: a Nexus
/// that crashes at `create.between_create_and_start` leaves a Running
/// intent that nothing carries out.
#[test]
fn swarm_finds_the_omicron_start_intent_lost_to_a_nexus_crash() {
    let r = find(Variant::Omicron, |r| {
        let crashed_there = r.records.iter().any(|x| {
            matches!(&x.kind, RecordKind::Point { name, action: PointArm::Crash }
                if name == "create.between_create_and_start")
        });
        crashed_there
            && r.violations
                .iter()
                .any(|v| v.checker == "start_intent_honored")
    })
    .expect("no omicron seed in 0..300 loses a start intent to a crash between create and start");
    println!(
        "omicron: seed {} loses a start intent to a Nexus crash at create.between_create_and_start\n{}",
        r.seed,
        report::repro(&r)
    );
    // The same seed in `fixed` honors the intent.
    let fixed = run(Variant::Fixed, r.seed);
    assert!(
        !fixed
            .violations
            .iter()
            .any(|v| v.checker == "start_intent_honored"),
        "{}",
        report::run_report(&fixed, None, true)
    );
}

/// A failing seed replayed gives the same events and verdict.
#[test]
fn a_replayed_seed_gives_the_same_events_and_verdict() {
    for variant in Variant::ALL {
        let a = run(variant, 11);
        let b = run(variant, 11);
        assert_eq!(lines(&a), lines(&b));
        assert_eq!(a.verdict(), b.verdict());
        assert_eq!(a.mismatch(), b.mismatch());
    }
}

/// Swarm seeds that once broke `fixed` (issue 8), pinned. 9965: a user's
/// stop found no such VMM (404, `mark_vmm_failed`) an instant before the
/// start saga's ENSURE_REGISTERED registered it, after the saga's re-read
/// (branch 4) had passed, so the sled ran a VMM whose record had ended
/// beside the instance's next VMM (single_active_vmm, resources_released).
/// Branch 5 (the reconciler unregisters a running VMM that is not its
/// instance's active VMM) removes it. 16128 ended hung: the intent
/// reconciler kept a start saga in flight on a lost sled; its backoff and
/// branch 10 (the retry tries the unreachable sled last) let it settle.
/// Each is also pinned as a scenario file: `scenarios/found/
/// orphan-after-reincarnation-reaped.toml` and
/// `reconciler-retries-lost-sled-after-recovery.toml`.
#[test]
fn fixed_swarm_seeds_9965_and_16128_hold() {
    let r = run(Variant::Fixed, 9965);
    assert!(
        r.violations.is_empty() && r.hung.is_none() && r.matches_expectation(),
        "seed 9965 fixed: {:?} {:?}",
        r.violations,
        r.hung
    );
    assert!(
        lines(&r)
            .iter()
            .any(|l| l.contains("not the active VMM: unregister it")),
        "seed 9965 fixed no longer reaps the orphan: the plan changed; find the seed again"
    );
    let r = run(Variant::Fixed, 16128);
    assert!(
        r.violations.is_empty() && r.hung.is_none() && r.matches_expectation(),
        "seed 16128 fixed: {:?} {:?}",
        r.violations,
        r.hung
    );
}
