//! A small, faithful model of omicron's instance lifecycle.
//!
//! Nexus (`nexus`), the sled agents (`sled_agent`), the management gateway
//! (`mgs`) and CockroachDB (`db`) each run as a turmoil host and talk only
//! over `turmoil::net` ([`rpc`]). Names follow omicron: `InstanceState`,
//! `VmmState`, `intended_state`, the `instance_start` saga, the
//! `instance_reincarnation` task. The model knows nothing of checkers,
//! scenarios or faults: it reports what it does through [`probe::emit`] and
//! offers named points ([`probe::point`]) where an observer may crash or
//! pause a host.
//!
//! Behaviour differs by [`variant::Variant`] only in named branches.

pub mod clock;
pub mod config;
pub mod db;
pub mod event;
pub mod fixes;
pub mod ids;
pub mod mgs;
pub mod mutation;
pub mod nexus;
pub mod points;
pub mod probe;
pub mod rpc;
pub mod sled_agent;
pub mod states;
pub mod variant;
