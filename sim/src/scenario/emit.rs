//! Writes a plan as a scenario file: the inverse of loading, so that a
//! drawn swarm plan or a shrunk one can be kept, read and run again.

use crate::plan::Plan;

/// The plan as the text of a scenario file (steps in order, every field
/// spelled as a person would write it).
pub fn to_toml(plan: &Plan) -> Result<String, String> {
    let mut value =
        toml::Table::try_from(plan).map_err(|e| format!("cannot write the plan: {e}"))?;
    super::shape::flatten(&mut value);
    toml::to_string_pretty(&value).map_err(|e| format!("cannot write the plan: {e}"))
}
