//! The scenario catalog: where scenario files live, and how one run of one
//! scenario (a case, a variant, a seed) becomes a plan and a report.
//!
//! The folder is found at run time, never compiled in: `--scenarios DIR`
//! (or `INTENT_SIM_SCENARIOS`), else the first `scenarios/` beside a
//! `Cargo.toml` in the current directory or its parents, else in the
//! parents of the binary (`target/release/intent-sim` of a clone).

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::runner;
use crate::scenario::load::{self, Scenario};
use crate::scenario::ScenarioError;
use crate::swarm::{self, SwarmShape};
use crate::verdict::RunReport;
use model::fixes::FixSet;
use model::variant::Variant;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The folder searched for: `scenarios/` beside a `Cargo.toml`.
fn holds_scenarios(dir: &Path) -> Option<PathBuf> {
    let s = dir.join("scenarios");
    (s.is_dir() && dir.join("Cargo.toml").is_file()).then_some(s)
}

/// The workspace's `scenarios/`, searched from the current directory up,
/// then from the binary's folder up; cached for the process.
pub fn default_dir() -> Result<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let cwd = std::env::current_dir().ok();
        let exe = std::env::current_exe().ok();
        let starts = cwd.iter().chain(exe.iter());
        starts
            .flat_map(|p| p.ancestors())
            .find_map(holds_scenarios)
            .map(|d| d.canonicalize().unwrap_or(d))
    });
    found.clone().ok_or_else(|| Error::NoScenarioFolder {
        searched: "the current directory and the binary's folder".into(),
    })
}

/// The scenario folder: `dir` when given (`--scenarios`), else
/// `INTENT_SIM_SCENARIOS` when set, else [`default_dir`].
pub fn scenarios_dir(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => match std::env::var_os("INTENT_SIM_SCENARIOS").filter(|d| !d.is_empty()) {
            Some(d) => Ok(PathBuf::from(d)),
            None => default_dir(),
        },
    }
}

/// Every scenario file in the folder (see [`scenarios_dir`]), sorted by
/// name, each loaded or broken: one broken file does not stop the others.
pub fn files_in(dir: Option<&Path>) -> Result<Vec<std::result::Result<Scenario, ScenarioError>>> {
    Ok(load::discover(&scenarios_dir(dir)?)?)
}

/// Every scenario in the folder that loads, sorted by name (a broken file
/// is reported by `list` and `sweep --all`, and when it is named).
pub fn all_in(dir: Option<&Path>) -> Result<Vec<Scenario>> {
    Ok(files_in(dir)?
        .into_iter()
        .filter_map(std::result::Result::ok)
        .collect())
}

/// Every scenario in the default folder, sorted by name.
pub fn all() -> Result<Vec<Scenario>> {
    all_in(None)
}

/// Whether `arg` names a scenario file rather than a scenario.
pub fn is_path(arg: &str) -> bool {
    arg.ends_with(".toml") || arg.contains(std::path::MAIN_SEPARATOR) || arg.contains('/')
}

/// The scenario `arg` names: a path to a `.toml` file, or a name in the
/// folder (an unknown name's error lists the names).
pub fn find_in(dir: Option<&Path>, arg: &str) -> Result<Scenario> {
    if is_path(arg) {
        return Ok(load::load_file(Path::new(arg))?);
    }
    let files = files_in(dir)?;
    let stem = |e: &ScenarioError| e.file.file_stem().is_some_and(|s| s == arg);
    if let Some(Err(e)) = files.iter().find(|f| matches!(f, Err(e) if stem(e))) {
        return Err(e.clone().into());
    }
    let all: Vec<Scenario> = files
        .into_iter()
        .filter_map(std::result::Result::ok)
        .collect();
    let known: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
    all.into_iter()
        .find(|s| s.name == arg)
        .ok_or_else(|| Error::UnknownScenario {
            name: arg.to_string(),
            known: known.join(", "),
        })
}

/// The scenario named `name` in the default folder.
pub fn find(name: &str) -> Result<Scenario> {
    find_in(None, name)
}

/// The cases of a scenario (`None` for a scenario without cases).
pub fn cases(s: &Scenario) -> Vec<Option<String>> {
    s.runs().iter().map(|r| r.case.clone()).collect()
}

/// The cases `case` selects: that one (checked), or every case when none
/// is named.
pub fn select_cases(s: &Scenario, case: Option<&str>) -> Result<Vec<Option<String>>> {
    let all = cases(s);
    match case {
        None => Ok(all),
        Some(c) if all.iter().any(|x| x.as_deref() == Some(c)) => Ok(vec![Some(c.to_string())]),
        Some(c) => Err(Error::UnknownCase {
            scenario: s.name.clone(),
            case: c.to_string(),
            known: if all.iter().all(Option::is_none) {
                "none (this scenario has no cases)".into()
            } else {
                all.into_iter().flatten().collect::<Vec<_>>().join(", ")
            },
        }),
    }
}

/// What a command line names the scenario by: its name when it lives in
/// the default folder, else its path (so a repro line is complete).
pub fn command_arg(s: &Scenario) -> String {
    let dir = s
        .path
        .parent()
        .map(|p| p.canonicalize().unwrap_or(p.into()));
    match (dir, default_dir()) {
        (Some(d), Ok(default)) if d == default => s.name.clone(),
        _ => s.path.display().to_string(),
    }
}

/// The plan of one run, and the swarm's drawn shape when it is the swarm.
pub fn plan(s: &Scenario, case: Option<&str>, seed: u64) -> Result<(Plan, Option<SwarmShape>)> {
    if s.plan().is_swarm() {
        let (plan, shape) = swarm::plan(s.plan(), seed);
        return Ok((plan, Some(shape)));
    }
    let runs = s.runs();
    let run = match case {
        None if runs.len() == 1 => &runs[0],
        None => {
            let names: Vec<String> = runs.iter().filter_map(|r| r.case.clone()).collect();
            return Err(Error::usage(format!(
                "scenario {} has cases; name one with --case ({})",
                s.name,
                names.join(", ")
            )));
        }
        Some(c) => {
            let cases = select_cases(s, Some(c))?;
            let c = cases[0].as_deref();
            runs.iter()
                .find(|r| r.case.as_deref() == c)
                .expect("select_cases checked the case")
        }
    };
    Ok((run.plan.clone(), None))
}

/// Runs one case of a scenario in one variant from one seed. The report's
/// `scenario` is what a command line names it by ([`command_arg`]).
pub fn run(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
) -> Result<(RunReport, Option<SwarmShape>)> {
    run_without(s, case, variant, &FixSet::none(), seed)
}

/// [`run`] with omicron's fixes `without` turned off in the model
/// (`--without-fix`).
pub fn run_without(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    without: &FixSet,
    seed: u64,
) -> Result<(RunReport, Option<SwarmShape>)> {
    run_with(s, case, variant, without, seed, runner::Checking::On)
}

/// [`run_without`] with checking on or off (the benchmark's checking
/// overhead).
pub fn run_with(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    without: &FixSet,
    seed: u64,
    checking: runner::Checking,
) -> Result<(RunReport, Option<SwarmShape>)> {
    let (mut plan, shape) = plan(s, case, seed)?;
    plan.without_fixes = without.clone();
    let mut report = runner::run_with(&plan, &s.name, case, variant, seed, checking);
    report.scenario = command_arg(s);
    Ok((report, shape))
}
