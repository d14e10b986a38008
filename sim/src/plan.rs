//! The plan of one run: topology, timings, instances, the timeline of
//! steps, and what each variant is expected to show. It is what a scenario
//! file deserializes into (one plan per case), what the swarm draws from a
//! seed, and what `--emit-scenario` and `shrink` write back as a file: the
//! step enum and its leaf types carry the file's field names.

use crate::fault::{host_name, Fault};
use model::config::Timings;
use model::fixes::FixSet;
use model::ids::{HostId, Millis};
use model::states::{AutoRestartPolicy, ExternalState, VmmState};
use model::variant::Variant;
use serde::{Deserialize, Serialize};
use serde_with::formats::PreferOne;
use serde_with::{serde_as, skip_serializing_none, DeserializeAs, OneOrMany, SerializeAs};
use std::fmt;
use strum::VariantNames;

/// One run's plan. A scenario file's `[topology]`, `[timings]`,
/// `[[instance]]`, `[[step]]`, `[variants]` and `[swarm]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// `scenario` or `scenario/case` (not in the file: its name).
    #[serde(skip)]
    pub name: String,
    /// What story this plan tells, and which omicron behaviour it pins.
    pub description: String,
    /// The seed a kept story was found (shrunk) with: its tests run from it.
    pub seed: Option<u64>,
    #[serde(default)]
    pub topology: Topology,
    #[serde(default)]
    pub timings: TimingOverrides,
    /// The instances the story uses, with their create parameters.
    #[serde(default, rename = "instance")]
    pub instances: Vec<InstanceDecl>,
    /// The timeline, run in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<PlanStep>,
    /// Per variant: the checkers expected to fire and what must be reached.
    pub variants: ByVariant<VariantExpectation>,
    /// Present only in the `swarm` scenario: the plan is drawn from the seed.
    pub swarm: Option<SwarmSettings>,
    /// The upstream fixes the model runs without (`--without-fix`; not in
    /// the file).
    #[serde(skip)]
    pub without_fixes: FixSet,
}

impl Plan {
    /// Whether this is the swarm (expected violations are a ceiling).
    pub fn is_swarm(&self) -> bool {
        self.swarm.is_some()
    }
}

/// `[topology]`: host counts (a field left out keeps its default).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topology {
    /// Nexus hosts, 1 to 3 (default 1).
    #[serde(deserialize_with = "count::<_, 3>")]
    pub nexus: u8,
    /// Sleds, 1 to 4 (default 1).
    #[serde(deserialize_with = "count::<_, 4>")]
    pub sleds: u8,
    /// VMMs one sled can hold, 1 to 255 (default 4).
    #[serde(deserialize_with = "count::<_, 255>")]
    pub sled_capacity: u8,
}

/// A count from 1 to `MAX`, whose message says so (not serde's "expected
/// u8") whatever the number written.
fn count<'de, D: serde::Deserializer<'de>, const MAX: u8>(d: D) -> Result<u8, D::Error> {
    let v = i64::deserialize(d)?;
    let ok = u8::try_from(v).ok().filter(|v| (1..=MAX).contains(v));
    ok.ok_or_else(|| serde::de::Error::custom(format!("expected 1 to {MAX}, got {v}")))
}

impl Default for Topology {
    fn default() -> Topology {
        Topology {
            nexus: 1,
            sleds: 1,
            sled_capacity: 4,
        }
    }
}

