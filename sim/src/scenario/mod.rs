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
