//! `cargo sim` as a user meets it: the real binary, run as a process. Bad
//! input exits 2 with exactly one `error: ` line on stderr that says what
//! is accepted, and never a panic or a backtrace (design section 1); a held
//! run exits 0, a violated one 1 with its full trace and the lines that
//! reproduce it; `RUST_LOG` adds the model's events on stderr (section 5).
//!
//! Every command runs against the repository's `scenarios/` unless a test
//! points `INTENT_SIM_SCENARIOS` elsewhere, with `RUST_LOG` removed and
//! `RUST_BACKTRACE=1`, so that a panic would show a backtrace these tests
//! catch.

use crate::common::{sim_in, Out};
use intent_sim::trace;
use model::variant::Variant;
use std::path::{Path, PathBuf};

fn sim_with(args: &[&str], env: &[(&str, &str)]) -> Out {
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    sim_in(Path::new(env!("CARGO_MANIFEST_DIR")), &args, env)
}

fn sim(args: &str) -> Out {
    let args: Vec<&str> = args.split_whitespace().collect();
    sim_with(&args, &[])
}

/// The repository's scenario names, from the folder itself.
fn scenario_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 2, "scenarios/ has scenarios: {names:?}");
    names
}

/// Bad input: exit 2, nothing on stdout, one `error: ` line on stderr with
/// every one of `says`, and no trace of a panic.
fn bad_input(out: &Out, says: &[&str]) -> String {
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.ends_with('\n'), "{out:?}");
    let line = out.stderr.trim_end();
    assert!(line.starts_with("error: "), "{out:?}");
    for s in says {
        assert!(line.contains(s), "the error names {s:?}: {out:?}");
    }
    for s in ["panicked", "backtrace", "RUST_BACKTRACE", "thread 'main'"] {
        assert!(!out.stderr.contains(s), "no panic text ({s}): {out:?}");
    }
    line.to_string()
}

#[test]
fn unparsable_seed() {
    bad_input(
        &sim("run swarm --seed x"),
        &["\"x\"", "u64", "decimal", "hex"],
    );
    bad_input(&sim("run swarm --seed -1"), &["\"-1\"", "u64"]);
    bad_input(&sim("run swarm --seed 0xzz"), &["\"0xzz\"", "u64"]);
}

#[test]
fn unknown_variant() {
    bad_input(
        &sim("run swarm --variant newest"),
        &["\"newest\"", "legacy", "omicron", "fixed"],
    );
    bad_input(
        &sim("sweep swarm --variant newest"),
        &["\"newest\"", "legacy", "omicron", "fixed"],
    );
}

#[test]
fn unknown_scenario_lists_the_scenarios() {
    let names = scenario_names();
    let mut says = vec!["\"no-such-scenario\""];
    says.extend(names.iter().map(String::as_str));
    bad_input(&sim("run no-such-scenario"), &says);
    bad_input(&sim("sweep swarm no-such-scenario --seeds 0..1"), &says);
}

#[test]
fn unknown_command() {
    bad_input(
        &sim("frobnicate"),
        &["\"frobnicate\"", "list", "run", "sweep"],
    );
}

#[test]
fn unknown_flag() {
    bad_input(
        &sim("run swarm --sed 1"),
        &["\"--sed\"", "--seed", "--variant"],
    );
    bad_input(&sim("sweep swarm --seed 1"), &["\"--seed\"", "--seeds"]);
}

#[test]
fn reversed_seed_range() {
    bad_input(&sim("sweep swarm --seeds 10..5"), &["\"10..5\"", "A < B"]);
}

#[test]
fn empty_seed_range() {
    bad_input(&sim("sweep swarm --seeds 5..5"), &["\"5..5\"", "A < B"]);
}

#[test]
fn unparsable_seed_range() {
    bad_input(&sim("sweep swarm --seeds 5"), &["\"5\"", "A..B"]);
    bad_input(&sim("sweep swarm --seeds 0..x"), &["\"x\"", "u64"]);
}

#[test]
fn zero_jobs() {
    bad_input(&sim("sweep swarm --jobs 0"), &["\"0\"", "1 or more"]);
    bad_input(&sim("sweep swarm --jobs many"), &["\"many\"", "1 or more"]);
}

