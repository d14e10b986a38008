//! intent-sim's harness: builds a seeded turmoil world around the model,
//! drives a scenario's story or the swarm's random one, injects faults,
//! checks invariants over the event stream, and reports a verdict with the
//! command that reproduces it.

pub mod catalog;
pub mod checkers;
pub mod cli;
pub mod coverage;
pub mod db_view;
pub mod env;
pub mod error;
pub mod fault;
pub mod faults;
pub mod known_upstream;
pub mod panics;
pub mod picture;
pub mod plan;
pub mod quiet;
pub mod record;
pub mod recorder;
pub mod regressions;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod shrink;
pub mod summary;
pub mod swarm;
pub mod sweep;
pub mod trace;
pub mod verdict;
pub mod workload;
pub mod world;
