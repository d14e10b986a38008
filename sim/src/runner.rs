//! Runs one plan in one variant from one seed: the story (or the swarm's
//! fault phase) with safety checked on every event; then the heal; then the
//! run goes on until quiet has held for one watcher period, or the
//! deadline; then liveness.

use crate::checkers::{self, FinalState};
use crate::known_upstream;
use crate::plan::{Action, Condition, Expected, FaultAction, Plan, PlanStep};
use crate::quiet;
use crate::record::{Fault, RecordKind, RequestOutcome};
use crate::recorder::Recorder;
use crate::seed::SeedTree;
use crate::trace;
use crate::verdict::RunReport;
use crate::workload::Command;
use crate::world::{self, World};
use model::event::ApiOp;
use model::ids::{HostId, Millis, ReqId, SledId};
use model::mgs::PowerState;
use model::nexus::decisions::compute_state;
use model::probe::SledFault;
use model::sled_agent::api::SledRequest;
use model::variant::Variant;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

/// How long after the heal a run may take to become quiet: a watcher
/// period, a reincarnation period, a cooldown, the push-retry cap and RPC
/// timeouts, the `fixed` reconciler's longest start backoff (a start it
/// retries after the heal may wait that long), with margin (design
/// section 3).
pub fn settle_deadline(plan: &Plan) -> Duration {
    let t = &plan.timings;
    t.watcher_period
        + t.reincarnation_period
        + t.default_cooldown.as_duration()
        + t.push_retry_max
        + t.sled_rpc_timeout
        + t.intent_reconciler_backoff_max
        + Duration::from_secs(120)
}

/// How often the runner evaluates quiet (every this many ticks).
const QUIET_EVERY: u64 = 5;

/// What the story is waiting for.
enum Waiting {
    Nothing,
    Until(Millis),
    Response {
        req: ReqId,
        op: ApiOp,
        instance: String,
        expect: Vec<Expected>,
    },
    Condition {
        cond: Condition,
        deadline: Millis,
    },
}

struct Runner<'a> {
    plan: &'a Plan,
    world: World<'a>,
    recorder: Rc<Recorder>,
    req_rng: ChaCha8Rng,
    next_step: usize,
    waiting: Waiting,
    divergences: Vec<String>,
    crashed: BTreeSet<HostId>,
    lost: BTreeSet<SledId>,
    partitions: Vec<(HostId, HostId, bool)>,
    /// The links a power loss cut, per host, repaired when it restarts.
    powered_off: Vec<(HostId, Vec<HostId>)>,
    holds: Vec<(HostId, HostId)>,
    reached: Vec<bool>,
    /// Records scanned for trace conditions so far.
    trace_cursor: usize,
    trace_seen: Vec<String>,
    crash: Option<String>,
    steps: u64,
    /// Requests sent without waiting whose response the story names:
    /// judged when the run ends.
    unwaited: Vec<(ReqId, ApiOp, String, Vec<Expected>)>,
}

/// Whether a run judges its events: `Off` exists to measure what checking
/// costs (the benchmark); every verdict comes from a run with `On`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Checking {
    On,
    Off,
}

/// Runs `plan` (scenario `scenario`, case `case`) in `variant` from `seed`.
pub fn run(
    plan: &Plan,
    scenario: &str,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
) -> RunReport {
    run_with(plan, scenario, case, variant, seed, Checking::On)
}

