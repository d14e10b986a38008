//! `cargo sim` as a workbench, run as a process the way a user runs it:
//! help and version, bad input (one line, exit 2, never a panic), every
//! case of a scenario, a scenario by path, sharded sweeps merged back,
//! the determinism check, pictures, saved failures replayed, and every
//! `cargo sim` command in the README.

use crate::common::{sim_in, Out, BIN};
use intent_sim::regressions;
use intent_sim::results::{self, RunResult};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary with `args` and `env`, no `INTENT_SIM_*` or `RUST_LOG`
/// from outside, and `RUST_BACKTRACE=1` so a panic would show.
fn sim_os(args: &[OsString], env: &[(&str, &str)]) -> Out {
    sim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, env)
}

fn sim_env(args: &str, env: &[(&str, &str)]) -> Out {
    let args: Vec<OsString> = args.split_whitespace().map(OsString::from).collect();
    sim_os(&args, env)
}

fn sim(args: &str) -> Out {
    sim_env(args, &[])
}

/// Bad input: exit 2, nothing on stdout, one `error: ` line with every
/// one of `says`, no panic.
fn bad(out: &Out, says: &[&str]) {
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.starts_with("error: "), "{out:?}");
    for s in says {
        assert!(out.stderr.contains(s), "the error names {s:?}: {out:?}");
    }
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("workbench");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

#[test]
fn help_and_version_exit_0() {
    for args in [
        "run --help",
        "sweep --help",
        "merge --help",
        "list --help",
        "help run",
    ] {
        let out = sim(args);
        assert_eq!(out.code, Some(0), "{args}: {out:?}");
        assert!(out.stdout.contains("Usage: cargo sim "), "{args}: {out:?}");
    }
    assert!(sim("run --help").stdout.contains("Examples:"));
    assert!(sim("sweep --help").stdout.contains("--shard"));
    let v = sim("--version");
    assert_eq!(v.code, Some(0), "{v:?}");
    assert!(v.stdout.starts_with("cargo sim 0."), "{v:?}");
    assert!(v.stdout.contains(intent_sim::report::BUILD), "{v:?}");
}

#[test]
fn every_bad_input_is_one_line_and_exit_2() {
    bad(&sim("run swarm --seed +5"), &["\"+5\"", "u64"]);
    bad(&sim("run swarm --seed 18446744073709551616"), &["u64"]);
    bad(&sim("run swarm --seed 1 --seed 2"), &["--seed", "once"]);
    bad(&sim("sweep swarm swarm"), &["\"swarm\"", "once"]);
    bad(&sim("sweep swarm --shard 3/3"), &["\"3/3\"", "K < N"]);
    bad(&sim("sweep swarm --shard x"), &["\"x\"", "K/N"]);
    bad(&sim("sweep swarm --jobs -1"), &["\"-1\"", "1 or more"]);
    bad(&sim("sweep swarm --all"), &["--all", "not both"]);
    bad(
        &sim("run swarm --format svg"),
        &["\"svg\"", "mermaid", "json"],
    );
    bad(&sim("merge"), &["FILE"]);
    bad(
        &sim("run nexus-dies-during-create-saga --case CREATE_INSTANCE_RECORD.after_action"),
        &[
            "CREATE_INSTANCE_RECORD.after_action",
            "create-record.after-action",
        ],
    );
    bad(
        &sim("sweep stop-finds-vmm-gone --case nope"),
        &["\"nope\"", "no cases"],
    );
    bad(
        &sim("run ./no-such-file.toml"),
        &["no-such-file.toml", "cannot read"],
    );
    // A value from an environment variable says so.
    bad(
        &sim_env("run swarm", &[("INTENT_SIM_SEED", "seven")]),
        &["INTENT_SIM_SEED", "\"seven\"", "u64"],
    );
    bad(
        &sim_env("sweep swarm", &[("INTENT_SIM_VARIANT", "newest")]),
        &["INTENT_SIM_VARIANT", "legacy"],
    );
    bad(
        &sim_env("sweep swarm --seeds 0..1", &[("RUST_LOG", "x=loud")]),
        &["RUST_LOG"],
    );
    // Not UTF-8.
    {
        use std::os::unix::ffi::OsStringExt;
        let args = [
            OsString::from("run"),
            OsString::from_vec(vec![0x66, 0xff, 0x6f]),
        ];
        bad(&sim_os(&args, &[]), &["UTF-8"]);
    }
    // A results file that cannot be written: the one error line, nothing
    // before it.
    bad(
        &sim("sweep swarm --seeds 0..1 --json /no-such-dir/out.jsonl"),
        &["/no-such-dir/out.jsonl"],
    );
    bad(&sim("run swarm --at 30"), &["--at", "with --db"]);
    bad(
        &sim("sweep swarm --seeds 0..1 --save-failures /no-such-dir/r.toml"),
        &["/no-such-dir/r.toml"],
    );
    // A results file that is not one.
    let notjson = tmp("not.jsonl");
    std::fs::write(&notjson, "{\"seed\": 1}\n").unwrap();
    bad(
        &sim(&format!("merge {}", notjson.display())),
        &["not.jsonl:1", "sweep --json"],
    );
}

