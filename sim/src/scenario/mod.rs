//! Scenario files: their format and loading.

pub mod spec;
