//! intent-sim's harness: builds a seeded turmoil world around the model,
//! drives a scenario's story or the swarm's random one, injects faults,
//! checks invariants over the event stream, and reports a verdict with the
//! command that reproduces it.

pub mod catalog;
pub mod checkers;
pub mod cli;
pub mod env;
pub mod fault;
pub mod faults;
pub mod known_upstream;
pub mod panics;
pub mod plan;
pub mod quiet;
pub mod record;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod shrink;
pub mod swarm;
pub mod trace;
pub mod verdict;
pub mod workload;
pub mod world;