/// [`run`] with checking on or off. With `Off` no checker sees an event,
/// so the report has no violations; the world, its draws and its records
/// are the same as with `On`.
pub fn run_with(
    plan: &Plan,
    scenario: &str,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
    checking: Checking,
) -> RunReport {
    let tree = SeedTree::new(seed);
    let cooldown = plan.timings.default_cooldown.0;
    let checkers = match checking {
        Checking::On => checkers::all(cooldown),
        Checking::Off => Vec::new(),
    };
    let recorder = Rc::new(Recorder::new(checkers));
    let _guard = model::probe::install(recorder.clone());
    let story_budget: Duration = plan
        .steps
        .iter()
        .map(|s| match &s.action {
            Action::Wait { within, .. } => *within,
            Action::Sleep(d) => *d,
            Action::Request { .. } => Duration::from_secs(240),
            _ => Duration::ZERO,
        })
        .sum::<Duration>()
        + plan
            .steps
            .iter()
            .filter_map(|s| s.at)
            .max()
            .unwrap_or_default()
            .as_duration();
    let deadline_total = story_budget + settle_deadline(plan) + Duration::from_secs(3600);
    let world = world::build(plan, variant, tree, recorder.clone(), deadline_total);
    let mut runner = Runner {
        plan,
        world,
        recorder: recorder.clone(),
        req_rng: tree.child("requests"),
        next_step: 0,
        waiting: Waiting::Nothing,
        divergences: Vec::new(),
        crashed: BTreeSet::new(),
        lost: BTreeSet::new(),
        partitions: Vec::new(),
        powered_off: Vec::new(),
        holds: Vec::new(),
        reached: vec![false; plan.must_reach.len()],
        trace_cursor: 0,
        trace_seen: Vec::new(),
        crash: None,
        steps: 0,
        unwaited: Vec::new(),
    };
    let hung = match crate::panics::catch(|| runner.drive(story_budget)) {
        Ok(hung) => hung,
        Err(message) => {
            runner.crash = Some(format!("panic: {message}"));
            None
        }
    };
    runner.world.workload.borrow_mut().finish();
    let (mut checkers, records, mut violations) = recorder.finish();
    let end = FinalState {
        db: &runner.world.db.borrow(),
        sleds_up: (0..plan.sled_count)
            .map(SledId)
            .filter(|s| !runner.lost.contains(s) && !runner.crashed.contains(&HostId::Sled(*s)))
            .collect(),
        sleds_lost: runner.lost.clone(),
        sled_capacity: plan.sled_capacity,
        at: runner.now(),
    };
    if runner.crash.is_none() {
        for c in checkers.iter_mut() {
            c.finish(&end, &mut violations);
        }
    }
    for (req, op, instance, expect) in std::mem::take(&mut runner.unwaited) {
        let got = match runner.world.workload.borrow().outcome(req) {
            Some(RequestOutcome::Status { status, .. }) => Expected::Status(*status),
            Some(RequestOutcome::NoResponse) => Expected::NoResponse,
            None => continue,
        };
        if !expect.contains(&got) {
            let want: Vec<String> = expect.iter().map(|e| e.to_string()).collect();
            runner.divergences.push(format!(
                "{} {instance:?} ({req}) got {got}, expected {}",
                op.name(),
                want.join(" or ")
            ));
        }
    }
    for (i, cond) in plan.must_reach.iter().enumerate() {
        if !runner.reached[i] && !runner.holds_now(cond, &records) {
            runner
                .divergences
                .push(format!("the story never reached: {cond}"));
        }
    }
    // `hung` is reported only when the deadline came without quiet and no
    // checker fired (design section 3): a run that never settles because of
    // something a checker names (a leaked reservation that leaves an
    // instance nowhere to go, say) is explained by that checker.
    let hung = hung.filter(|_| runner.crash.is_none() && violations.is_empty());
    let (known, violations) = known_upstream::split(violations, variant);
    let exceptions = checkers.iter().flat_map(|c| c.notes().to_vec()).collect();
    RunReport {
        name: match case {
            Some(c) => format!("{scenario}/{c}"),
            None => scenario.to_string(),
        },
        scenario: scenario.to_string(),
        case: case.map(str::to_string),
        seed,
        variant,
        without_fixes: plan.without_fixes.clone(),
        violations,
        known,
        exceptions,
        divergences: runner.divergences,
        hung,
        crash: runner.crash,
        expected: plan.expected_violations.clone(),
        expected_is_ceiling: plan.is_swarm,
        records,
        points: recorder.points_reached(),
        names: recorder.names(),
        ended_at: end.at,
        steps: runner.steps,
        plan_steps: plan.steps.clone(),
    }
}