#[test]
fn flags_take_equals_and_jobs_above_the_cores_are_capped() {
    let out = sim("run stop-finds-vmm-gone --seed=1 --variant=fixed");
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = sim("sweep stop-finds-vmm-gone --seeds 0..1 --jobs 100000");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("note: --jobs 100000 is more than the"),
        "{out:?}"
    );
}

#[test]
fn seeds_are_streamed_not_built_up_front() {
    // The widest range there is, sharded down to its first seed: it starts
    // at once, runs one seed and prints its summary.
    let out = sim(
        "sweep stop-finds-vmm-gone --seeds 0..18446744073709551615 --shard 0/18446744073709551615",
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("sweep: 1 runs"), "{out:?}");
}

#[test]
fn run_runs_every_case_when_none_is_named() {
    let out = sim("run nexus-dies-during-create-saga --seed 1 --variant fixed");
    let headers: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("== "))
        .collect();
    assert_eq!(headers.len(), 4, "{out:?}");
    assert!(headers[0].starts_with("== nexus-dies-during-create-saga/create-record.after-action "));
}

#[test]
fn run_of_a_kept_story_defaults_to_its_seed() {
    let found = "../scenarios/found/swarm-20-legacy.toml";
    let out = sim(&format!("run {found} --variant legacy"));
    assert!(out.stdout.contains("variant=legacy seed=20"), "{out:?}");
    let named = sim(&format!("run {found} --variant legacy --seed 3"));
    assert!(named.stdout.contains("variant=legacy seed=3"), "{named:?}");
}

/// `--emit-scenario` writes a file that runs as the seed did: with its
/// seed, and for a swarm plan each variant's fired checkers as the exact
/// `violates`, so the file runs as expected in every variant (seed 20
/// violates in legacy and omicron, holds in fixed).
#[test]
fn an_emitted_swarm_plan_runs_as_its_seed_did() {
    let file = tmp("emitted-20.toml");
    let seed = sim(&format!(
        "run swarm --seed 20 --variant legacy --format json --emit-scenario {}",
        file.display()
    ));
    assert_eq!(seed.code, Some(1), "{seed:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("seed = 20"), "{text}");
    for variant in ["legacy", "omicron", "fixed"] {
        let run = |what: &str| sim(&format!("run {what} --variant {variant} --format json"));
        let (drawn, kept) = (run("swarm --seed 20"), run(&file.display().to_string()));
        let trace = |o: &Out| {
            o.stdout
                .lines()
                .filter(|l| !l.contains("\"result\""))
                .count()
        };
        assert_eq!(trace(&drawn), trace(&kept), "{variant}");
        let last = |o: &Out| o.stdout.lines().last().unwrap_or_default().to_string();
        let hash = |o: &Out| {
            last(o)
                .split("\"trace_hash\":")
                .nth(1)
                .map(|h| h[..18].to_string())
        };
        assert!(hash(&drawn).is_some(), "no trace_hash: {}", last(&drawn));
        assert_eq!(hash(&drawn), hash(&kept), "{variant}: {}", last(&kept));
        assert!(
            last(&kept).contains("\"expected\":true"),
            "{variant}: {}",
            last(&kept)
        );
    }
}

/// A boot or a stop as long as the format allows (a virtual day) ends the
/// run held, not `hung`: the settle deadline leaves room for quiet to
/// start again after the transition (it hung from about 1,250 s up).
#[test]
fn a_day_long_boot_and_stop_settle() {
    let file = tmp("day-long.toml");
    let text = "description = \"d\"\n[timings]\nvmm_boot = 86000\nvmm_stop = 86400\n\
                [[instance]]\nname = \"db\"\n[[instance]]\nname = \"web\"\n\
                [[step]]\nrequest = \"create\"\ninstance = \"db\"\nstart = true\n\
                [[step]]\nwait = { instance = \"db\", state = \"Running\" }\nwithin = 86400\n\
                [[step]]\nrequest = \"stop\"\ninstance = \"db\"\n\
                [[step]]\nrequest = \"create\"\ninstance = \"web\"\nstart = true\n\
                [variants.legacy]\n[variants.omicron]\n[variants.fixed]\n";
    std::fs::write(&file, text).unwrap();
    for variant in ["legacy", "omicron", "fixed"] {
        let out = sim(&format!("run {} --variant {variant}", file.display()));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.stdout.contains("verdict: held (as expected)"),
            "{out:?}"
        );
    }
}

