//! Every scenario file (every case) in every variant over several seeds:
//! each run must match its file's expectations. The snapshot test runs one
//! fixed seed and pins the story; this one checks the story holds across
//! the interleavings other seeds bring.
//!
//! `INTENT_SIM_SEEDS`, `INTENT_SIM_SEED`, `INTENT_SIM_VARIANT` and
//! `INTENT_SIM_SCENARIO` select what runs (see `intent_sim::env`).

use intent_sim::{catalog, env, report};

/// Seeds per scenario, case and variant by default.
const DEFAULT_SEEDS: u64 = 8;

#[test]
fn scenario_seeds() {
    let sel = env::selection(DEFAULT_SEEDS).unwrap_or_else(|e| panic!("{e}"));
    let scenarios = catalog::all().unwrap_or_else(|e| panic!("{e}"));
    if let Some(name) = &sel.scenario {
        catalog::find(name).unwrap_or_else(|e| panic!("INTENT_SIM_SCENARIO: {e}"));
    }
    let mut failures = Vec::new();
    let mut runs = 0;
    for s in scenarios.iter().filter(|s| !s.is_swarm()) {
        if sel.scenario.as_ref().is_some_and(|n| *n != s.name) {
            continue;
        }
        for case in catalog::cases(s) {
            for &variant in &sel.variants {
                for &seed in &sel.seeds {
                    let (r, _) = catalog::run(s, case.as_deref(), variant, seed)
                        .unwrap_or_else(|e| panic!("{e}"));
                    runs += 1;
                    if let Some(m) = r.mismatch() {
                        failures.push(format!(
                            "{}\n{m}\n{}",
                            report::run_report(&r, None, true),
                            report::repro(&r)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        runs > 0 || sel.scenario.as_deref() == Some("swarm"),
        "no scenario ran"
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} scenario runs not as expected:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
