//! Scenario files: loading a file into one [`crate::plan::Plan`] per case
//! ([`load`]), and writing a plan back as a file ([`to_toml`]). The plan's
//! types and their leaf types are in [`crate::plan`]; this module knows the
//! file: spans, cases and vars, the flat step form, and checks across
//! fields.

pub(crate) mod check;
mod error;
pub mod load;
mod locate;
mod names;
mod shape;
mod subst;

pub use error::ScenarioError;
pub use load::{discover, load_file, load_str, Scenario, ScenarioRun};
pub use shape::{step_line, to_toml};
