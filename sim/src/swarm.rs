//! The swarm scenario: a plan drawn from the seed before the run (swarm
//! testing). Each seed picks a topology, a workload, and a different subset
//! of fault kinds with different rates, so some seeds hammer one mechanism
//! while others mix them. The plan is the same in every variant.
//!
//! The kinds added after the first eleven ([`LATER_KINDS`]) each draw from
//! their own labelled child RNG (`plan.<Kind>`), so adding them left every
//! older draw of a seed as it was. Not drawn, on purpose:
//! `sled_agent_restart_keeps_vmms` (it switches off omicron's start-up
//! zone cleanup, so any VMM on the sled is orphaned and single_active_vmm,
//! resources_released and no_orphan_vmm fire in every variant by design:
//! the fixed ceiling would have to admit them), `sled_hang` and
//! `arm = "hang"` (a node or call that never answers keeps its saga
//! unsettled, so sagas_settle fires by design), and `upgrade` (a run with
//! an upgrade is `legacy` until it, so omicron's and fixed's ceilings
//! would have to admit legacy's #6809 restarts).

use crate::fault::Fault;
use crate::plan::{Action, ArmKind, InstanceDecl, Plan, PlanStep, Request, RequestKind, Topology};
use crate::seed::SeedTree;
use model::db::rows::SagaName;
use model::event::SledCall;
use model::ids::{HostId, Millis, NexusId, SledId};
use model::points::{NodeMoment, Plain, Point, SagaNode};
use model::states::AutoRestartPolicy;
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fmt;

/// The fault kinds a seed may enable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum FaultKind {
    NexusCrash,
    SledRestart,
    LoseSled,
    DbCrash,
    Partition,
    OneWayPartition,
    Hold,
    GuestShutdown,
    ForgetVmm,
    PointCrash,
    PointPause,
}

/// The fault kinds added later, each drawn from its own child RNG
/// (`plan.<Kind>`) after the older ones (see the module doc).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum LaterKind {
    /// A sled answers one kind of call (register, put-state, get-state)
    /// with 500 or 503 for 2-60 s.
    SledError,
    /// A VMM fails while it boots: drawn a boot's time after a request
    /// that starts a VMM, so it usually finds one booting.
    VmmFailsBooting,
    /// A Nexus <-> sled link held for 30-150 s with `deliver_late`: a
    /// call that times out during the hold reaches its peer on release.
    LateDelivery,
    /// A delete sent 0-3 s after an instance's create, while the create
    /// saga may still hold it in `Creating` (its record is inserted about
    /// 1.4 s after the request and moved to `NoVmm` about 1.2 s later).
    /// omicron's `project_destroy_instance` writes intent `Destroyed`
    /// before it validates the state (a Creating instance gets a 400), so
    /// only this race leaves intent `Destroyed` on a `Creating` row: the
    /// coverage table's rarest reachable pair (none in 2,100 runs before
    /// this kind).
    DeleteWhileCreating,
}

const ALL_KINDS: [FaultKind; 11] = [
    FaultKind::NexusCrash,
    FaultKind::SledRestart,
    FaultKind::LoseSled,
    FaultKind::DbCrash,
    FaultKind::Partition,
    FaultKind::OneWayPartition,
    FaultKind::Hold,
    FaultKind::GuestShutdown,
    FaultKind::ForgetVmm,
    FaultKind::PointCrash,
    FaultKind::PointPause,
];

const LATER_KINDS: [LaterKind; 4] = [
    LaterKind::SledError,
    LaterKind::VmmFailsBooting,
    LaterKind::LateDelivery,
    LaterKind::DeleteWhileCreating,
];

/// A saga node's point: (saga, omicron's node name, moment). The name is
/// checked against the saga's `NODES` by a test
/// (`swarm_points_name_real_nodes`), as `nexus::sagas::named_points` lists them.
const fn node(saga: SagaName, node: &'static str, moment: NodeMoment) -> Point {
    Point::Node(SagaNode { saga, node }, moment)
}

/// Points worth crashing a Nexus at.
const CRASH_POINTS: [Point; 8] = [
    Point::Plain(Plain::CreateBetweenCreateAndStart),
    node(
        SagaName::InstanceCreate,
        "CREATE_INSTANCE_RECORD",
        NodeMoment::AfterAction,
    ),
    node(
        SagaName::InstanceStart,
        "MARK_AS_STARTING",
        NodeMoment::AfterAction,
    ),
    node(
        SagaName::InstanceStart,
        "ENSURE_REGISTERED",
        NodeMoment::AfterLog,
    ),
    Point::Plain(Plain::StopAfterIntentWrite),
    node(
        SagaName::InstanceUpdate,
        "COMMIT_INSTANCE_UPDATES",
        NodeMoment::AfterAction,
    ),
    Point::Plain(Plain::ReincarnationSelected),
    Point::Plain(Plain::DeleteAfterIntentWrite),
];

