//! The plan of one run: topology, timings, instances, the timeline of
//! steps, and what the run is expected to show. A scenario file compiles
//! to a plan per variant; the swarm draws one from the seed (the same in
//! every variant).

use crate::record::PointArm;
use crate::scenario::load::ScenarioRun;
use crate::scenario::spec::{self, ScenarioSpec};
use model::config::Timings;
use model::event::{ApiOp, SledCall};
use model::fixes::FixSet;
use model::ids::{HostId, Millis, SledId};
use model::probe::SledFault;
use model::states::{AutoRestartPolicy, ExternalState, VmmState};
use model::variant::Variant;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// `scenario` or `scenario/case`.
    pub name: String,
    pub nexus_count: u8,
    pub sled_count: u8,
    pub sled_capacity: u8,
    pub timings: Timings,
    /// Instance name to its auto-restart policy (None: the default).
    pub instances: BTreeMap<String, Option<AutoRestartPolicy>>,
    pub steps: Vec<PlanStep>,
    /// The checkers expected to fire (a scenario: exactly these; the
    /// swarm: at most these).
    pub expected_violations: BTreeSet<String>,
    /// Conditions the story must reach.
    pub must_reach: Vec<Condition>,
    /// Swarm plans allow a subset of `expected_violations`.
    pub is_swarm: bool,
    /// The upstream fixes the model runs without (`--without-fix`).
    pub without_fixes: FixSet,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanStep {
    /// Not before this virtual time.
    pub at: Option<Millis>,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Request {
        op: ApiOp,
        instance: String,
        /// Any of these is fine; empty: anything.
        expect: Vec<Expected>,
        wait: bool,
    },
    Fault(FaultAction),
    Arm {
        host: HostId,
        point: String,
        arm: PointArm,
    },
    Unpause {
        host: HostId,
        point: String,
    },
    Wait {
        cond: Condition,
        within: Duration,
    },
    Sleep(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Status(u16),
    NoResponse,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Status(s) => write!(f, "{s}"),
            Expected::NoResponse => f.write_str("no response"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    Crash(HostId),
    /// A power loss: the host is cut off from every other host, then
    /// crashed, so what it had in flight is lost in silence instead of
    /// closing cleanly (turmoil-notes section 1.4). A restart reconnects it.
    PowerLoss(HostId),
    Restart(HostId),
    LoseSled(SledId),
    Partition {
        a: HostId,
        b: HostId,
        oneway: bool,
    },
    Repair {
        a: HostId,
        b: HostId,
        oneway: bool,
    },
    Hold {
        a: HostId,
        b: HostId,
    },
    Release {
        a: HostId,
        b: HostId,
    },
    GuestShutdown(String),
    ForgetVmm(String),
    /// The sled agent fails `call` (an error status, or no answer) for
    /// `count` calls or `for_time`, or until heal.
    SledFault {
        sled: SledId,
        call: SledCall,
        fault: SledFault,
        count: Option<u32>,
        for_time: Option<Duration>,
    },
    /// The instance's booting VMM fails; the sled publishes Failed.
    VmmFailsBooting(String),
    /// The sled agent restarts with an empty table while its Propolis
    /// zones keep running (no start-up cleanup).
    SledAgentRestartKeepsVmms(SledId),
    /// PR #8053's offline upgrade: every Nexus down, the schema 140.0.0
    /// back-fill, every Nexus back in the run's variant (until then every
    /// Nexus runs `legacy`).
    Upgrade,
}

impl Plan {
    /// Whether the plan upgrades Nexus from `legacy` (PR #8053's upgrade):
    /// then every Nexus boots `legacy` until the upgrade step.
    pub fn upgrades(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.action, Action::Fault(FaultAction::Upgrade)))
    }
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = |oneway: bool| if oneway { "->" } else { "<->" };
        match self {
            FaultAction::Crash(h) => write!(f, "crash {h}"),
            FaultAction::PowerLoss(h) => write!(f, "power loss on {h}"),
            FaultAction::Restart(h) => write!(f, "restart {h}"),
            FaultAction::LoseSled(s) => write!(f, "lose {s}"),
            FaultAction::Partition { a, b, oneway } => {
                write!(f, "partition {a} {} {b}", arrow(*oneway))
            }
            FaultAction::Repair { a, b, oneway } => write!(f, "repair {a} {} {b}", arrow(*oneway)),
            FaultAction::Hold { a, b } => write!(f, "hold {a} <-> {b}"),
            FaultAction::Release { a, b } => write!(f, "release {a} <-> {b}"),
            FaultAction::GuestShutdown(i) => write!(f, "guest of {i:?} powers off"),
            FaultAction::ForgetVmm(i) => write!(f, "sled agent forgets {i:?}'s VMM"),
            FaultAction::SledFault {
                sled,
                call,
                fault,
                count,
                for_time,
            } => {
                match fault {
                    SledFault::Status(s) => write!(f, "{sled} answers {call} with {s}")?,
                    SledFault::Hang => write!(f, "{sled} never answers {call}")?,
                }
                if let Some(n) = count {
                    write!(f, " ({n} calls)")?;
                }
                if let Some(t) = for_time {
                    write!(f, " (for {}s)", t.as_secs())?;
                }
                Ok(())
            }
            FaultAction::VmmFailsBooting(i) => write!(f, "{i:?}'s VMM fails while booting"),
            FaultAction::SledAgentRestartKeepsVmms(s) => {
                write!(f, "{s} agent restarts; its VMMs keep running")
            }
            FaultAction::Upgrade => write!(f, "upgrade to schema 140.0.0 (PR #8053)"),
        }
    }
}

