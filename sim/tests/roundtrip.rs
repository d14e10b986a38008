//! Plans round-trip: every drawn swarm plan written as a scenario file
//! (`--emit-scenario`) loads back into the same plan, and running the file
//! gives the same trace as running the seed, in every variant.
//!
//! `roundtrip_plans` checks 200 seeds (drawing and loading are cheap);
//! `roundtrip_traces` runs `INTENT_SIM_SEEDS` seeds (default 20) per
//! variant; `INTENT_SIM_SEEDS=200 cargo test --release -p intent-sim --test
//! main roundtrip` runs all 200 in every variant.

use intent_sim::catalog;
use intent_sim::env;
use intent_sim::runner;
use intent_sim::scenario::{load_str, to_toml};
use intent_sim::trace;
use intent_sim::verdict::RunReport;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

fn hash(r: &RunReport) -> u64 {
    let mut h = DefaultHasher::new();
    for x in &r.records {
        trace::render(x, &r.names).hash(&mut h);
    }
    h.finish()
}

/// The swarm plan of `seed`, and the plan its emitted file loads into.
fn both(seed: u64) -> (intent_sim::plan::Plan, intent_sim::plan::Plan) {
    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    let (drawn, _) = catalog::plan(&s, None, seed).unwrap_or_else(|e| panic!("{e}"));
    let text = to_toml(&drawn).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let loaded = load_str("swarm", Path::new(&format!("swarm-{seed}.toml")), &text)
        .unwrap_or_else(|e| panic!("seed {seed}: the emitted file does not load: {e}\n{text}"));
    (drawn, loaded.plan().clone())
}

#[test]
fn roundtrip_plans() {
    for seed in 0..200 {
        let (mut drawn, loaded) = both(seed);
        drawn.swarm = None;
        assert_eq!(drawn, loaded, "seed {seed}: the plan changed on the way");
    }
}

/// Every scenario file's plans (each case's) emit and load back unchanged:
/// the faults and steps no swarm draws (`sled_error`, `sled_hang`,
/// `upgrade`, `arm = "hang"` with `through_heal`, ...) round-trip too.
#[test]
fn roundtrip_scenario_files() {
    let all = catalog::all().unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    let mut texts = String::new();
    for s in all.iter().filter(|s| !s.plan().is_swarm()) {
        for case in catalog::cases(s) {
            let (plan, _) = catalog::plan(s, case.as_deref(), 0).unwrap_or_else(|e| panic!("{e}"));
            let text = to_toml(&plan).unwrap_or_else(|e| panic!("{}: {e}", plan.name));
            let loaded = load_str(&s.name, Path::new("emitted.toml"), &text).unwrap_or_else(|e| {
                panic!("{}: the emitted file does not load: {e}\n{text}", plan.name)
            });
            let mut back = loaded.plan().clone();
            back.name = plan.name.clone();
            assert_eq!(plan, back, "{}: the plan changed on the way", plan.name);
            checked += 1;
            texts.push_str(&text);
        }
    }
    assert!(checked > 20, "only {checked} plans checked");
    for kind in [
        "\"sled_error\"",
        "\"vmm_fails_booting\"",
        "\"sled_agent_restart_keeps_vmms\"",
        "\"upgrade\"",
        "\"hang\"",
    ] {
        assert!(texts.contains(kind), "no scenario file emits {kind}");
    }
}

#[test]
fn roundtrip_traces() {
    let sel = env::selection(20).unwrap_or_else(|e| panic!("{e}"));
    for &variant in &sel.variants {
        for &seed in &sel.seeds {
            let (drawn, loaded) = both(seed);
            let a = runner::run(&drawn, "swarm", None, variant, seed);
            let b = runner::run(&loaded, "swarm", None, variant, seed);
            assert_eq!(
                hash(&a),
                hash(&b),
                "seed {seed} ({variant}): the emitted file's trace differs from the seed's"
            );
        }
    }
}
