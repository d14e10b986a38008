//! Scenario files: their format ([`spec`]) and loading ([`load`]).

mod error;
pub mod load;
mod locate;
mod names;
pub mod spec;
mod subst;
mod validate;

pub use error::ScenarioError;
pub use load::{discover, load_file, load_str, Scenario, ScenarioRun};
pub use names::CHECKERS;