/// Declares [`TimingOverrides`] from one table, so that each timing is
/// named once: the field a file writes, how ([`Secs`]; a period is at least
/// a second), and the [`Timings`] field it sets, through what.
macro_rules! timings {
    ($($(#[doc = $doc:literal])* $field:ident $as:literal => $model:ident $conv:path;)*) => {
        /// `[timings]`: overrides of omicron's default timings, in virtual
        /// seconds (at most a virtual day each).
        #[serde_as]
        #[skip_serializing_none]
        #[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct TimingOverrides {$(
            $(#[doc = $doc])*
            #[serde_as(as = $as)]
            pub $field: Option<Millis>,
        )*}

        impl TimingOverrides {
            /// omicron's default timings with these overrides.
            pub fn apply(&self) -> Timings {
                let mut t = Timings::default();
                $(if let Some(v) = self.$field { t.$model = $conv(v); })*
                t
            }
        }
    };
}

timings! {
    /// The instance watcher's period (`instance_watcher.period_secs`).
    watcher_period "Option<Secs<1>>" => watcher_period Millis::as_duration;
    /// `instance_reincarnation.period_secs`.
    reincarnation_period "Option<Secs<1>>" => reincarnation_period Millis::as_duration;
    /// `instance_updater.period_secs`.
    updater_period "Option<Secs<1>>" => updater_period Millis::as_duration;
    /// `abandoned_vmm_reaper.period_secs`.
    reaper_period "Option<Secs<1>>" => reaper_period Millis::as_duration;
    /// `saga_recovery.period_secs`.
    saga_recovery_period "Option<Secs<1>>" => saga_recovery_period Millis::as_duration;
    /// The `fixed` variant's `instance_intent_reconciler` period.
    intent_reconciler_period "Option<Secs<1>>" => intent_reconciler_period Millis::as_duration;
    /// The auto-restart cooldown (`InstanceAutoRestart::DEFAULT_COOLDOWN`).
    cooldown "Option<Secs>" => default_cooldown std::convert::identity;
    /// How long a VM takes to boot on a sled.
    vmm_boot "Option<Secs>" => vmm_boot_time Millis::as_duration;
    /// How long a VM takes to stop on a sled.
    vmm_stop "Option<Secs>" => vmm_stop_time Millis::as_duration;
}

/// `[[instance]]`: an instance the story uses.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceDecl {
    /// An omicron name.
    pub name: String,
    /// `never` or `best_effort`; absent means NULL (the default policy).
    pub auto_restart_policy: Option<AutoRestartPolicy>,
}

/// One `[[step]]`: when, and what. In the file the action's key (`request`,
/// `fault`, `arm`, `unpause`, `wait`, `sleep`, `inject`) sits beside `at`.
#[serde_as]
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    /// Not before this virtual time (seconds in the file, milliseconds
    /// here); otherwise at once after the previous step.
    #[serde_as(as = "Option<Secs>")]
    pub at: Option<Millis>,
    pub action: Action,
}

/// What a step does; the variant's name is the key that sets it in a file
/// (`Action::VARIANTS` lists them, in the README's order).
#[serde_as]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, VariantNames)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// An API request.
    Request(Request),
    /// A fault ([`crate::fault`]).
    Fault(Fault),
    /// Arms a named point on a Nexus: crash, pause or hang there.
    Arm {
        arm: ArmKind,
        #[serde(with = "host_name")]
        host: HostId,
        point: String,
        /// For `arm = "hang"`: heal does not release the hang either.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        through_heal: bool,
    },
    /// Releases a host paused at a point (`unpause` is `true` in a file).
    Unpause {
        unpause: bool,
        #[serde(with = "host_name")]
        host: HostId,
        point: String,
    },
    /// Waits until a condition holds, `within` a time (virtual seconds in
    /// the file).
    Wait {
        wait: Condition,
        #[serde_as(as = "Secs")]
        within: Millis,
    },
    /// Lets virtual time pass (virtual seconds in the file).
    Sleep {
        #[serde_as(as = "Secs")]
        sleep: Millis,
    },
    /// Makes saga node `<saga>.<NODE>` fail instead of running its action,
    /// the next time `host` reaches it (steno's `saga_inject_error`).
    Inject {
        inject: InjectNode,
        #[serde(with = "host_name")]
        host: HostId,
    },
}

