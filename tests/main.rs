//! The model's integration tests, one binary (one link). Each module is
//! one concern. A new test file in `tests/` must be declared here
//! (`mod x;`): `every_test_file_is_declared` fails until it is.

mod decisions;
mod module_graph;
mod network;
mod panics;
mod sled_agent;

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
        if !is_module || stem == "main" {
            continue;
        }
        assert!(
            main.contains(&format!("mod {stem};")),
            "tests/{stem} is not declared in tests/main.rs (add `mod {stem};`)"
        );
    }
}
