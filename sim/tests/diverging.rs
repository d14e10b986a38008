//! The fixtures in `tests/fixtures/diverging/`, scenarios written so that
//! their story cannot happen, must end `diverged` with a message that says
//! what did not happen (in every variant, at several seeds).

use intent_sim::catalog;
use intent_sim::report;
use intent_sim::scenario::{load_file, Scenario};
use intent_sim::verdict::{RunReport, Verdict};
use model::variant::Variant;
use std::path::Path;

/// The seed the snapshots are taken at, and one of the seeds here.
const SEED: u64 = 1;

/// Runs a fixture (it has no cases) in one variant.
fn run(s: &Scenario, _case: Option<&str>, variant: Variant, seed: u64) -> RunReport {
    catalog::run(s, None, variant, seed)
        .unwrap_or_else(|e| panic!("{}: {e}", s.name))
        .0
}

/// Loads a fixture that is written to diverge.
fn diverging(name: &str) -> Scenario {
    let path = format!(
        "{}/tests/fixtures/diverging/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    load_file(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `s` in every variant at a few seeds and checks that each run
/// diverged with a message containing `message`, and for that reason only.
fn assert_diverges(s: &Scenario, message: &str) {
    for variant in Variant::ALL {
        for seed in [0, SEED, 7, 4711] {
            let r = run(s, None, variant, seed);
            let full = report::run_report(&r, None, true);
            assert_eq!(
                r.verdict(),
                Verdict::Diverged,
                "{} ({variant}, seed {seed}) should have diverged:\n{full}",
                s.name
            );
            assert!(
                r.violations.is_empty() && r.crash.is_none() && r.hung.is_none(),
                "{} ({variant}, seed {seed}) diverged, but not only that:\n{full}",
                s.name
            );
            assert!(
                r.divergences.iter().any(|d| d.contains(message)),
                "{} ({variant}, seed {seed}): no divergence says {message:?}; they are {:?}",
                s.name,
                r.divergences
            );
            let mismatch = r.mismatch().unwrap_or_else(|| {
                panic!(
                    "{} ({variant}, seed {seed}) diverged but counts as expected",
                    s.name
                )
            });
            assert!(
                mismatch.contains(message),
                "{} ({variant}, seed {seed}): the mismatch does not say {message:?}: {mismatch}",
                s.name
            );
            assert!(
                full.contains("DIVERGED: ") && full.contains("verdict: diverged"),
                "{} ({variant}, seed {seed}): the report does not show the divergence:\n{full}",
                s.name
            );
        }
    }
}

#[test]
fn a_response_that_never_comes_diverges() {
    // The create gets 201, not the 503 the step expects.
    let s = diverging("create-expects-503");
    assert_diverges(&s, "got 201, expected 503");
    let r = run(&s, None, Variant::Fixed, SEED);
    assert!(
        r.divergences[0].starts_with("create \"web\" (r-"),
        "the message names the request: {:?}",
        r.divergences
    );
}

#[test]
fn an_unreachable_must_reach_diverges() {
    // Nothing fails the instance, so reincarnation never selects it.
    let s = diverging("never-reincarnated");
    assert_diverges(
        &s,
        "the story never reached: nexus-0 reaches reincarnation.selected",
    );
}