impl fmt::Display for PlanStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = self.at {
            write!(f, "at {at}: ")?;
        }
        match &self.action {
            Action::Request {
                op, instance, wait, ..
            } => write!(
                f,
                "{op} {instance:?}{}",
                if *wait { "" } else { " (no wait)" }
            ),
            Action::Fault(x) => write!(f, "{x}"),
            Action::Arm { host, point, arm } => write!(f, "arm {arm:?} at {point} on {host}"),
            Action::Unpause { host, point } => write!(f, "unpause {host} at {point}"),
            Action::Wait { cond, within } => {
                write!(f, "wait until {cond}, within {}s", within.as_secs())
            }
            Action::Sleep(d) => write!(f, "sleep {}s", d.as_secs()),
        }
    }
}

/// Something a story reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The instance's external state.
    State {
        instance: String,
        state: ExternalState,
    },
    /// The state of the instance's newest VMM record.
    VmmState { instance: String, state: VmmState },
    /// A named point reached (on a host, if given).
    Point { point: String, host: Option<HostId> },
    /// A trace line containing this text.
    Trace(String),
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::State { instance, state } => write!(f, "{instance:?} is {state}"),
            Condition::VmmState { instance, state } => {
                write!(f, "{instance:?}'s VMM is {state}")
            }
            Condition::Point { point, host } => match host {
                Some(h) => write!(f, "{h} reaches {point}"),
                None => write!(f, "a host reaches {point}"),
            },
            Condition::Trace(t) => write!(f, "a trace line contains {t:?}"),
        }
    }
}

/// Parses a state by its variant name (`Running`), as serde names it.
fn parse_variant<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    use serde::de::IntoDeserializer;
    T::deserialize(s.into_deserializer())
        .map_err(|_: serde::de::value::Error| ())
        .ok()
}

/// An external instance state by name (`Running`).
pub fn parse_external_state(s: &str) -> Option<ExternalState> {
    parse_variant(s)
}

/// A VMM state by name (`SagaUnwound`).
pub fn parse_vmm_state(s: &str) -> Option<VmmState> {
    parse_variant(s)
}