/// `shrink` and `--emit-scenario` check what they can before any run: the
/// case, where the file goes, the run budget; a kept story shrinks from its
/// own seed; a run where no checker fires is named by its verdict.
#[test]
fn shrink_and_emit_check_their_input_first() {
    let found = "../scenarios/found/swarm-20-legacy.toml";
    let missing = tmp("no-such-folder").join("x.toml");
    bad(
        &sim(&format!(
            "shrink swarm --seed 20 --variant legacy -o {}",
            missing.display()
        )),
        &["cannot write the scenario there"],
    );
    let folder = tmp("a-folder");
    let _ = std::fs::create_dir_all(&folder);
    bad(
        &sim(&format!(
            "shrink swarm --seed 20 --variant legacy -o {}",
            folder.display()
        )),
        &["it is a folder"],
    );
    let out = tmp("s.toml");
    let swarm_case = format!("shrink swarm --seed 20 --case x -o {}", out.display());
    bad(&sim(&swarm_case), &["\"x\""]);
    let zero = format!("shrink swarm --seed 20 --max-runs 0 -o {}", out.display());
    bad(&sim(&zero), &["\"0\"", "runs, 1 or more"]);
    bad(
        &sim(&format!("shrink swarm -o {}", out.display())),
        &["--seed"],
    );
    let held = sim(&format!(
        "shrink swarm --seed 0 --variant fixed -o {}",
        out.display()
    ));
    bad(&held, &["no checker fires", "the run is held"]);
    let kept = sim(&format!(
        "shrink {found} --variant legacy -o {}",
        out.display()
    ));
    assert_eq!(kept.code, Some(0), "{kept:?}");
    assert!(kept.stdout.contains("from seed 20"), "{kept:?}");
    let cases = format!(
        "run nexus-dies-during-create-saga --emit-scenario {}",
        out.display()
    );
    bad(&sim(&cases), &["--emit-scenario", "--case"]);
    let empty = tmp("empty-folder");
    let _ = std::fs::create_dir_all(&empty);
    let sweep = format!("--scenarios {} sweep --all --seeds 0..1", empty.display());
    bad(&sim(&sweep), &["no scenario files"]);
}

#[test]
fn run_takes_a_path_and_its_repro_names_the_path() {
    let path = fixture("diverging/create-expects-503.toml");
    let out = sim(&format!("run {} --seed 1", path.display()));
    assert_eq!(out.code, Some(1), "{out:?}");
    let want = format!("cargo sim run {} --seed 1 --variant fixed", path.display());
    assert!(out.stdout.contains(&want), "{want}: {out:?}");
}

