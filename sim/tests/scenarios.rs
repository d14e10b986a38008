//! Every scenario in `scenarios/` (every case) in every variant at one fixed
//! seed: the run must do what its file says (the exact set of checkers per
//! variant, every `must_reach`, every expected response), and its story —
//! the trace lines a snapshot keeps and the verdict — must match the
//! reviewed snapshot in the top-level `snapshots/` folder
//! (`{scenario}__{case}__{variant}.snap`, or `{scenario}__{variant}.snap`
//! for a scenario without cases).
//!
//! The swarm is left out: its plan is drawn from the seed, and its own
//! tests cover it.
//!
//! Also here: the fixtures in `tests/fixtures/diverging/`, scenarios written
//! so that their story cannot happen, must end `diverged` with a message
//! that says what did not happen.
//!
//! Review changed snapshots with `cargo insta review`; one scenario alone:
//! `INSTA_GLOB_FILTER=stop-finds-vmm-gone.toml cargo test --test scenarios`.
//!
//! `scenario_seeds` runs every scenario at more seeds (no snapshots), or the
//! one run a failing report's repro line names:
//! `INTENT_SIM_SEED=7 INTENT_SIM_VARIANT=omicron INTENT_SIM_SCENARIO=stop-races-reincarnation cargo test scenario_seeds`.

use intent_sim::report;
use intent_sim::runner;
use intent_sim::scenario::{load_file, Scenario};
use intent_sim::verdict::{RunReport, Verdict};
use model::variant::Variant;
use std::path::Path;

/// The seed every scenario runs with here (sweeps cover the others).
const SEED: u64 = 1;

/// A snapshot keeps at most about this many lines (design section 5).
const MAX_STORY_LINES: usize = 200;

/// Runs one case (or the only run) of a scenario in one variant.
fn run(s: &Scenario, case: Option<&str>, variant: Variant, seed: u64) -> RunReport {
    let runs = s.runs();
    let run = runs
        .iter()
        .find(|r| r.case.as_deref() == case)
        .unwrap_or_else(|| panic!("{}: no case {case:?}", s.name));
    runner::run(&run.plan, &s.name, case, variant, seed)
}

fn snapshot_name(s: &Scenario, case: Option<&str>, variant: Variant) -> String {
    match case {
        Some(c) => format!("{}__{c}__{variant}", s.name),
        None => format!("{}__{variant}", s.name),
    }
}

#[test]
fn every_scenario_in_every_variant() {
    let mut problems: Vec<String> = Vec::new();
    let mut runs = 0;
    insta::glob!("../../scenarios", "*.toml", |path| {
        let s = load_file(path).unwrap_or_else(|e| panic!("{e}"));
        if s.is_swarm() {
            return;
        }
        for case in s.runs().iter().map(|r| r.case.clone()) {
            for variant in Variant::ALL {
                runs += 1;
                let r = run(&s, case.as_deref(), variant, SEED);
                if let Some(m) = r.mismatch() {
                    eprintln!("{} ({variant}, seed {SEED}): NOT as expected: {m}", r.name);
                    problems.push(format!(
                        "{} ({variant}, seed {SEED}) is not as its file expects: {m}\n{}",
                        r.name,
                        report::run_report(&r, None, true)
                    ));
                }
                let story = report::run_report(&r, None, false);
                let lines = story.lines().count();
                if lines > MAX_STORY_LINES {
                    eprintln!("{} ({variant}): its story is {lines} lines", r.name);
                    problems.push(format!(
                        "{} ({variant}): its story is {lines} lines, more than {MAX_STORY_LINES}",
                        r.name
                    ));
                }
                insta::with_settings!({
                    snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"),
                    prepend_module_to_snapshot => false,
                    snapshot_suffix => "",
                    omit_expression => true,
                    description => format!("{} variant={variant} seed={SEED}", r.name),
                }, {
                    insta::assert_snapshot!(snapshot_name(&s, case.as_deref(), variant), story);
                });
            }
        }
    });
    assert!(runs > 0, "no scenario ran");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The stories `cargo sim shrink` found (`scenarios/found/`): each runs from
/// the seed it was found with, in every variant, as its file expects, and
/// keeps a snapshot.
#[test]
fn found_scenarios() {
    let mut runs = 0;
    insta::glob!("../../scenarios/found", "*.toml", |path| {
        let s = load_file(path).unwrap_or_else(|e| panic!("{e}"));
        let seed = s.plan().seed.unwrap_or(SEED);
        for variant in Variant::ALL {
            runs += 1;
            let r = run(&s, None, variant, seed);
            assert_eq!(r.mismatch(), None, "{}", report::run_report(&r, None, true));
            insta::with_settings!({
                snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/found"),
                prepend_module_to_snapshot => false,
                snapshot_suffix => "",
                omit_expression => true,
                description => format!("{} variant={variant} seed={seed}", r.name),
            }, {
                insta::assert_snapshot!(
                    format!("{}__{variant}", s.name),
                    report::run_report(&r, None, false)
                );
            });
        }
    });
    assert!(runs > 0, "no found scenario ran");
}

/// Loads a fixture that is written to diverge.
fn diverging(name: &str) -> Scenario {
    let path = format!("tests/fixtures/diverging/{name}.toml");
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
