//! Scenario files: loading a file into one [`crate::plan::Plan`] per case
//! ([`load`]), writing a plan back as a file ([`emit`]), and the leaf types
//! a file's times are written in ([`times`]).

mod check;
pub mod emit;
mod error;
pub mod load;
mod locate;
mod names;
mod shape;
mod subst;
pub mod times;

pub use error::ScenarioError;
pub use load::{discover, load_file, load_str, Scenario, ScenarioRun};
pub use names::{cut, CHECKERS};

/// Whether a plan would load as a file: the checks across fields that
/// loading makes (hosts in the topology, instances created before use, ...),
/// as one line.
pub fn check_plan(plan: &crate::plan::Plan) -> Result<(), String> {
    check::plan(plan).map_err(|(path, message)| match path.render() {
        Some(field) => format!("{field}: {message}"),
        None => message,
    })
}