fn host(s: &Option<String>, what: &str) -> Result<HostId, String> {
    let s = s.as_deref().ok_or_else(|| format!("{what} needs a host"))?;
    HostId::parse(s).ok_or_else(|| format!("unknown host {s:?}"))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Builds the condition a spec names.
pub fn condition(c: &spec::Condition) -> Result<Condition, String> {
    if let Some(state) = &c.state {
        let instance = c
            .instance
            .clone()
            .ok_or("a state condition needs an instance")?;
        let state =
            parse_external_state(state).ok_or_else(|| format!("unknown state {state:?}"))?;
        return Ok(Condition::State { instance, state });
    }
    if let Some(state) = &c.vmm_state {
        let instance = c
            .instance
            .clone()
            .ok_or("a vmm_state condition needs an instance")?;
        let state = parse_vmm_state(state).ok_or_else(|| format!("unknown VMM state {state:?}"))?;
        return Ok(Condition::VmmState { instance, state });
    }
    if let Some(point) = &c.point {
        let host = match &c.host {
            Some(h) => Some(HostId::parse(h).ok_or_else(|| format!("unknown host {h:?}"))?),
            None => None,
        };
        return Ok(Condition::Point {
            point: point.clone(),
            host,
        });
    }
    if let Some(t) = &c.trace {
        return Ok(Condition::Trace(t.clone()));
    }
    Err("a condition needs state, vmm_state, point or trace".into())
}

fn expected(e: &spec::ExpectOne) -> Result<Expected, String> {
    match e {
        spec::ExpectOne::Status(s) => Ok(Expected::Status(*s)),
        spec::ExpectOne::Word(w) if w == "none" => Ok(Expected::NoResponse),
        spec::ExpectOne::Word(w) => Err(format!("unknown response {w:?}")),
    }
}

fn expectations(e: &Option<spec::Expect>, variant: Variant) -> Result<Vec<Expected>, String> {
    match e.as_ref().and_then(|e| e.for_variant(variant)) {
        None => Ok(Vec::new()),
        Some(accepted) => accepted.iter().map(expected).collect(),
    }
}

fn step(
    s: &spec::Step,
    variant: Variant,
    instances: &BTreeMap<String, Option<AutoRestartPolicy>>,
) -> Result<PlanStep, String> {
    let at = s.at.map(Millis::from_secs);
    let instance = || s.instance.clone().ok_or("this step needs an instance");
    let action = if let Some(kind) = s.request {
        let name = instance()?;
        let op = match kind {
            spec::RequestKind::Create => ApiOp::Create {
                start: s.start.unwrap_or(true),
                auto_restart_policy: instances.get(&name).copied().flatten(),
            },
            spec::RequestKind::Start => ApiOp::Start,
            spec::RequestKind::Stop => ApiOp::Stop,
            spec::RequestKind::Reboot => ApiOp::Reboot,
            spec::RequestKind::Delete => ApiOp::Delete,
            spec::RequestKind::Get => ApiOp::Get,
        };
        Action::Request {
            op,
            instance: name,
            expect: expectations(&s.expect, variant)?,
            wait: !s.no_wait,
        }
    } else if let Some(kind) = s.fault {
        let pair = || -> Result<(HostId, HostId), String> {
            Ok((
                host(&s.host, "this fault")?,
                host(&s.peer, "this fault's peer")?,
            ))
        };
        Action::Fault(match kind {
            spec::FaultKind::Crash => FaultAction::Crash(host(&s.host, "crash")?),
            spec::FaultKind::Restart => FaultAction::Restart(host(&s.host, "restart")?),
            spec::FaultKind::LoseSled => match host(&s.host, "lose_sled")? {
                HostId::Sled(sled) => FaultAction::LoseSled(sled),
                other => return Err(format!("lose_sled needs a sled, not {other}")),
            },
            spec::FaultKind::Partition => {
                let (a, b) = pair()?;
                FaultAction::Partition {
                    a,
                    b,
                    oneway: s.oneway,
                }
            }
            spec::FaultKind::Repair => {
                let (a, b) = pair()?;
                FaultAction::Repair {
                    a,
                    b,
                    oneway: s.oneway,
                }
            }
            spec::FaultKind::Hold => {
                let (a, b) = pair()?;
                FaultAction::Hold { a, b }
            }
            spec::FaultKind::Release => {
                let (a, b) = pair()?;
                FaultAction::Release { a, b }
            }
            spec::FaultKind::GuestShutdown => FaultAction::GuestShutdown(instance()?),
            spec::FaultKind::ForgetVmm => FaultAction::ForgetVmm(instance()?),
            spec::FaultKind::VmmFailsBooting => FaultAction::VmmFailsBooting(instance()?),
            spec::FaultKind::SledAgentRestartKeepsVmms => {
                match host(&s.host, "sled_agent_restart_keeps_vmms")? {
                    HostId::Sled(sled) => FaultAction::SledAgentRestartKeepsVmms(sled),
                    other => return Err(format!("this fault needs a sled, not {other}")),
                }
            }
            spec::FaultKind::SledError | spec::FaultKind::SledHang => {
                let sled = match host(&s.host, "a sled fault")? {
                    HostId::Sled(sled) => sled,
                    other => return Err(format!("a sled fault needs a sled, not {other}")),
                };
                let call = match s.call.ok_or("a sled fault needs a call")? {
                    spec::SledCallSpec::Register => SledCall::Register,
                    spec::SledCallSpec::PutState => SledCall::PutState,
                    spec::SledCallSpec::GetState => SledCall::GetState,
                };
                let fault = if kind == spec::FaultKind::SledError {
                    SledFault::Status(s.status.ok_or("sled_error needs a status")?)
                } else {
                    SledFault::Hang
                };
                FaultAction::SledFault {
                    sled,
                    call,
                    fault,
                    count: s.count,
                    for_time: s.seconds.map(Duration::from_secs),
                }
            }
            spec::FaultKind::Upgrade => FaultAction::Upgrade,
        })
    } else if let Some(arm) = s.arm {
        Action::Arm {
            host: host(&s.host, "arm")?,
            point: s.point.clone().ok_or("arm needs a point")?,
            arm: match arm {
                spec::ArmKind::Crash => PointArm::Crash,
                spec::ArmKind::Pause => PointArm::Pause,
                spec::ArmKind::Hang => PointArm::Hang {
                    through_heal: s.through_heal,
                },
            },
        }
    } else if s.unpause {
        Action::Unpause {
            host: host(&s.host, "unpause")?,
            point: s.point.clone().ok_or("unpause needs a point")?,
        }
    } else if let Some(c) = &s.wait {
        Action::Wait {
            cond: condition(c)?,
            within: secs(s.within.ok_or("wait needs within")?),
        }
    } else if let Some(n) = s.sleep {
        Action::Sleep(secs(n))
    } else {
        return Err("a step needs request, fault, arm, unpause, wait or sleep".into());
    };
    Ok(PlanStep { at, action })
}

/// Timings with a scenario's overrides applied.
pub fn timings(o: &spec::TimingOverrides) -> Timings {
    let mut t = Timings::default();
    let set = |d: &mut Duration, v: Option<u64>| {
        if let Some(v) = v {
            *d = secs(v);
        }
    };
    set(&mut t.watcher_period, o.watcher_period);
    set(&mut t.reincarnation_period, o.reincarnation_period);
    set(&mut t.updater_period, o.updater_period);
    set(&mut t.reaper_period, o.reaper_period);
    set(&mut t.saga_recovery_period, o.saga_recovery_period);
    set(&mut t.intent_reconciler_period, o.intent_reconciler_period);
    set(&mut t.vmm_boot_time, o.vmm_boot);
    set(&mut t.vmm_stop_time, o.vmm_stop);
    if let Some(c) = o.cooldown {
        t.default_cooldown = Millis::from_secs(c);
    }
    t
}

/// The plan of one run of a scenario file (one case) in one variant.
pub fn from_run(
    name: &str,
    spec: &ScenarioSpec,
    run: &ScenarioRun,
    variant: Variant,
) -> Result<Plan, String> {
    let steps = &run.steps;
    let instances: BTreeMap<String, Option<AutoRestartPolicy>> = spec
        .instances
        .iter()
        .map(|i| {
            let policy = i.auto_restart_policy.map(|p| match p {
                spec::PolicySpec::Never => AutoRestartPolicy::Never,
                spec::PolicySpec::BestEffort => AutoRestartPolicy::BestEffort,
            });
            (i.name.clone(), policy)
        })
        .collect();
    let steps = steps
        .iter()
        .enumerate()
        .map(|(i, s)| step(s, variant, &instances).map_err(|e| format!("step {}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let expect = match variant {
        Variant::Legacy => &run.variants.legacy,
        Variant::Omicron => &run.variants.omicron,
        Variant::Fixed => &run.variants.fixed,
    };
    Ok(Plan {
        name: name.to_string(),
        nexus_count: spec.topology.nexus,
        sled_count: spec.topology.sleds,
        sled_capacity: spec.topology.sled_capacity.unwrap_or(4),
        timings: timings(&spec.timings),
        instances,
        steps,
        expected_violations: expect.violates.iter().cloned().collect(),
        must_reach: expect
            .must_reach
            .iter()
            .map(condition)
            .collect::<Result<Vec<_>, _>>()?,
        is_swarm: spec.swarm.is_some(),
        without_fixes: FixSet::none(),
    })
}
