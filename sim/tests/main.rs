//! The harness's integration tests, one binary (one link; `cargo test`
//! from a fresh clone builds it once). Each module is one concern; the
//! per-scenario, per-case, per-variant tests are the `cases` binary
//! (libtest-mimic), so nextest can filter and partition them.
//!
//! A new test file in `sim/tests/` must be declared here (`mod x;`):
//! `every_test_file_is_declared` fails until it is.

mod cli;
mod common;
mod coverage;
mod db_view;
mod diverging;
mod headlines;
mod roundtrip;
mod sagas;
mod scenario_files;
mod swarm_finds;
mod trace_hashes;
mod workbench;

/// `autotests = false` means an undeclared file would silently not run.
#[test]
fn every_test_file_is_declared() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(here.join("main.rs")).expect("main.rs");
    for entry in std::fs::read_dir(&here).expect("tests/") {
        let path = entry.expect("an entry").path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let is_module = path.extension().is_some_and(|e| e == "rs")
            || (path.is_dir() && path.join("mod.rs").is_file());
        // `mutations` is its own binary, built with the test-only feature;
        // `fixes` is a module of `cases` (the cargo-mutants judge).
        if !is_module || ["main", "cases", "mutations", "fixes"].contains(&stem.as_str()) {
            continue;
        }
        assert!(
            main.contains(&format!("mod {stem};")),
            "sim/tests/{stem} is not declared in sim/tests/main.rs (add `mod {stem};`)"
        );
    }
}
