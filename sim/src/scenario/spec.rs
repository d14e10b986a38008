//! The scenario file format (`scenarios/*.toml`), as typed serde structs.
//! Unknown fields are rejected everywhere, so a typo is an error, not a
//! silently ignored line. `scenarios/README.md` documents the format.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// What story this scenario tells, and which omicron behaviour it pins.
    pub description: String,
    #[serde(default)]
    pub topology: Topology,
    #[serde(default)]
    pub timings: TimingOverrides,
    /// The instances the story uses, with their create parameters.
    #[serde(default, rename = "instance")]
    pub instances: Vec<InstanceSpec>,
    /// The timeline, run in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    /// Cases share the timeline; each substitutes its `vars` into the
    /// steps' strings (`${name}`).
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
    /// Per variant: the exact set of checkers expected to fire, and the
    /// events the story must reach.
    pub variants: VariantExpectations,
    /// Present only in the `swarm` scenario: the plan is drawn from the seed.
    #[serde(default)]
    pub swarm: Option<SwarmSettings>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// 1 to 3.
    #[serde(default = "one")]
    pub nexus: u8,
    /// 1 to 4.
    #[serde(default = "one")]
    pub sleds: u8,
    /// VMMs one sled can hold.
    #[serde(default)]
    pub sled_capacity: Option<u8>,
}

fn one() -> u8 {
    1
}

impl Default for Topology {
    fn default() -> Topology {
        Topology {
            nexus: 1,
            sleds: 1,
            sled_capacity: None,
        }
    }
}

/// Overrides of omicron's default timings, in seconds.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimingOverrides {
    pub watcher_period: Option<u64>,
    pub reincarnation_period: Option<u64>,
    pub updater_period: Option<u64>,
    pub reaper_period: Option<u64>,
    pub saga_recovery_period: Option<u64>,
    pub intent_reconciler_period: Option<u64>,
    pub cooldown: Option<u64>,
    pub vmm_boot: Option<u64>,
    pub vmm_stop: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    pub name: String,
    /// `never` or `best_effort`; absent means NULL (the default policy).
    #[serde(default)]
    pub auto_restart_policy: Option<PolicySpec>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PolicySpec {
    Never,
    BestEffort,
}

/// One step of the timeline. Exactly one of `request`, `fault`, `arm`,
/// `unpause`, `wait` or `sleep` is set.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Run at this virtual second (after the previous step); otherwise at
    /// once after the previous step.
    pub at: Option<u64>,

    /// An API request: create, start, stop, reboot, delete, get.
    pub request: Option<RequestKind>,
    /// The instance a request, a guest shutdown or a forget acts on.
    pub instance: Option<String>,
    /// For `create`: start it too.
    pub start: Option<bool>,
    /// The response the request must get: a status, a list of statuses,
    /// or "none" (no response); or a table by variant of those.
    pub expect: Option<Expect>,
    /// Send the request and go on without waiting for its response.
    #[serde(default)]
    pub no_wait: bool,

    /// A fault.
    pub fault: Option<FaultKind>,
    /// The host a fault, an armed point or an unpause names.
    pub host: Option<String>,
    /// The other host of a partition, hold, repair or release.
    pub peer: Option<String>,
    /// A one-way partition or repair: `host` can no longer send to `peer`.
    #[serde(default)]
    pub oneway: bool,

    /// Arm a named point on `host`: crash or pause there.
    pub arm: Option<ArmKind>,
    /// The named point of `arm` or `unpause`.
    pub point: Option<String>,
    /// Release a host paused at `point`.
    #[serde(default)]
    pub unpause: bool,

    /// Wait until a condition holds, within `within` seconds.
    pub wait: Option<Condition>,
    pub within: Option<u64>,

    /// Let this many virtual seconds pass.
    pub sleep: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Create,
    Start,
    Stop,
    Reboot,
    Delete,
    Get,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Crash,
    Restart,
    LoseSled,
    Partition,
    Repair,
    Hold,
    Release,
    GuestShutdown,
    ForgetVmm,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ArmKind {
    Crash,
    Pause,
}

/// An expected response.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Expect {
    One(ExpectOne),
    Any(Vec<ExpectOne>),
    ByVariant(BTreeMap<String, ExpectByVariant>),
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ExpectByVariant {
    One(ExpectOne),
    Any(Vec<ExpectOne>),
}

/// A status code, or the string "none" for no response.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ExpectOne {
    Status(u16),
    Word(String),
}

/// Something that happens in the story. Exactly one field is set.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// With `state` or `vmm_state`: the instance.
    pub instance: Option<String>,
    /// The instance's external state (`Running`, `Failed`, ...).
    pub state: Option<String>,
    /// The state of the instance's latest VMM record.
    pub vmm_state: Option<String>,
    /// A named point reached (on `host`, if given).
    pub point: Option<String>,
    pub host: Option<String>,
    /// A trace line containing this text (instance ids are written as
    /// their names).
    pub trace: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantExpectations {
    pub legacy: VariantExpectation,
    pub omicron: VariantExpectation,
    pub fixed: VariantExpectation,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantExpectation {
    /// The exact set of checkers expected to fire (for `swarm`: the set
    /// that may fire).
    #[serde(default)]
    pub violates: Vec<String>,
    /// Conditions the run must reach, or the verdict is `diverged`.
    #[serde(default)]
    pub must_reach: Vec<Condition>,
    /// Why this expectation differs from the design's table, citing omicron.
    #[serde(default)]
    pub why: Option<String>,
}

/// The swarm scenario's knobs; the rest is drawn from the seed.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SwarmSettings {
    /// Length of the fault phase, in virtual seconds.
    pub fault_phase: u64,
    /// How many instances the workload creates at most.
    pub max_instances: u8,
}
