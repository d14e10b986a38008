//! Writes a plan as a scenario file: the inverse of loading, so that a
//! drawn swarm plan or a shrunk one can be kept, read and run again, and
//! loads back into the same plan (`tests/roundtrip.rs`).

use crate::plan::Plan;

/// The plan as the text of a scenario file. A drawn swarm plan becomes an
/// ordinary story (its `[swarm]` knobs are dropped: the steps are explicit).
pub fn to_toml(plan: &Plan) -> Result<String, String> {
    let mut plan = plan.clone();
    plan.swarm = None;
    let mut value =
        toml::Table::try_from(&plan).map_err(|e| format!("cannot write the plan: {e}"))?;
    super::shape::flatten(&mut value);
    toml::to_string_pretty(&value).map_err(|e| format!("cannot write the plan: {e}"))
}
