//! One test per (scenario, case, variant), on libtest-mimic (`harness =
//! false`), so `cargo nextest run -E 'test(stop-finds-vmm-gone)'` runs one
//! scenario and `--partition count:1/4` splits the suite across machines:
//!
//! - `snapshot/<scenario>[/<case>]/<variant>`: the run at seed 1 does what
//!   its file says and its story matches the reviewed snapshot in the
//!   top-level `snapshots/` (`cargo insta review` after a change);
//! - `seeds/<scenario>[/<case>]/<variant>`: the same expectations over more
//!   seeds (`INTENT_SIM_SEEDS`, default 8);
//! - `swarm/<variant>/<A..B>`: swarm seeds, in chunks, each judged against
//!   the swarm's settings; every tenth seed runs twice and must give the
//!   same trace;
//! - `regression/<scenario>[/<case>]/<variant>/seed-<n>`: every entry of
//!   the committed `regressions.toml`, replayed;
//! - `fix/<id>/<scenario>/<variant>`: each of omicron's fixes turned off
//!   gives its bug's violation in its scenario (or, in a story the bug
//!   does not meet, the run as written), and on does not (`fixes.rs`).
//!
//! `INTENT_SIM_SEEDS`, `INTENT_SIM_SEED`, `INTENT_SIM_VARIANT` and
//! `INTENT_SIM_SCENARIO` narrow what runs (see `intent_sim::env`); a bad
//! value is one `error:` line and exit 2.

use intent_sim::env::{self, Selection};
use intent_sim::regressions::{self, Entry};
use intent_sim::scenario::Scenario;
use intent_sim::sweep::first_difference;
use intent_sim::verdict::RunReport;
use intent_sim::{catalog, report, results};
use libtest_mimic::{Arguments, Failed, Trial};
use model::variant::Variant;
use std::path::Path;
use std::sync::Arc;

mod fixes;

/// The seed the snapshots are taken at.
const SNAPSHOT_SEED: u64 = 1;
/// Seeds per scenario, case and variant by default.
const SCENARIO_SEEDS: u64 = 8;
/// Swarm seeds per variant by default, and per test.
const SWARM_SEEDS: u64 = 60;
const SWARM_CHUNK: usize = 20;
/// One swarm seed in this many also runs a second time.
const DETERMINISM_EVERY: u64 = 10;
/// A snapshot keeps at most about this many lines (design section 5).
const MAX_STORY_LINES: usize = 200;

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every trial, or the one-line error a bad environment variable or a
/// scenario file that does not load gets.
fn trials() -> intent_sim::error::Result<Vec<Trial>> {
    let scenario_sel = env::selection(SCENARIO_SEEDS)?;
    let swarm_sel = env::selection(SWARM_SEEDS)?;
    // Every file must load: `catalog::all` skips a broken file (the CLI
    // reports it), which here would drop its trials and pass. cargo-mutants
    // found it: a mutant that renamed the saga nodes' points made the files
    // naming them fail to load, and `cases` passed with 153 of 213 trials.
    let scenarios = catalog::files_in(None)?
        .into_iter()
        .collect::<Result<Vec<Scenario>, _>>()?;
    let mut trials = Vec::new();
    for s in &scenarios {
        if scenario_sel.scenario.as_ref().is_some_and(|n| *n != s.name) {
            continue;
        }
        if s.plan().is_swarm() {
            trials.extend(swarm_trials(s, &swarm_sel));
            continue;
        }
        let s = Arc::new(s.clone());
        for case in catalog::cases(&s) {
            for &variant in &scenario_sel.variants {
                let id = match &case {
                    Some(c) => format!("{}/{c}/{variant}", s.name),
                    None => format!("{}/{variant}", s.name),
                };
                let (s1, c1) = (s.clone(), case.clone());
                trials.push(Trial::test(format!("snapshot/{id}"), move || {
                    snapshot(&s1, c1.as_deref(), variant)
                }));
                let (s2, c2, seeds) = (s.clone(), case.clone(), scenario_sel.seeds.clone());
                trials.push(Trial::test(format!("seeds/{id}"), move || {
                    seeds_hold(&s2, c2.as_deref(), variant, &seeds)
                }));
            }
        }
    }
    // The stories `cargo sim shrink` found: each from its own seed.
    let found = intent_sim::scenario::discover(&root().join("scenarios/found"))?;
    for s in found {
        let s = Arc::new(s?);
        for &variant in &scenario_sel.variants {
            let s = s.clone();
            trials.push(Trial::test(
                format!("found/{}/{variant}", s.name),
                move || found_story(&s, variant),
            ));
        }
    }
    for e in regressions::load(&root().join("regressions.toml"))? {
        let id = match &e.case {
            Some(c) => format!("{}/{c}/{}/seed-{}", e.scenario, e.variant, e.seed),
            None => format!("{}/{}/seed-{}", e.scenario, e.variant, e.seed),
        };
        trials.push(Trial::test(format!("regression/{id}"), move || replay(&e)));
    }
    if scenario_sel.scenario.is_none() {
        trials.extend(fixes::trials());
    }
    Ok(trials)
}