/// An API request.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// create, start, stop, reboot, delete or get.
    pub request: RequestKind,
    pub instance: String,
    /// For `create` (required there): start it too.
    pub start: Option<bool>,
    /// The response the request must get.
    pub expect: Option<Expect>,
    /// Send and go on without waiting for the response.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_wait: bool,
}

/// The API operations a story sends (the model's `ApiOp`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Create,
    Start,
    Stop,
    Reboot,
    Delete,
    Get,
}

/// What an armed point does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmKind {
    Crash,
    Pause,
    /// The host waits at the point for ever, as a saga node or an RPC that
    /// never answers (#8206, #4259); heal releases it unless
    /// `through_heal`.
    Hang,
}

/// A saga node.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InjectNode {
    /// `create`, `start`, `update`, ...
    pub saga: String,
    /// The node's omicron name (`ENSURE_REGISTERED`).
    pub node: String,
}

impl InjectNode {
    /// The node's name as the model reaches it: `<saga>.<NODE>`.
    pub fn point(&self) -> String {
        format!("{}.{}", self.saga, self.node)
    }
}

/// A response a request may get: a status code 100..=599, or `"none"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum Expected {
    #[serde(rename = "none")]
    NoResponse,
    #[serde(untagged, deserialize_with = "status_code")]
    Status(u16),
}

/// Only ever read inside [`Expect`], whose message says what it takes.
fn status_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let s = u16::deserialize(d)?;
    let ok = (100..=599).contains(&s).then_some(s);
    ok.ok_or_else(|| serde::de::Error::custom("expected a status code 100..=599"))
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Status(s) => write!(f, "{s}"),
            Expected::NoResponse => f.write_str("no response"),
        }
    }
}

/// `expect`: a response or a list of them (any of them), the same in
/// every variant, or a table by variant of those (a variant not in the
/// table has no expectation).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(
    untagged,
    expecting = "expected a status code 100..=599, \"none\", a list of those, or a table by variant (legacy, omicron, fixed)"
)]
pub enum Expect {
    Same(Responses),
    ByVariant(ByVariant<Option<Responses>>),
}

/// A response or a list of them (any of them); one is written alone.
#[serde_as]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Responses(#[serde_as(as = "OneOrMany<_, PreferOne>")] pub Vec<Expected>);

impl Expect {
    /// The responses accepted in `variant` (empty: any).
    pub fn for_variant(&self, variant: Variant) -> &[Expected] {
        match self {
            Expect::Same(e) => &e.0,
            Expect::ByVariant(t) => t.get(variant).as_ref().map_or(&[], |e| &e.0),
        }
    }

    /// Whether a list in it is empty: it would accept no response.
    pub fn has_empty_list(&self) -> bool {
        let lists = match self {
            Expect::Same(e) => vec![e],
            Expect::ByVariant(t) => t.iter().filter_map(|(_, e)| e.as_ref()).collect(),
        };
        lists.into_iter().any(|e| e.0.is_empty())
    }
}

/// Something a story reaches. In a file, one of `state`, `vmm_state`,
/// `point` or `trace` names the kind (`Condition::VARIANTS`).
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, VariantNames)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
pub enum Condition {
    /// The instance's external state: `{ instance = "web", state = "Running" }`.
    State {
        instance: String,
        state: ExternalState,
    },
    /// The state of the instance's newest VMM record.
    VmmState {
        instance: String,
        vmm_state: VmmState,
    },
    /// A named point reached after this step (on `host`, if given).
    Point {
        point: String,
        #[serde(default, with = "host_name::opt")]
        host: Option<HostId>,
    },
    /// A trace line containing this text (instance ids written as names).
    Trace { trace: String },
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::State { instance, state } => write!(f, "{instance:?} is {state}"),
            Condition::VmmState {
                instance,
                vmm_state: s,
            } => write!(f, "{instance:?}'s VMM is {s}"),
            Condition::Point { point, host } => match host {
                Some(h) => write!(f, "{h} reaches {point}"),
                None => write!(f, "a host reaches {point}"),
            },
            Condition::Trace { trace } => write!(f, "a trace line contains {trace:?}"),
        }
    }
}

