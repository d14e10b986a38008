//! Reachability: the default swarm over its CI seed count (the `swarm`
//! cases' seeds, every variant) reaches every instance state x intent pair,
//! named point, undoable saga node, background-task decision kind, fault
//! kind and named race the model can reach. What it cannot reach is listed
//! with the reason in `intent_sim::coverage::UNREACHABLE`; what it reaches
//! only in long sweeps is listed in `coverage::RARE` (not yet asserted).
//!
//! `cargo sim sweep swarm --variant all --seeds 0..60 --coverage` prints
//! the same table.

use intent_sim::catalog;
use intent_sim::coverage::{self, Coverage};
use model::variant::Variant;

/// The swarm cases' seeds per variant (`SWARM_SEEDS` in `tests/cases.rs`).
const CI_SEEDS: u64 = 60;

#[test]
fn the_swarm_reaches_everything_reachable() {
    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    let mut reached = Coverage::default();
    for variant in Variant::ALL {
        for seed in 0..CI_SEEDS {
            let (r, _) = catalog::run(&s, None, variant, seed).unwrap_or_else(|e| panic!("{e}"));
            reached.merge(&Coverage::of(&r));
        }
    }
    // Rare items (`coverage::RARE`) are left to long sweeps for now.
    let never: Vec<_> = reached
        .never_reached()
        .into_iter()
        .filter(|(k, key)| coverage::rare_reason(*k, key).is_none())
        .collect();
    assert!(
        never.is_empty(),
        "the swarm over {CI_SEEDS} seeds per variant never reached {} items:\n{}",
        never.len(),
        reached.table()
    );
}

/// `cargo sim sweep ... --coverage` prints the table after the summary.
#[test]
fn sweep_prints_the_coverage_table() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_intent-sim"))
        .args([
            "sweep",
            "stop-finds-vmm-gone",
            "--seeds",
            "0..1",
            "--jobs",
            "1",
            "--coverage",
        ])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for want in [
        "coverage over 1 runs",
        "state x intent (",
        "named point (",
        "saga node undone (",
        "task decision (",
        "fault (",
        "race (",
        "never reached (",
    ] {
        assert!(stdout.contains(want), "no {want:?} in:\n{stdout}");
    }
}
