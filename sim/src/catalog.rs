//! The scenario catalog: where scenario files live, and how one run of one
//! scenario (a case, a variant, a seed) becomes a plan and a report.

use crate::plan::Plan;
use crate::runner;
use crate::scenario::load::{self, Scenario};
use crate::scenario::ScenarioError;
use crate::swarm::{self, SwarmShape};
use crate::verdict::RunReport;
use model::variant::Variant;
use std::path::PathBuf;

/// The scenario folder: `INTENT_SIM_SCENARIOS` if set, else the
/// repository's `scenarios/`.
pub fn scenarios_dir() -> PathBuf {
    match std::env::var_os("INTENT_SIM_SCENARIOS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios")),
    }
}

/// Every scenario file in the folder, sorted by name, loaded or broken.
pub fn all_files() -> Result<Vec<Result<Scenario, ScenarioError>>, String> {
    load::discover(&scenarios_dir()).map_err(|e| e.to_string())
}

/// Every scenario that loads, sorted by name; a broken file is an error
/// only for commands that would run it (see [`all_files`]).
pub fn all() -> Result<Vec<Scenario>, String> {
    Ok(all_files()?.into_iter().filter_map(Result::ok).collect())
}

/// The scenario named `name` (a name in the folder, or a path to a file).
pub fn find_or_load(name: &str) -> Result<Scenario, String> {
    if name.ends_with(".toml") {
        return load::load_file(std::path::Path::new(name)).map_err(|e| e.to_string());
    }
    find(name)
}

/// The scenario named `name`, or a one-line error listing the names.
pub fn find(name: &str) -> Result<Scenario, String> {
    let files = all_files()?;
    if let Some(Err(e)) = files
        .iter()
        .find(|f| matches!(f, Err(e) if e.file.file_stem().is_some_and(|s| s == name)))
    {
        return Err(e.to_string());
    }
    let all: Vec<Scenario> = files.into_iter().filter_map(Result::ok).collect();
    let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
    all.into_iter().find(|s| s.name == name).ok_or_else(|| {
        format!(
            "unknown scenario {name:?}; the scenarios are: {}",
            names.join(", ")
        )
    })
}

/// The cases of a scenario (`None` for a scenario without cases).
pub fn cases(s: &Scenario) -> Vec<Option<String>> {
    s.runs().iter().map(|r| r.case.clone()).collect()
}

/// The plan of one run, and the swarm's drawn shape when it is the swarm.
pub fn plan(
    s: &Scenario,
    case: Option<&str>,
    seed: u64,
) -> Result<(Plan, Option<SwarmShape>), String> {
    if s.is_swarm() {
        let (plan, shape) = swarm::plan(s.plan(), seed);
        return Ok((plan, Some(shape)));
    }
    let runs = s.runs();
    let run = match case {
        None if runs.len() == 1 => &runs[0],
        None => {
            let names: Vec<String> = runs.iter().filter_map(|r| r.case.clone()).collect();
            return Err(format!(
                "scenario {} has cases; name one with --case ({})",
                s.name,
                names.join(", ")
            ));
        }
        Some(c) => runs
            .iter()
            .find(|r| r.case.as_deref() == Some(c))
            .ok_or_else(|| format!("scenario {} has no case {c:?}", s.name))?,
    };
    Ok((run.plan.clone(), None))
}

/// Runs one case of a scenario in one variant from one seed.
pub fn run(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
) -> Result<(RunReport, Option<SwarmShape>), String> {
    let (plan, shape) = plan(s, case, seed)?;
    Ok((runner::run(&plan, &s.name, case, variant, seed), shape))
}