fn run(s: &Scenario, case: Option<&str>, variant: Variant, seed: u64) -> Result<RunReport, Failed> {
    catalog::run(s, case, variant, seed)
        .map(|(r, _)| r)
        .map_err(|e| e.to_string().into())
}

fn failure(r: &RunReport, m: &str) -> String {
    format!(
        "{}\n{m}\n{}",
        report::run_report(r, None, true),
        report::repro(r)
    )
}

fn snapshot(s: &Scenario, case: Option<&str>, variant: Variant) -> Result<(), Failed> {
    let r = run(s, case, variant, SNAPSHOT_SEED)?;
    let story = report::run_report(&r, None, false);
    let name = match case {
        Some(c) => format!("{}__{c}__{variant}", s.name),
        None => format!("{}__{variant}", s.name),
    };
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"),
        prepend_module_to_snapshot => false,
        snapshot_suffix => "",
        omit_expression => true,
        input_file => s.path.clone(),
        description => format!("{} variant={variant} seed={SNAPSHOT_SEED}", r.name),
    }, {
        insta::assert_snapshot!(name, story);
    });
    if let Some(m) = r.mismatch() {
        return Err(failure(&r, &format!("not as its file expects: {m}")).into());
    }
    let lines = story.lines().count();
    if lines > MAX_STORY_LINES {
        return Err(format!("its story is {lines} lines, more than {MAX_STORY_LINES}").into());
    }
    Ok(())
}

/// A found story runs from the seed it was shrunk with, does what its file
/// says, and matches its snapshot (in `snapshots/found/`).
fn found_story(s: &Scenario, variant: Variant) -> Result<(), Failed> {
    let seed = s.plan().seed.unwrap_or(SNAPSHOT_SEED);
    let r = run(s, None, variant, seed)?;
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/found"),
        prepend_module_to_snapshot => false,
        snapshot_suffix => "",
        omit_expression => true,
        input_file => s.path.clone(),
        description => format!("{} variant={variant} seed={seed}", r.name),
    }, {
        insta::assert_snapshot!(format!("{}__{variant}", s.name), report::run_report(&r, None, false));
    });
    match r.mismatch() {
        Some(m) => Err(failure(&r, &format!("not as its file expects: {m}")).into()),
        None => Ok(()),
    }
}

fn seeds_hold(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    seeds: &[u64],
) -> Result<(), Failed> {
    let mut failures = Vec::new();
    for &seed in seeds {
        let r = run(s, case, variant, seed)?;
        if let Some(m) = r.mismatch() {
            failures.push(failure(&r, &m));
        }
    }
    match failures.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} of {} runs not as expected:\n\n{}",
            seeds.len(),
            failures.join("\n\n")
        )
        .into()),
    }
}

fn swarm_trials(s: &Scenario, sel: &Selection) -> Vec<Trial> {
    let s = Arc::new(s.clone());
    let mut trials = Vec::new();
    for &variant in &sel.variants {
        for chunk in sel.seeds.chunks(SWARM_CHUNK) {
            let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
            let seeds = chunk.to_vec();
            let single = sel.seeds.len() == 1;
            let s = s.clone();
            trials.push(Trial::test(
                format!("swarm/{variant}/{first}..{}", last.saturating_add(1)),
                move || swarm(&s, variant, &seeds, single),
            ));
        }
    }
    trials
}

fn swarm(s: &Scenario, variant: Variant, seeds: &[u64], single: bool) -> Result<(), Failed> {
    let mut failures = Vec::new();
    for &seed in seeds {
        let r = run(s, None, variant, seed)?;
        if let Some(m) = r.mismatch() {
            failures.push(failure(&r, &m));
        }
        if seed % DETERMINISM_EVERY == 0 || single {
            let again = run(s, None, variant, seed)?;
            let (a, b) = (results::trace_lines(&r), results::trace_lines(&again));
            if let Some(d) = first_difference(&a, &b) {
                failures.push(format!(
                    "seed {seed} {variant} differs between two runs at trace line {}:\n  first:  {}\n  second: {}\n{}",
                    d.index,
                    d.first.as_deref().unwrap_or("(ended)"),
                    d.second.as_deref().unwrap_or("(ended)"),
                    report::repro(&r)
                ));
            }
        }
    }
    match failures.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} swarm runs not as expected:\n\n{}",
            failures.join("\n\n")
        )
        .into()),
    }
}

fn replay(e: &Entry) -> Result<(), Failed> {
    match e.replay() {
        Ok(None) => Ok(()),
        Ok(Some(m)) => Err(format!("{m}\n  {}", e.repro()).into()),
        Err(err) => Err(format!("cannot replay: {err}").into()),
    }
}