/// Points worth pausing a Nexus at, to open a race window.
const PAUSE_POINTS: [Point; 3] = [
    Point::Plain(Plain::ReincarnationSelected),
    Point::Plain(Plain::StartBeforeMarkAsStarting),
    Point::Plain(Plain::UpdateAfterSnapshot),
];

/// The drawn shape of one swarm run, printed at the top of its trace.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmShape {
    pub nexus: u8,
    pub sleds: u8,
    pub instances: u8,
    /// Enabled fault kinds with their mean gap between faults, seconds.
    pub faults: BTreeMap<String, u64>,
}

impl fmt::Display for SwarmShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "swarm: {} nexus, {} sleds, {} instances; faults:",
            self.nexus, self.sleds, self.instances
        )?;
        if self.faults.is_empty() {
            f.write_str(" none")?;
        }
        for (k, gap) in &self.faults {
            write!(f, " {k} (every ~{gap}s)")?;
        }
        Ok(())
    }
}

fn step(at: u64, action: Action) -> PlanStep {
    PlanStep {
        at: Some(Millis(at)),
        action,
    }
}

/// A request the story sends without waiting.
fn request(request: RequestKind, instance: &str, start: Option<bool>) -> Action {
    Action::Request(Request {
        request,
        instance: instance.to_string(),
        start,
        expect: None,
        no_wait: true,
    })
}