/// (scenario, variant, seed, trace hash) of every run in JSON lines files.
fn runs(files: &[PathBuf]) -> Vec<(String, String, u64, String)> {
    let mut all = Vec::new();
    for f in files {
        results::read_lines(f, |r: RunResult| {
            all.push((r.name(), r.variant, r.seed, r.trace_hash));
        })
        .unwrap();
    }
    all.sort();
    all
}

#[test]
fn three_shards_as_processes_merge_to_the_unsharded_run() {
    let range = "--seeds 0..10 --variant all --jobs 1";
    let whole = tmp("whole.jsonl");
    let out = sim(&format!("sweep swarm {range} --json {}", whole.display()));
    assert!(out.code.is_some_and(|c| c < 2), "{out:?}");
    let shards: Vec<PathBuf> = (0..3).map(|k| tmp(&format!("shard-{k}.jsonl"))).collect();
    // The shards run at once, as separate processes (as on separate
    // machines).
    let children: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let mut cmd = Command::new(BIN);
            cmd.args(["sweep", "swarm"])
                .args(range.split_whitespace())
                .args(["--shard", &format!("{k}/3"), "--json"])
                .arg(f)
                .env_remove("INTENT_SIM_SHARD")
                .env_remove("INTENT_SIM_VARIANT")
                .env_remove("INTENT_SIM_SCENARIOS")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cmd.spawn().expect("a shard starts")
        })
        .collect();
    for mut c in children {
        let status = c.wait().expect("a shard ends");
        assert!(status.code().is_some_and(|c| c < 2), "{status:?}");
    }
    let merged = runs(&shards);
    assert_eq!(merged.len(), 30);
    assert_eq!(merged, runs(std::slice::from_ref(&whole)));
    // `merge` prints the same table from the shards as from the whole.
    let table = |out: &Out| -> Vec<String> {
        out.stdout
            .lines()
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                // Drop runs/s: the one column from the wall clock.
                if cols.len() == 12 {
                    [&cols[..10], &cols[11..]].concat().join(" ")
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    let a = sim(&format!(
        "merge {} {} {}",
        shards[0].display(),
        shards[1].display(),
        shards[2].display()
    ));
    let b = sim(&format!("merge {}", whole.display()));
    assert_eq!(a.code, b.code);
    assert_eq!(table(&a), table(&b), "{a:?}\n{b:?}");
}

#[test]
fn check_determinism_reports_no_difference() {
    let out = sim("sweep swarm --seeds 0..4 --variant all --check-determinism --jobs 2");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("determinism: 12 runs each run twice, 0 differences"),
        "{out:?}"
    );
}

/// Checks a Mermaid sequence diagram's syntax the way Mermaid reads it:
/// the header; participants declared before use; messages with known
/// arrows; notes over declared participants; blocks balanced; no text that
/// ends a statement early.
fn assert_valid_mermaid(text: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("sequenceDiagram"), "{text}");
    let mut declared: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut messages = 0;
    for line in lines {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("participant ") {
            let id = rest.split(" as ").next().unwrap().trim();
            assert!(
                !id.is_empty() && id.chars().all(|c| c.is_alphanumeric() || c == '_'),
                "{l}"
            );
            declared.push(id.to_string());
            continue;
        }
        if ["alt ", "opt ", "loop ", "rect ", "critical ", "par "]
            .iter()
            .any(|b| l.starts_with(b))
        {
            depth += 1;
            continue;
        }
        if l == "end" {
            depth -= 1;
            assert!(depth >= 0, "an end without a block: {text}");
            continue;
        }
        let (head, msg) = l
            .split_once(": ")
            .unwrap_or_else(|| panic!("no message text: {l}"));
        assert!(!msg.contains(';') && !msg.contains('#'), "{l}");
        let users: Vec<&str> = if let Some(over) = head.strip_prefix("Note over ") {
            over.split(',').map(str::trim).collect()
        } else {
            let arrow = ["-->>", "->>"]
                .into_iter()
                .find(|a| head.contains(a))
                .unwrap_or_else(|| panic!("an unknown arrow: {l}"));
            let (a, b) = head.split_once(arrow).unwrap();
            messages += 1;
            vec![a.trim(), b.trim()]
        };
        for u in users {
            assert!(declared.iter().any(|d| d == u), "{u} is not declared: {l}");
        }
    }
    assert_eq!(depth, 0, "unbalanced blocks");
    assert!(messages > 0, "no messages: {text}");
}

