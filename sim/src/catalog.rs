//! The scenario catalog: where scenario files live, and how one run of one
//! scenario (a case, a variant, a seed) becomes a plan and a report.

use crate::plan::{self, Plan};
use crate::runner;
use crate::scenario::load::{self, Scenario};
use crate::swarm::{self, SwarmShape};
use crate::verdict::RunReport;
use model::fixes::FixSet;
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

/// Every scenario in the folder, sorted by name.
pub fn all() -> Result<Vec<Scenario>, String> {
    load::discover(&scenarios_dir()).map_err(|e| e.to_string())
}

/// The scenario named `name`, or a one-line error listing the names.
pub fn find(name: &str) -> Result<Scenario, String> {
    let all = all()?;
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
    s.runs().into_iter().map(|r| r.case).collect()
}

/// The plan of one run, and the swarm's drawn shape when it is the swarm.
pub fn plan(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
) -> Result<(Plan, Option<SwarmShape>), String> {
    if s.is_swarm() {
        let (plan, shape) = swarm::plan(&s.spec, seed, variant);
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
    let name = match case {
        Some(c) => format!("{}/{c}", s.name),
        None => s.name.clone(),
    };
    Ok((plan::from_run(&name, &s.spec, run, variant)?, None))
}

/// Runs one case of a scenario in one variant from one seed.
pub fn run(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
) -> Result<(RunReport, Option<SwarmShape>), String> {
    run_without(s, case, variant, &FixSet::none(), seed)
}

/// [`run`] with the upstream fixes `without` turned off in the model.
pub fn run_without(
    s: &Scenario,
    case: Option<&str>,
    variant: Variant,
    without: &FixSet,
    seed: u64,
) -> Result<(RunReport, Option<SwarmShape>), String> {
    let (mut plan, shape) = plan(s, case, variant, seed)?;
    plan.without_fixes = without.clone();
    Ok((runner::run(&plan, &s.name, case, variant, seed), shape))
}