#[test]
fn missing_flag_value() {
    bad_input(&sim("run swarm --seed"), &["--seed", "u64"]);
    bad_input(&sim("run swarm --variant"), &["--variant", "legacy"]);
    bad_input(&sim("sweep swarm --seeds"), &["--seeds", "A..B"]);
    bad_input(&sim("sweep swarm --jobs"), &["--jobs", "1 or more"]);
}

#[test]
fn missing_scenario() {
    bad_input(&sim("run"), &["scenario", "cargo sim list"]);
    bad_input(&sim("sweep --seeds 0..2"), &["--all", "cargo sim list"]);
}

#[test]
fn help_and_no_arguments_print_usage() {
    for args in ["help", "--help", ""] {
        let out = sim(args);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("Usage: cargo sim"), "{out:?}");
        assert!(out.stdout.contains("Exit codes"), "{out:?}");
    }
}

#[test]
fn list_names_every_scenario_file() {
    let out = sim("list");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(listed, scenario_names(), "{out:?}");
}

#[test]
fn a_held_run_exits_0() {
    let out = sim("run stop-finds-vmm-gone --variant fixed --seed 1");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert!(
        out.stdout
            .starts_with("== stop-finds-vmm-gone variant=fixed seed=1\n"),
        "{out:?}"
    );
    assert!(out.stdout.contains("\nverdict: held"), "{out:?}");
    assert!(!out.stdout.contains("VIOLATED"), "{out:?}");
}

#[test]
fn a_violated_run_exits_1_with_its_full_trace_and_repro() {
    let out = sim("run stop-finds-vmm-gone --variant legacy --seed 1");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "== stop-finds-vmm-gone variant=legacy seed=1");

    // The full trace, not only the story: every record, in order, as the
    // library renders it.
    let s = intent_sim::catalog::find("stop-finds-vmm-gone").unwrap();
    let (r, _) = intent_sim::catalog::run(&s, None, Variant::Legacy, 1).unwrap();
    let full: Vec<String> = r
        .records
        .iter()
        .map(|x| trace::render(x, &r.names))
        .collect();
    let story = r.records.iter().filter(|x| trace::in_story(x)).count();
    assert!(story < full.len(), "some records are not in the story");
    assert_eq!(lines[1..=full.len()], full[..], "{out:?}");

    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("VIOLATED no_unintended_restart")),
        "{out:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("verdict: violated")),
        "{out:?}"
    );
    let repro = lines
        .iter()
        .position(|l| l.starts_with("reproduce (build "))
        .unwrap_or_else(|| panic!("the repro lines: {out:?}"));
    assert_eq!(
        lines[repro + 1].trim(),
        "cargo sim run stop-finds-vmm-gone --seed 1 --variant legacy"
    );
    assert!(
        lines[repro + 2]
            .trim()
            .starts_with("INTENT_SIM_SEED=1 INTENT_SIM_VARIANT=legacy "),
        "{out:?}"
    );
}