#[test]
fn run_draws_a_valid_mermaid_diagram_and_json_lines() {
    let out = sim("run stop-finds-vmm-gone --variant legacy --seed 1 --format mermaid");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.starts_with("sequenceDiagram\n"), "{out:?}");
    assert_valid_mermaid(&out.stdout);
    assert!(
        out.stdout.contains("VIOLATED no_unintended_restart"),
        "{out:?}"
    );
    assert!(
        out.stdout.lines().count() < 120,
        "small enough to read: {out:?}"
    );

    let out = sim("run stop-finds-vmm-gone --variant legacy --seed 1 --format json");
    assert_eq!(out.code, Some(1), "{out:?}");
    let lines: Vec<serde_json::Value> = (out.stdout.lines())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let (result, records) = lines.split_last().expect("lines");
    for v in records {
        assert!(
            v["at_ms"].is_u64() && v["host"].is_string() && v["text"].is_string(),
            "{v}"
        );
    }
    assert!(records.len() > 20, "{out:?}");
    // The last line is the verdict, as `sweep --json` writes a run.
    let result = &result["result"];
    assert_eq!(result["verdict"], "violated", "{result}");
    assert!(
        (result["violated"].as_array().expect("a list"))
            .iter()
            .any(|f| f["checker"] == "no_unintended_restart"),
        "{result}"
    );
}

#[test]
fn run_json_reports_the_exceptions() {
    let out = sim("run every-sled-lost --variant fixed --seed 0 --format json");
    assert_eq!(out.code, Some(0), "{out:?}");
    let last = out.stdout.lines().last().expect("a line");
    let v: serde_json::Value = serde_json::from_str(last).expect("a JSON line");
    assert_eq!(v["result"]["verdict"], "held", "{v}");
    assert!(
        (v["result"]["exceptions"].as_array().expect("a list"))
            .iter()
            .any(|e| e
                .as_str()
                .is_some_and(|e| e.contains("no up sled has room"))),
        "{v}"
    );
}

#[test]
fn saved_failures_are_replayed() {
    let file = tmp("regressions.toml");
    let path = fixture("diverging/create-expects-503.toml");
    let out = sim(&format!(
        "sweep {} --seeds 3..5 --variant omicron --save-failures {}",
        path.display(),
        file.display()
    ));
    assert_eq!(out.code, Some(1), "{out:?}");
    let saved = regressions::load(&file).unwrap();
    let seeds: Vec<u64> = saved.iter().map(|e| e.seed).collect();
    assert_eq!(seeds, [3, 4], "{saved:?}");
    let e = &saved[0];
    assert_eq!(
        (e.checker.as_str(), e.variant.as_str(), e.open),
        ("diverged", "omicron", true)
    );
    assert_eq!(e.scenario, path.display().to_string());
    // Replayed: it still fails the same way, as an open entry should.
    assert_eq!(e.replay().unwrap(), None);
    // Marked fixed, the replay says it fails again.
    let fixed = regressions::Entry {
        open: false,
        ..e.clone()
    };
    assert!(fixed.replay().unwrap().unwrap().contains("fails again"));
    // Saving again adds nothing twice.
    sim(&format!(
        "sweep {} --seeds 3..5 --variant omicron --save-failures {}",
        path.display(),
        file.display()
    ));
    assert_eq!(regressions::load(&file).unwrap().len(), 2);
}

