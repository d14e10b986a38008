//! intent-sim's harness: builds a seeded turmoil world around the model,
//! drives a scenario's story or the swarm's random one, injects faults,
//! checks invariants over the event stream, and reports a verdict with the
//! command that reproduces it.

pub mod checkers;
pub mod record;
pub mod scenario;