#[test]
fn a_sweep_prints_its_summary() {
    let out = sim("sweep swarm --seeds 0..4 --variant fixed --jobs 2");
    assert_eq!(out.code, Some(0), "{out:?}");
    let header = out.stdout.lines().next().unwrap_or("");
    assert!(
        header.starts_with("scenario") && header.contains("violated") && header.contains("crashed"),
        "{out:?}"
    );
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("swarm "))
        .unwrap_or_else(|| panic!("a row for swarm: {out:?}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[..4], ["swarm", "fixed", "4", "4"], "{out:?}");
    assert!(out.stdout.contains("every run as expected"), "{out:?}");
    assert!(out.stderr.contains("sweep: 4 runs on 2 threads"), "{out:?}");
}

/// A scenario folder of its own for one test, with `files` copied in.
fn scenario_dir(test: &str, files: &[(&str, &Path)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, from) in files {
        std::fs::copy(from, dir.join(name)).unwrap();
    }
    dir
}

#[test]
fn a_broken_scenario_file_is_bad_input() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = scenario_dir(
        "broken",
        &[
            (
                "typo-field.toml",
                &root.join("tests/fixtures/broken/typo-field.toml"),
            ),
            ("swarm.toml", &root.join("../scenarios/swarm.toml")),
        ],
    );
    let env = [("INTENT_SIM_SCENARIOS", dir.to_str().unwrap())];
    let at = format!(
        "{}:14:1: step 2 field `hots`: unknown field `hots`, expected one of",
        dir.join("typo-field.toml").display()
    );
    // Running the broken file is bad input, with what is accepted.
    let line = bad_input(&sim_with(&["run", "typo-field"], &env), &[&at]);
    assert!(line.contains("`host`"), "what is accepted: {line}");
    // The others still run; `list` and a sweep name the broken file.
    let list = sim_with(&["list"], &env);
    assert_eq!(list.code, Some(0), "{list:?}");
    assert!(
        list.stdout.contains("typo-field") && list.stdout.contains(&format!("BROKEN: {at}")),
        "{list:?}"
    );
    assert!(
        list.stdout.lines().any(|l| l.starts_with("swarm ")),
        "{list:?}"
    );
    let run = sim_with(&["run", "swarm", "--seed", "1"], &env);
    assert!(run.stdout.contains("== swarm"), "{run:?}");
    let sweep = sim_with(&["sweep", "--all", "--seeds", "0..1"], &env);
    assert_eq!(sweep.code, Some(1), "{sweep:?}");
    assert!(sweep.stdout.contains(&format!("BROKEN {at}")), "{sweep:?}");
    let last = sweep.stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last, "1 scenario files could not be loaded (exit 1)",
        "{sweep:?}"
    );
}

#[test]
fn a_missing_scenario_folder_is_bad_input() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-no-such-folder");
    let env = [("INTENT_SIM_SCENARIOS", dir.to_str().unwrap())];
    bad_input(&sim_with(&["list"], &env), &["cli-no-such-folder"]);
}

#[test]
fn rust_log_shows_the_models_events_on_stderr() {
    let args = [
        "run",
        "stop-finds-vmm-gone",
        "--variant",
        "fixed",
        "--seed",
        "1",
    ];
    let quiet = sim_with(&args, &[]);
    let loud = sim_with(&args, &[("RUST_LOG", "intent_sim::model=debug")]);
    assert_eq!(loud.code, Some(0), "{loud:?}");
    // The report is the same; the detail goes to stderr only.
    assert_eq!(loud.stdout, quiet.stdout);
    assert_eq!(quiet.stderr, "");
    let model: Vec<&str> = loud
        .stderr
        .lines()
        .filter(|l| l.starts_with("DEBUG") && l.contains("intent_sim::model"))
        .collect();
    assert!(model.len() > 20, "model lines: {loud:?}");
    assert!(model.iter().any(|l| l.contains("host=nexus-0")), "{loud:?}");
    // No wall clock and no colour.
    assert!(!loud.stderr.contains('\x1b'), "no ANSI");
    assert!(
        !loud.stderr.lines().any(|l| l.starts_with("20")),
        "no timestamps"
    );
    // Only what RUST_LOG asked for.
    assert!(!loud.stderr.contains("turmoil:"), "{loud:?}");
}

#[test]
fn rust_log_turmoil_trace_shows_packets() {
    let out = sim_with(
        &["run", "stop-finds-vmm-gone", "--seed", "1"],
        &[("RUST_LOG", "turmoil=trace")],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("TRACE") && l.contains("turmoil") && l.contains("Send")),
        "packets: {}",
        &out.stderr[..out.stderr.len().min(2000)]
    );
    assert!(!out.stderr.contains("intent_sim::model"));
}

#[test]
fn rust_log_that_does_not_parse_is_bad_input() {
    let out = sim_with(
        &["run", "stop-finds-vmm-gone", "--seed", "1"],
        &[("RUST_LOG", "intent_sim::model=loud")],
    );
    bad_input(&out, &["RUST_LOG", "intent_sim::model=debug"]);
}

#[test]
fn a_sweep_ignores_rust_log() {
    let out = sim_with(
        &[
            "sweep",
            "stop-finds-vmm-gone",
            "--seeds",
            "0..2",
            "--jobs",
            "1",
        ],
        &[("RUST_LOG", "intent_sim::model=debug")],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("intent_sim::model"), "{out:?}");
}