/// Draws the swarm plan for `seed` from the swarm scenario's plan (its
/// `[swarm]` knobs, timings and variants). The same in every variant.
pub fn plan(swarm: &Plan, seed: u64) -> (Plan, SwarmShape) {
    let settings = swarm
        .swarm
        .as_ref()
        .expect("the swarm scenario has [swarm]");
    let mut rng = SeedTree::new(seed).child("plan");
    let nexus = rng.random_range(1..=3u8);
    let sleds = rng.random_range(1..=4u8);
    let instances = rng.random_range(1..=settings.max_instances.max(1));
    let phase_ms = settings.fault_phase.0;
    let mut shape = SwarmShape {
        nexus,
        sleds,
        instances,
        faults: BTreeMap::new(),
    };
    let mut steps: Vec<(u64, u64, Action)> = Vec::new();
    let mut order = 0u64;
    let mut push = |steps: &mut Vec<(u64, u64, Action)>, at: u64, a: Action| {
        order += 1;
        steps.push((at, order, a));
    };
    let names: Vec<String> = (0..instances).map(|i| format!("inst-{i}")).collect();
    let decls: Vec<InstanceDecl> = names
        .iter()
        .map(|n| {
            let p = match rng.random_range(0..4) {
                0 => Some(AutoRestartPolicy::Never),
                1 => Some(AutoRestartPolicy::BestEffort),
                _ => None,
            };
            InstanceDecl {
                name: n.clone(),
                auto_restart_policy: p,
            }
        })
        .collect();

    // The workload: each instance is created early, then gets a request
    // every so often.
    // Requests that start a VMM, with their time: where a booting VMM
    // can fail.
    let mut boots: Vec<(u64, String)> = Vec::new();
    // Every create with its time: where a delete can race the create saga.
    let mut creates: Vec<(u64, String)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let at = rng.random_range(0..30_000) + i as u64 * 2_000;
        creates.push((at, name.clone()));
        let start = rng.random_bool(0.8);
        if start {
            boots.push((at, name.clone()));
        }
        push(
            &mut steps,
            at,
            request(RequestKind::Create, name, Some(start)),
        );
    }
    let request_gap = rng.random_range(15_000..90_000u64);
    let mut t = 40_000;
    while t < phase_ms {
        let name = names
            .choose(&mut rng)
            .expect("at least one instance")
            .clone();
        let op = *[
            RequestKind::Start,
            RequestKind::Start,
            RequestKind::Stop,
            RequestKind::Stop,
            RequestKind::Reboot,
            RequestKind::Delete,
            RequestKind::Get,
        ]
        .choose(&mut rng)
        .expect("nonempty");
        if matches!(op, RequestKind::Start | RequestKind::Reboot) {
            boots.push((t, name.clone()));
        }
        push(&mut steps, t, request(op, &name, None));
        t += rng.random_range(request_gap / 2..request_gap * 3 / 2);
    }

    // The faults: a random subset of kinds, each with its own rate.
    let nexus_host = |rng: &mut ChaCha8Rng| HostId::Nexus(NexusId(rng.random_range(0..nexus)));
    let sled_host = |rng: &mut ChaCha8Rng| SledId(rng.random_range(0..sleds));
    let mut lost_sleds = 0u8;
    for kind in ALL_KINDS {
        if !rng.random_bool(0.4) {
            continue;
        }
        let gap = rng.random_range(60..300u64);
        shape.faults.insert(format!("{kind:?}"), gap);
        let mut t = rng.random_range(20_000..gap * 1000);
        while t < phase_ms {
            let down_for = rng.random_range(2_000..60_000u64);
            match kind {
                FaultKind::NexusCrash => {
                    let h = nexus_host(&mut rng);
                    push(&mut steps, t, Action::Fault(Fault::Crash { host: h }));
                    push(
                        &mut steps,
                        t + down_for,
                        Action::Fault(Fault::Restart { host: h }),
                    );
                }
                FaultKind::SledRestart => {
                    let h = HostId::Sled(sled_host(&mut rng));
                    push(&mut steps, t, Action::Fault(Fault::Restart { host: h }));
                }
                FaultKind::LoseSled => {
                    // Lose at most a minority of the sleds. omicron places
                    // VMMs on any in-service sled, powered or not (only an
                    // expunge, not modelled, takes a sled out), so each
                    // start that picks a lost sled burns a sled-agent
                    // timeout; with most sleds lost, a Running intent may
                    // take longer than the settle deadline to land.
                    if lost_sleds < (sleds - 1) / 2 {
                        lost_sleds += 1;
                        let s = SledId(sleds - lost_sleds);
                        push(&mut steps, t, Action::Fault(Fault::LoseSled { sled: s }));
                    }
                }
                FaultKind::DbCrash => {
                    // Half clean crashes, half power losses: only a power
                    // loss can leave a committed write unanswered (a clean
                    // crash delivers what the db already sent).
                    let crash = if rng.random_bool(0.5) {
                        Fault::PowerLoss { host: HostId::Db }
                    } else {
                        Fault::Crash { host: HostId::Db }
                    };
                    push(&mut steps, t, Action::Fault(crash));
                    let back = t + down_for / 4;
                    push(
                        &mut steps,
                        back,
                        Action::Fault(Fault::Restart { host: HostId::Db }),
                    );
                }
                FaultKind::Partition | FaultKind::OneWayPartition | FaultKind::Hold => {
                    // Holds only ever name the db and one-way partitions only
                    // sleds, so the two never meet on one pair of hosts:
                    // turmoil does not support that combination.
                    let a = nexus_host(&mut rng);
                    let b = match kind {
                        FaultKind::Hold => HostId::Db,
                        FaultKind::OneWayPartition => HostId::Sled(sled_host(&mut rng)),
                        _ => match rng.random_range(0..3) {
                            0 => HostId::Db,
                            _ => HostId::Sled(sled_host(&mut rng)),
                        },
                    };
                    let oneway = kind == FaultKind::OneWayPartition;
                    let (on, off) = if kind == FaultKind::Hold {
                        (
                            Fault::Hold {
                                a,
                                b,
                                deliver_late: false,
                            },
                            Fault::Release { a, b },
                        )
                    } else {
                        (
                            Fault::Partition { a, b, oneway },
                            Fault::Repair { a, b, oneway },
                        )
                    };
                    push(&mut steps, t, Action::Fault(on));
                    push(&mut steps, t + down_for, Action::Fault(off));
                }
                FaultKind::GuestShutdown | FaultKind::ForgetVmm => {
                    let name = names.choose(&mut rng).expect("nonempty").clone();
                    let f = if kind == FaultKind::GuestShutdown {
                        Fault::GuestShutdown { instance: name }
                    } else {
                        Fault::ForgetVmm { instance: name }
                    };
                    push(&mut steps, t, Action::Fault(f));
                }
                FaultKind::PointCrash => {
                    let host = nexus_host(&mut rng);
                    let point = CRASH_POINTS.choose(&mut rng).expect("nonempty");
                    push(
                        &mut steps,
                        t.saturating_sub(15_000),
                        Action::Arm {
                            arm: ArmKind::Crash,
                            through_heal: false,
                            host,
                            point: point.to_string(),
                        },
                    );
                    push(
                        &mut steps,
                        t + down_for,
                        Action::Fault(Fault::Restart { host }),
                    );
                }
                FaultKind::PointPause => {
                    let host = nexus_host(&mut rng);
                    let point = PAUSE_POINTS.choose(&mut rng).expect("nonempty").to_string();
                    push(
                        &mut steps,
                        t,
                        Action::Arm {
                            arm: ArmKind::Pause,
                            through_heal: false,
                            host,
                            point: point.clone(),
                        },
                    );
                    push(
                        &mut steps,
                        t + down_for,
                        Action::Unpause {
                            unpause: true,
                            host,
                            point,
                        },
                    );
                }
            }
            t += rng.random_range(gap * 500..gap * 1500);
        }
    }
    let partitions =
        shape.faults.contains_key("Partition") || shape.faults.contains_key("OneWayPartition");
    for kind in LATER_KINDS {
        let mut rng = SeedTree::new(seed).child(&format!("plan.{kind:?}"));
        if !rng.random_bool(0.3) {
            continue;
        }
        // turmoil does not support a hold and a one-way partition on one
        // pair of hosts, and a release heals a two-way partition of the
        // pair too; partitions name a Nexus and a sled.
        if kind == LaterKind::LateDelivery && partitions {
            continue;
        }
        let gap = rng.random_range(60..300u64);
        shape.faults.insert(format!("{kind:?}"), gap);
        match kind {
            LaterKind::VmmFailsBooting => {
                // A start saga registers and runs the VMM some 10-15 s
                // after its request, and the VM boots for 5 s
                // (`vmm_boot_time`).
                for (at, name) in &boots {
                    if rng.random_bool(0.5) {
                        let t = at + rng.random_range(8_000..20_000u64);
                        let f = Fault::VmmFailsBooting {
                            instance: name.clone(),
                        };
                        push(&mut steps, t, Action::Fault(f));
                    }
                }
            }
            LaterKind::DeleteWhileCreating => {
                for (at, name) in &creates {
                    if rng.random_bool(0.5) {
                        let t = at + rng.random_range(0..3_000u64);
                        push(&mut steps, t, request(RequestKind::Delete, name, None));
                    }
                }
            }
            LaterKind::SledError | LaterKind::LateDelivery => {
                let mut t = rng.random_range(20_000..gap * 1000);
                while t < phase_ms {
                    if kind == LaterKind::SledError {
                        let sled = sled_host(&mut rng);
                        let call = *[SledCall::Register, SledCall::PutState, SledCall::GetState]
                            .choose(&mut rng)
                            .expect("nonempty");
                        let status = *[500u16, 503].choose(&mut rng).expect("nonempty");
                        let f = Fault::SledError {
                            sled,
                            call,
                            status,
                            count: None,
                            seconds: Some(rng.random_range(2..=60u64)),
                        };
                        push(&mut steps, t, Action::Fault(f));
                    } else {
                        let a = nexus_host(&mut rng);
                        let b = HostId::Sled(sled_host(&mut rng));
                        let held_for = rng.random_range(30_000..150_000u64);
                        let on = Fault::Hold {
                            a,
                            b,
                            deliver_late: true,
                        };
                        push(&mut steps, t, Action::Fault(on));
                        push(
                            &mut steps,
                            t + held_for,
                            Action::Fault(Fault::Release { a, b }),
                        );
                    }
                    t += rng.random_range(gap * 500..gap * 1500);
                }
            }
        }
    }
    steps.sort_by_key(|(at, order, _)| (*at, *order));
    let mut steps: Vec<PlanStep> = steps.into_iter().map(|(at, _, a)| step(at, a)).collect();
    // The story ends at the end of the fault phase, or at the last step
    // if a fault's end falls after it (the same moment either way: `at`
    // never goes back in time).
    let end = steps
        .last()
        .and_then(|s| s.at)
        .map_or(phase_ms, |at| at.0.max(phase_ms));
    steps.push(step(end, Action::Sleep { sleep: Millis(0) }));
    let plan = Plan {
        name: "swarm".into(),
        description: format!("swarm seed {seed}: {shape}"),
        seed: None,
        topology: Topology {
            nexus,
            sleds,
            sled_capacity: 4,
        },
        timings: swarm.timings.clone(),
        instances: decls,
        steps,
        variants: swarm.variants.clone(),
        swarm: swarm.swarm.clone(),
        without_fixes: Default::default(),
    };
    (plan, shape)
}

#[cfg(test)]
mod tests {
    use super::{CRASH_POINTS, PAUSE_POINTS};
    use model::nexus::sagas::named_points;

    /// Every point the swarm arms is one the model reaches by that name
    /// (a node point names a node in its saga's `NODES`).
    #[test]
    fn swarm_points_name_real_nodes() {
        let known = named_points();
        for p in CRASH_POINTS.iter().chain(PAUSE_POINTS.iter()) {
            assert!(known.contains(p), "swarm point {p} is not a named point");
        }
    }
}