/// Every `cargo sim` command in the README runs (sweeps over two seeds,
/// so the test stays short): none can rot.
#[test]
fn every_readme_command_runs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let mut ran = 0;
    let mut db_shown = 0;
    let mut in_block = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let cmd = line.split(" #").next().unwrap().trim();
        let cmd = cmd.split(" > ").next().unwrap().trim();
        let Some(args) = cmd.strip_prefix("cargo sim ") else {
            continue;
        };
        if !in_block || args.contains('[') || args.contains('*') {
            continue;
        }
        let mut words: Vec<String> = args.split_whitespace().map(String::from).collect();
        if words[0] == "sweep" {
            if let Some(i) = words.iter().position(|w| w == "--seeds") {
                words[i + 1] = "0..2".into();
            } else {
                words.extend(["--seeds".into(), "0..2".into()]);
            }
            if let Some(i) = words.iter().position(|w| w == "--save-failures") {
                words[i + 1] = tmp(&format!("readme-{ran}.toml")).display().to_string();
            }
        }
        // Results files are the test's own (a sweep writes, merge reads).
        for w in words.iter_mut().filter(|w| w.ends_with(".jsonl")) {
            *w = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("workbench-readme-results.jsonl")
                .display()
                .to_string();
        }
        let args: Vec<OsString> = words.iter().map(OsString::from).collect();
        // From the workspace root, as the README's reader runs them.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = sim_in(&root, &args, &[]);
        assert!(out.code.is_some_and(|c| c < 2), "README: {cmd}\n{out:?}");
        if words.iter().any(|w| w == "--db") {
            assert!(
                out.stdout.contains("== INSTANCES"),
                "README: {cmd}\n{out:?}"
            );
            db_shown += 1;
        }
        ran += 1;
    }
    assert!(ran >= 5, "README commands found: {ran}");
    assert!(
        db_shown >= 2,
        "the README shows run --db, at the end and --at: {db_shown}"
    );
}

/// The scale-out recipes the README shows exist and shard the same way.
#[test]
fn the_scale_out_recipes_shard_and_merge() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ci = std::fs::read_to_string(root.join(".github/workflows/sweep.yml")).unwrap();
    assert!(
        ci.contains("--shard \"${{ matrix.shard }}/$SHARDS\""),
        "{ci}"
    );
    assert!(ci.contains("cargo sim merge results/*.jsonl"), "{ci}");
    let k8s = std::fs::read_to_string(root.join("deploy/sweep-job.yaml")).unwrap();
    for want in [
        "completionMode: Indexed",
        "completions: 8",
        "$JOB_COMPLETION_INDEX/$SHARDS",
        "--json \"/results/",
    ] {
        assert!(k8s.contains(want), "{want}: {k8s}");
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(".github/workflows/sweep.yml") && readme.contains("deploy/sweep-job.yaml")
    );
}

/// The rows of the table under `banner` in `run --db`'s output, each a
/// map from column to value (cells cut at the header's column starts;
/// the saga table's cells at its `|`).
fn db_table(out: &str, banner: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with(&format!("== {banner}")))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with("--"));
    let header = lines.next().unwrap_or_else(|| panic!("{banner}: {out}"));
    let cells = |line: &str, starts: &[usize]| -> Vec<String> {
        if line.contains('|') {
            return line.split('|').map(|c| c.trim().to_string()).collect();
        }
        let mut v = Vec::new();
        for (i, &s) in starts.iter().enumerate() {
            let end = starts
                .get(i + 1)
                .copied()
                .unwrap_or(line.len())
                .min(line.len());
            v.push(line.get(s.min(end)..end).unwrap_or("").trim().to_string());
        }
        v
    };
    let starts: Vec<usize> = header
        .char_indices()
        .filter(|&(i, c)| c != ' ' && (i == 0 || header.as_bytes()[i - 1] == b' '))
        .map(|(i, _)| i)
        .collect();
    let names = cells(header, &starts);
    lines
        .map(|l| names.iter().cloned().zip(cells(l, &starts)).collect())
        .collect()
}

