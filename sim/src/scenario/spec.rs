//! The scenario file format (`scenarios/*.toml`), as typed serde structs.
//! Unknown fields are rejected everywhere, so a typo is an error, not a
//! silently ignored line. `scenarios/README.md` documents the format.

use model::variant::Variant;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

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

    /// For `sled_error` and `sled_hang`: the sled-agent call that fails.
    pub call: Option<SledCallSpec>,
    /// For `sled_error`: the HTTP status the sled answers (400..=599, not
    /// 404, which is `forget_vmm`'s NO_SUCH_INSTANCE).
    pub status: Option<u16>,
    /// For `sled_error` and `sled_hang`: only this many calls fail.
    pub count: Option<u32>,
    /// For `sled_error` and `sled_hang`: calls fail for this many virtual
    /// seconds. Without `count` or `seconds`, until heal.
    pub seconds: Option<u64>,
    /// For `arm = "hang"`: heal does not release the hang either.
    #[serde(default)]
    pub through_heal: bool,
}

/// The sled-agent calls a `sled_error` or `sled_hang` fault can fail.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SledCallSpec {
    Register,
    PutState,
    GetState,
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
    SledError,
    SledHang,
    VmmFailsBooting,
    SledAgentRestartKeepsVmms,
    Upgrade,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ArmKind {
    Crash,
    Pause,
    Hang,
}

/// An expected response: a status, a list of statuses (any of them), or
/// "none" (no response); or a table by variant of those (a variant not in
/// the table has no expectation). Deserialized by hand so that a wrong value
/// gets a message that says what is accepted.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    One(ExpectOne),
    Any(Vec<ExpectOne>),
    ByVariant(BTreeMap<String, ExpectByVariant>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExpectByVariant {
    One(ExpectOne),
    Any(Vec<ExpectOne>),
}

/// A status code (100..=599), or the string "none" for no response.
#[derive(Clone, Debug, PartialEq)]
pub enum ExpectOne {
    Status(u16),
    Word(String),
}

impl Expect {
    /// The responses accepted in `variant`, or `None` when this variant has
    /// no expectation (a by-variant table that does not name it).
    pub fn for_variant(&self, variant: Variant) -> Option<&[ExpectOne]> {
        match self {
            Expect::One(one) => Some(std::slice::from_ref(one)),
            Expect::Any(any) => Some(any),
            Expect::ByVariant(table) => table.get(variant.name()).map(|e| e.accepted()),
        }
    }
}

impl ExpectByVariant {
    /// The responses accepted.
    pub fn accepted(&self) -> &[ExpectOne] {
        match self {
            ExpectByVariant::One(one) => std::slice::from_ref(one),
            ExpectByVariant::Any(any) => any,
        }
    }
}

impl ExpectOne {
    /// The word that stands for "no response".
    pub const NONE: &'static str = "none";

    /// Whether this expects no response at all (the connection died).
    pub fn is_none(&self) -> bool {
        matches!(self, ExpectOne::Word(w) if w == ExpectOne::NONE)
    }
}

const EXPECT_ONE: &str = "a status code 100..=599 or \"none\"";
const EXPECT_BY_VARIANT: &str = "a status code 100..=599, \"none\", or a list of those";
const EXPECT: &str =
    "a status code 100..=599, \"none\", a list of those, or a table by variant (legacy, omicron, fixed)";

fn status<E: de::Error>(v: i64, exp: &dyn de::Expected) -> Result<ExpectOne, E> {
    match u16::try_from(v) {
        Ok(s) if (100..=599).contains(&s) => Ok(ExpectOne::Status(s)),
        _ => Err(E::invalid_value(de::Unexpected::Signed(v), exp)),
    }
}

fn status_u64<E: de::Error>(v: u64, exp: &dyn de::Expected) -> Result<ExpectOne, E> {
    match i64::try_from(v) {
        Ok(v) => status(v, exp),
        Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(v), exp)),
    }
}

fn list<'de, A: de::SeqAccess<'de>>(mut seq: A) -> Result<Vec<ExpectOne>, A::Error> {
    let mut out = Vec::new();
    while let Some(one) = seq.next_element::<ExpectOne>()? {
        out.push(one);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for ExpectOne {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = ExpectOne;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECT_ONE)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExpectOne, E> {
                status(v, &EXPECT_ONE)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExpectOne, E> {
                status_u64(v, &EXPECT_ONE)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExpectOne, E> {
                Ok(ExpectOne::Word(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ExpectByVariant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = ExpectByVariant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECT_BY_VARIANT)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExpectByVariant, E> {
                status(v, &EXPECT_ONE).map(ExpectByVariant::One)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExpectByVariant, E> {
                status_u64(v, &EXPECT_ONE).map(ExpectByVariant::One)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExpectByVariant, E> {
                Ok(ExpectByVariant::One(ExpectOne::Word(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<ExpectByVariant, A::Error> {
                list(seq).map(ExpectByVariant::Any)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Expect;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECT)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Expect, E> {
                status(v, &EXPECT_ONE).map(Expect::One)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Expect, E> {
                status_u64(v, &EXPECT_ONE).map(Expect::One)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Expect, E> {
                Ok(Expect::One(ExpectOne::Word(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Expect, A::Error> {
                list(seq).map(Expect::Any)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Expect, A::Error> {
                let mut table = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, ExpectByVariant>()? {
                    table.insert(k, v);
                }
                Ok(Expect::ByVariant(table))
            }
        }
        d.deserialize_any(V)
    }
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

impl VariantExpectations {
    /// The expectation of `variant`.
    pub fn get(&self, variant: Variant) -> &VariantExpectation {
        match variant {
            Variant::Legacy => &self.legacy,
            Variant::Omicron => &self.omicron,
            Variant::Fixed => &self.fixed,
        }
    }

    /// Every variant's expectation, in the order legacy, omicron, fixed.
    pub fn iter(&self) -> impl Iterator<Item = (Variant, &VariantExpectation)> {
        Variant::ALL.into_iter().map(move |v| (v, self.get(v)))
    }

    /// Every variant's expectation, mutably, in the order legacy, omicron, fixed.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Variant, &mut VariantExpectation)> {
        [
            (Variant::Legacy, &mut self.legacy),
            (Variant::Omicron, &mut self.omicron),
            (Variant::Fixed, &mut self.fixed),
        ]
        .into_iter()
    }
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