impl Runner<'_> {
    fn now(&self) -> Millis {
        Millis(self.world.sim.elapsed().as_millis() as u64)
    }

    /// One tick of the world, then crash the hosts that halted at a point.
    fn tick(&mut self) -> bool {
        self.recorder.set_now(self.now());
        self.steps += 1;
        if let Err(e) = self.world.sim.step() {
            self.crash = Some(e.to_string());
            return false;
        }
        self.recorder.set_now(self.now());
        for host in self.recorder.take_halted() {
            self.world.sim.crash(host.name());
            model::probe::clear_halted(host);
            self.crashed.insert(host);
            self.recorder
                .record(host, RecordKind::Fault(Fault::Crash(host)));
        }
        self.check_must_reach();
        true
    }

    /// The whole run; returns why it hung, if it did.
    fn drive(&mut self, story_budget: Duration) -> Option<String> {
        // The story: run every step in order, waiting as it says.
        let story_end = Millis(story_budget.as_millis() as u64);
        while self.next_step < self.plan.steps.len() || !matches!(self.waiting, Waiting::Nothing) {
            self.advance_story();
            if self.crash.is_some() {
                return None;
            }
            if self.next_step >= self.plan.steps.len() && matches!(self.waiting, Waiting::Nothing) {
                break;
            }
            if !self.tick() {
                return None;
            }
            if self.now() > story_end + Millis::from_secs(3600) {
                self.divergences
                    .push("the story did not finish within its time budget".into());
                break;
            }
        }
        self.heal();
        // Settle: until quiet has held for one watcher period, or the
        // deadline.
        let deadline = self.now() + Millis(settle_deadline(self.plan).as_millis() as u64);
        let quiet_for = Millis(self.plan.timings.watcher_period.as_millis() as u64);
        let mut quiet_since: Option<Millis> = None;
        let mut last_reason = String::new();
        loop {
            if !self.tick() {
                return None;
            }
            let now = self.now();
            if self.steps.is_multiple_of(QUIET_EVERY) {
                match self.not_quiet() {
                    None => {
                        let since = *quiet_since.get_or_insert(now);
                        if now.saturating_sub(since) >= quiet_for {
                            return None;
                        }
                    }
                    Some(reason) => {
                        quiet_since = None;
                        last_reason = reason;
                    }
                }
            }
            if now >= deadline {
                return Some(format!(
                    "not quiet {}s after the heal: {last_reason}",
                    settle_deadline(self.plan).as_secs()
                ));
            }
        }
    }

    fn not_quiet(&self) -> Option<String> {
        if self.world.workload.borrow().busy() {
            return Some("a request is in flight".into());
        }
        // Messages on the wire are not checked: background polling keeps
        // some exchange in flight most of the time. Quiet is judged on the
        // state those exchanges would change.
        let up: BTreeSet<SledId> = (0..self.plan.sled_count)
            .map(SledId)
            .filter(|s| !self.lost.contains(s) && !self.crashed.contains(&HostId::Sled(*s)))
            .collect();
        quiet::reason(
            &self.world.db.borrow(),
            &self.recorder.sled_tables(),
            &up,
            &self.world.config,
            self.now(),
        )
    }

    /// Runs story steps until one must wait.
    fn advance_story(&mut self) {
        loop {
            if !self.waiting_done() {
                return;
            }
            let Some(step) = self.plan.steps.get(self.next_step).cloned() else {
                return;
            };
            if let Some(at) = step.at {
                if self.now() < at {
                    self.waiting = Waiting::Until(at);
                    return;
                }
            }
            self.next_step += 1;
            self.apply(&step);
        }
    }

    /// Whether the current wait is over (recording a divergence if it
    /// timed out or a response was not as written).
    fn waiting_done(&mut self) -> bool {
        let done = match &self.waiting {
            Waiting::Nothing => true,
            Waiting::Until(t) => self.now() >= *t,
            Waiting::Response {
                req,
                op,
                instance,
                expect,
            } => {
                let outcome = self.world.workload.borrow().outcome(*req).cloned();
                match outcome {
                    None => false,
                    Some(outcome) => {
                        let got = match outcome {
                            RequestOutcome::Status { status, .. } => Expected::Status(status),
                            RequestOutcome::NoResponse => Expected::NoResponse,
                        };
                        if !expect.is_empty() && !expect.contains(&got) {
                            let want: Vec<String> = expect.iter().map(|e| e.to_string()).collect();
                            self.divergences.push(format!(
                                "{} {instance:?} ({req}) got {got}, expected {}",
                                op.name(),
                                want.join(" or ")
                            ));
                        }
                        true
                    }
                }
            }
            Waiting::Condition { cond, deadline } => {
                let cond = cond.clone();
                let deadline = *deadline;
                if self.holds_live(&cond) {
                    true
                } else if self.now() >= deadline {
                    self.divergences
                        .push(format!("waited for {cond}; it did not happen in time"));
                    true
                } else {
                    false
                }
            }
        };
        if done {
            self.waiting = Waiting::Nothing;
        }
        done
    }

    fn apply(&mut self, step: &PlanStep) {
        match &step.action {
            Action::Request {
                op,
                instance,
                expect,
                wait,
            } => {
                let req = ReqId(self.req_rng.next_u64());
                self.world.workload.borrow_mut().push(Command::Request {
                    req,
                    op: *op,
                    instance: instance.clone(),
                });
                if *wait {
                    self.waiting = Waiting::Response {
                        req,
                        op: *op,
                        instance: instance.clone(),
                        expect: expect.clone(),
                    };
                } else if !expect.is_empty() {
                    self.unwaited
                        .push((req, *op, instance.clone(), expect.clone()));
                }
            }
            Action::Fault(f) => self.fault(f),
            Action::Arm { host, point, arm } => self.recorder.arm(*host, point, *arm),
            Action::Unpause { host, point } => {
                self.recorder.unpause(*host, point);
                self.recorder.record(
                    *host,
                    RecordKind::Fault(Fault::Unpause {
                        host: *host,
                        point: point.clone(),
                    }),
                );
            }
            Action::Wait { cond, within } => {
                self.waiting = Waiting::Condition {
                    cond: cond.clone(),
                    deadline: self.now() + Millis(within.as_millis() as u64),
                };
            }
            Action::Sleep(d) => {
                self.waiting = Waiting::Until(self.now() + Millis(d.as_millis() as u64));
            }
        }
    }

    fn fault(&mut self, f: &FaultAction) {
        let record = |r: &Recorder, host: HostId, fault: Fault| {
            r.record(host, RecordKind::Fault(fault));
        };
        match f {
            FaultAction::Crash(h) => {
                if self.crashed.insert(*h) {
                    self.world.sim.crash(h.name());
                }
                record(&self.recorder, *h, Fault::Crash(*h));
            }
            FaultAction::PowerLoss(h) => {
                let others: Vec<HostId> = self.all_hosts().into_iter().filter(|o| o != h).collect();
                for o in &others {
                    self.world.sim.partition(h.name(), o.name());
                }
                self.powered_off.push((*h, others));
                if self.crashed.insert(*h) {
                    self.world.sim.crash(h.name());
                }
                record(&self.recorder, *h, Fault::PowerLoss(*h));
            }
            FaultAction::Restart(h) => {
                self.reconnect(*h);
                self.world.sim.bounce(h.name());
                model::probe::clear_halted(*h);
                self.crashed.remove(h);
                // Restarting a lost sled means its power came back.
                if let HostId::Sled(s) = h {
                    if self.lost.remove(s) {
                        self.world.workload.borrow_mut().push(Command::SetPower {
                            sled: *s,
                            state: PowerState::A0,
                        });
                    }
                }
                record(&self.recorder, *h, Fault::Restart(*h));
            }
            FaultAction::LoseSled(s) => {
                let h = HostId::Sled(*s);
                if self.crashed.insert(h) {
                    self.world.sim.crash(h.name());
                }
                self.lost.insert(*s);
                self.world.workload.borrow_mut().push(Command::SetPower {
                    sled: *s,
                    state: PowerState::A2,
                });
                record(&self.recorder, h, Fault::SledLost(*s));
            }
            FaultAction::Partition { a, b, oneway } => {
                if *oneway {
                    self.world.sim.partition_oneway(a.name(), b.name());
                } else {
                    self.world.sim.partition(a.name(), b.name());
                }
                self.partitions.push((*a, *b, *oneway));
                record(
                    &self.recorder,
                    *a,
                    Fault::Partition {
                        a: *a,
                        b: *b,
                        oneway: *oneway,
                    },
                );
            }
            FaultAction::Repair { a, b, oneway } => {
                if *oneway {
                    self.world.sim.repair_oneway(a.name(), b.name());
                } else {
                    self.world.sim.repair(a.name(), b.name());
                }
                self.partitions
                    .retain(|(x, y, _)| !((x == a && y == b) || (!*oneway && x == b && y == a)));
                record(
                    &self.recorder,
                    *a,
                    Fault::Repair {
                        a: *a,
                        b: *b,
                        oneway: *oneway,
                    },
                );
            }
            FaultAction::Hold { a, b } => {
                self.world.sim.hold(a.name(), b.name());
                self.holds.push((*a, *b));
                record(&self.recorder, *a, Fault::Hold { a: *a, b: *b });
            }
            FaultAction::Release { a, b } => {
                self.world.sim.release(a.name(), b.name());
                self.holds.retain(|(x, y)| !(x == a && y == b));
                record(&self.recorder, *a, Fault::Release { a: *a, b: *b });
            }
            FaultAction::GuestShutdown(name) => {
                record(
                    &self.recorder,
                    HostId::Workload,
                    Fault::GuestShutdown {
                        instance: name.clone(),
                    },
                );
                if let Some((sled, instance)) = self.placement(name) {
                    self.world.workload.borrow_mut().push(Command::SledHook {
                        sled,
                        request: SledRequest::SimGuestShutdown { instance },
                    });
                }
            }
            FaultAction::Upgrade => self.upgrade(),
            FaultAction::ForgetVmm(name) => {
                record(
                    &self.recorder,
                    HostId::Workload,
                    Fault::ForgetVmm {
                        instance: name.clone(),
                    },
                );
                if let Some((sled, instance)) = self.placement(name) {
                    self.world.workload.borrow_mut().push(Command::SledHook {
                        sled,
                        request: SledRequest::SimForgetVmm { instance },
                    });
                }
            }
            FaultAction::VmmFailsBooting(name) => {
                record(
                    &self.recorder,
                    HostId::Workload,
                    Fault::VmmFailsBooting {
                        instance: name.clone(),
                    },
                );
                if let Some((sled, instance)) = self.placement(name) {
                    self.world.workload.borrow_mut().push(Command::SledHook {
                        sled,
                        request: SledRequest::SimFailBooting { instance },
                    });
                }
            }
            FaultAction::SledFault {
                sled,
                call,
                fault,
                count,
                for_time,
            } => {
                self.recorder
                    .arm_sled_fault(*sled, *call, *fault, *count, *for_time);
                record(
                    &self.recorder,
                    HostId::Sled(*sled),
                    Fault::SledFault {
                        sled: *sled,
                        call: *call,
                        status: match fault {
                            SledFault::Status(s) => Some(*s),
                            SledFault::Hang => None,
                        },
                        count: *count,
                        seconds: for_time.map(|t| t.as_secs()),
                    },
                );
            }
            FaultAction::SledAgentRestartKeepsVmms(sled) => {
                // Only the sled agent's process restarts: no Crash or
                // Restart is recorded, so the checkers' view of the sled
                // keeps its VMMs, which run on with nobody managing them.
                let h = HostId::Sled(*sled);
                record(&self.recorder, h, Fault::SledAgentRestartKeepsVmms(*sled));
                self.world.sim.bounce(h.name());
            }
        }
    }

    /// PR #8053's offline upgrade: every Nexus down, the schema update's
    /// back-fill on the db (`model::db::schema_update`), every Nexus back
    /// in the run's variant.
    fn upgrade(&mut self) {
        let nexuses: Vec<HostId> = (0..self.plan.nexus_count)
            .map(|n| HostId::Nexus(model::ids::NexusId(n)))
            .collect();
        for h in &nexuses {
            if self.crashed.insert(*h) {
                self.world.sim.crash(h.name());
            }
        }
        let mut events = Vec::new();
        self.world
            .db
            .borrow_mut()
            .migrate_instance_intended_state(&mut events);
        for e in events {
            self.recorder.record(HostId::Db, RecordKind::Model(e));
        }
        let to = self.world.variant;
        self.world.nexus_variant.set(to);
        self.world.config.variant = to;
        self.recorder
            .record(HostId::Db, RecordKind::Fault(Fault::Upgrade { to }));
        for h in nexuses {
            self.reconnect(h);
            self.world.sim.bounce(h.name());
            model::probe::clear_halted(h);
            self.crashed.remove(&h);
        }
    }

    fn all_hosts(&self) -> Vec<HostId> {
        let mut hosts = vec![HostId::Db, HostId::Mgs, HostId::Workload];
        hosts.extend((0..self.plan.nexus_count).map(|n| HostId::Nexus(model::ids::NexusId(n))));
        hosts.extend((0..self.plan.sled_count).map(|s| HostId::Sled(SledId(s))));
        hosts
    }

    /// Repairs the links a power loss of `h` cut.
    fn reconnect(&mut self, h: HostId) {
        let (cut, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.powered_off)
            .into_iter()
            .partition(|(x, _)| *x == h);
        self.powered_off = kept;
        for (_, others) in cut {
            for o in others {
                self.world.sim.repair(h.name(), o.name());
            }
        }
    }

    /// The sled of an instance's newest VMM.
    fn placement(&self, name: &str) -> Option<(SledId, model::ids::InstanceId)> {
        let id = self.recorder.id_of(name)?;
        let vmm = self.recorder.newest_vmm(id)?;
        let db = self.world.db.borrow();
        Some((db.vmm(vmm)?.sled_id, id))
    }

    /// The heal: faults stop, every host but lost sleds is up, the network
    /// is whole, paused hosts go on.
    fn heal(&mut self) {
        for (host, point) in self.recorder.disarm_all() {
            self.recorder
                .record(host, RecordKind::Fault(Fault::Unpause { host, point }));
        }
        for (a, b, oneway) in std::mem::take(&mut self.partitions) {
            if oneway {
                self.world.sim.repair_oneway(a.name(), b.name());
            } else {
                self.world.sim.repair(a.name(), b.name());
            }
        }
        for (a, b) in std::mem::take(&mut self.holds) {
            self.world.sim.release(a.name(), b.name());
        }
        let crashed: Vec<HostId> = self.crashed.iter().copied().collect();
        for h in crashed {
            self.reconnect(h);
            if let HostId::Sled(s) = h {
                if self.lost.contains(&s) {
                    continue;
                }
            }
            self.world.sim.bounce(h.name());
            model::probe::clear_halted(h);
            self.crashed.remove(&h);
        }
        self.recorder
            .record(HostId::Workload, RecordKind::Fault(Fault::Heal));
    }

    fn check_must_reach(&mut self) {
        for i in 0..self.plan.must_reach.len() {
            if !self.reached[i] {
                let cond = self.plan.must_reach[i].clone();
                if matches!(cond, Condition::State { .. } | Condition::VmmState { .. }) {
                    self.reached[i] = self.holds_live(&cond);
                }
            }
        }
    }

    /// Whether a condition holds now (trace conditions: whether a line so
    /// far has matched).
    fn holds_live(&mut self, cond: &Condition) -> bool {
        match cond {
            Condition::State { instance, state } => {
                let Some(id) = self.recorder.id_of(instance) else {
                    return false;
                };
                let db = self.world.db.borrow();
                let Some(row) = db.instance(id) else {
                    return false;
                };
                let vmm = row.runtime.propolis_id.and_then(|v| db.vmm(v));
                compute_state(row, vmm) == *state
            }
            Condition::VmmState { instance, state } => {
                let Some(id) = self.recorder.id_of(instance) else {
                    return false;
                };
                let Some(vmm) = self.recorder.newest_vmm(id) else {
                    return false;
                };
                self.world
                    .db
                    .borrow()
                    .vmm(vmm)
                    .is_some_and(|v| v.runtime.state == *state)
            }
            Condition::Point { point, host } => self.recorder.reached(*host, point),
            Condition::Trace(text) => {
                let new = self.recorder.records_from(self.trace_cursor);
                self.trace_cursor += new.len();
                let names = self.recorder.names();
                for r in &new {
                    self.trace_seen.push(trace::render(r, &names));
                }
                self.trace_seen.iter().any(|l| l.contains(text.as_str()))
            }
        }
    }

    /// At the end: must_reach point and trace conditions over all records.
    fn holds_now(&self, cond: &Condition, records: &[crate::record::Record]) -> bool {
        match cond {
            Condition::Point { point, host } => self.recorder.reached(*host, point),
            Condition::Trace(text) => {
                let names = self.recorder.names();
                records
                    .iter()
                    .any(|r| trace::render(r, &names).contains(text.as_str()))
            }
            Condition::State { .. } | Condition::VmmState { .. } => false,
        }
    }
}