/// `run --db` prints omdb's instance, VMM and saga tables (`omdb db
/// instances`, `omdb db vmms`, `omdb db sagas`); `--at` just before and at
/// the moment the db took a VMM's first `Running` shows the two states;
/// a bad `--at` is one line and exit 2.
#[test]
fn run_db_prints_omdbs_tables_at_a_moment() {
    let run = "run stop-finds-vmm-gone --variant legacy --seed 1";
    let end = sim(&format!("{run} --db"));
    assert_eq!(end.code, Some(1), "legacy violates here: {end:?}");
    assert!(
        end.stdout
            .starts_with("== stop-finds-vmm-gone variant=legacy seed=1: db at "),
        "{end:?}"
    );
    let instances = db_table(&end.stdout, "INSTANCES");
    let vmms = db_table(&end.stdout, "VMMS");
    let sagas = db_table(&end.stdout, "SAGAS");
    let columns = |rows: &[std::collections::BTreeMap<String, String>]| {
        let mut c: Vec<String> = rows[0].keys().cloned().collect();
        c.sort();
        c.join(" ")
    };
    assert_eq!(
        columns(&instances),
        "GEN ID INTENT NAME NEXUS_STATE PROPOLIS_ID SLED_ID STATE TIME_DELETED TIME_UPDATED \
         UPDATER_GEN UPDATER_LOCK"
    );
    assert_eq!(
        columns(&vmms),
        "FAILURE_REASON GEN ID INSTANCE INSTANCE_ID SLED STATE TIME_DELETED"
    );
    assert_eq!(
        columns(&sagas),
        "current_sec id instance last_node_event name next_node state time_created"
    );
    // The known row: #6809 in legacy ends with the instance restarted.
    let web = &instances[0];
    assert_eq!(instances.len(), 1, "{end:?}");
    for (k, v) in [
        ("NAME", "web"),
        ("STATE", "Running"),
        ("INTENT", "-"),
        ("NEXUS_STATE", "Vmm"),
        ("UPDATER_LOCK", "UNLOCKED"),
        ("TIME_DELETED", "-"),
    ] {
        assert_eq!(web[k], v, "{k}: {end:?}");
    }
    let active = vmms
        .iter()
        .find(|v| v["ID"] == web["PROPOLIS_ID"])
        .unwrap_or_else(|| panic!("the active VMM is a row: {end:?}"));
    assert_eq!(
        (
            active["STATE"].as_str(),
            &active["SLED"],
            &active["INSTANCE_ID"]
        ),
        ("Running", &web["SLED_ID"], &web["ID"])
    );
    assert!(
        vmms.iter()
            .any(|v| v["STATE"] == "Failed" && v["TIME_DELETED"] != "-"),
        "the VMM the sled forgot is failed and deleted: {end:?}"
    );
    assert!(
        sagas
            .iter()
            .any(|s| s["name"] == "instance-start" && s["state"] == "Done"),
        "{end:?}"
    );

    // The moment the db took the first VMM's `Running`, from the trace.
    let json = sim(&format!("{run} --format json"));
    let at_ms = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .find(|v| {
            let t = v["text"].as_str().unwrap_or("");
            t.contains("db vmm") && t.contains("Starting g2 -> Running g3")
        })
        .and_then(|v| v["at_ms"].as_u64())
        .unwrap_or_else(|| panic!("the trace has the push: {json:?}"));
    let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let before = sim(&format!("{run} --db --at {}", secs(at_ms - 1)));
    let after = sim(&format!("{run} --db --at={}", secs(at_ms)));
    for (out, state) in [(&before, "Starting"), (&after, "Running")] {
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stdout.contains(&format!(
                "db at {}s of virtual time",
                secs(if state == "Starting" {
                    at_ms - 1
                } else {
                    at_ms
                })
            )),
            "{out:?}"
        );
        let i = &db_table(&out.stdout, "INSTANCES")[0];
        let v = &db_table(&out.stdout, "VMMS")[0];
        assert_eq!(
            (i["STATE"].as_str(), v["STATE"].as_str()),
            (state, state),
            "{out:?}"
        );
    }

    // Bad moments: one line, exit 2.
    bad(
        &sim(&format!("{run} --db --at 99999")),
        &["--at 99999.000s is after the end", "ended at"],
    );
    for at in ["-1", "1.2345", "abc", "1e3"] {
        bad(
            &sim(&format!("{run} --db --at {at}")),
            &["--at", "virtual seconds"],
        );
    }
    bad(&sim(&format!("{run} --at 30")), &["--at", "with --db"]);
    bad(
        &sim(&format!("{run} --db --format mermaid")),
        &["--db", "--format"],
    );
}