/// One `T` per variant: `[variants]`' expectations, and `expect`'s table.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ByVariant<T> {
    pub legacy: T,
    pub omicron: T,
    pub fixed: T,
}

impl<T> ByVariant<T> {
    /// The value of `variant`.
    pub fn get(&self, variant: Variant) -> &T {
        match variant {
            Variant::Legacy => &self.legacy,
            Variant::Omicron => &self.omicron,
            Variant::Fixed => &self.fixed,
        }
    }

    /// The value of `variant`, mutably.
    pub fn get_mut(&mut self, variant: Variant) -> &mut T {
        match variant {
            Variant::Legacy => &mut self.legacy,
            Variant::Omicron => &mut self.omicron,
            Variant::Fixed => &mut self.fixed,
        }
    }

    /// Every variant's value, in the order legacy, omicron, fixed.
    pub fn iter(&self) -> impl Iterator<Item = (Variant, &T)> {
        Variant::ALL.into_iter().map(move |v| (v, self.get(v)))
    }
}

/// What one variant is expected to show.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VariantExpectation {
    /// The exact set of checkers expected to fire (the swarm: the set that
    /// may fire).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violates: Vec<String>,
    /// Conditions the run must reach, or the verdict is `diverged`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_reach: Vec<Condition>,
    /// Why this expectation differs from the design's table, citing omicron.
    pub why: Option<String>,
}

/// `[swarm]`: the swarm's knobs; the rest is drawn from the seed.
#[serde_as]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmSettings {
    /// Length of the fault phase, virtual seconds (at least 1).
    #[serde_as(as = "Secs<1>")]
    pub fault_phase: Millis,
    /// How many instances the workload creates at most, 1 to 255.
    #[serde(deserialize_with = "count::<_, 255>")]
    pub max_instances: u8,
}

/// The largest time a file may write: one virtual day, in seconds.
pub const MAX_SECS: u64 = 86_400;

/// A time in a file (`#[serde_as(as = "Secs")]`, or `Option<Secs>`):
/// virtual seconds, whole (`5`) or with milliseconds (`5.25`), from 0 to a
/// virtual day; milliseconds in the plan. Checked at load, so no sum of
/// times can overflow and no run is silently "hung" by a huge period.
/// `Secs<N>` is a period: at least `N` seconds.
pub struct Secs<const MIN: u64 = 0>;

impl<'de, const MIN: u64> DeserializeAs<'de, Millis> for Secs<MIN> {
    fn deserialize_as<D: serde::Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        use serde::de::Error;
        let range = format!(
            "expected virtual seconds {MIN}..={MAX_SECS} (a virtual day), whole or with up to 3 decimals"
        );
        // serde's f64 takes a TOML integer too.
        let v = f64::deserialize(d).map_err(|_| D::Error::custom(&range))?;
        let ms = (v * 1000.0).round();
        if !(0.0..=MAX_SECS as f64).contains(&v) || (ms - v * 1000.0).abs() > 1e-6 {
            return Err(D::Error::custom(format!("{range}, got {v}")));
        }
        if ms < (MIN * 1000) as f64 {
            let message = format!("expected a period of at least {MIN} second");
            return Err(D::Error::custom(message));
        }
        Ok(Millis(ms as u64))
    }
}

/// Whole seconds are written as an integer, others with decimals.
impl<const MIN: u64> SerializeAs<Millis> for Secs<MIN> {
    fn serialize_as<S: serde::Serializer>(m: &Millis, s: S) -> Result<S::Ok, S::Error> {
        match m.0.is_multiple_of(1000) {
            true => s.serialize_u64(m.0 / 1000),
            false => s.serialize_f64(m.0 as f64 / 1000.0),
        }
    }
}
