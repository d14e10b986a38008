//! Runs one plan in one variant from one seed: the story (or the swarm's
//! fault phase) with safety checked on every event; then the heal; then the
//! run goes on until quiet has held for the quiet window, or the deadline;
//! then liveness.

use crate::checkers::{self, FinalState};
use crate::db_view::DbView;
use crate::faults::Faults;
use crate::known_upstream;
use crate::plan::{Action, ArmKind, Condition, Expected, Plan, PlanStep, Request, RequestKind};
use crate::quiet;
use crate::record::{PointArm, RecordKind, RequestOutcome};
use crate::recorder::Recorder;
use crate::seed::SeedTree;
use crate::trace;
use crate::verdict::RunReport;
use crate::workload::Command;
use crate::world::{self, World};
use model::event::ApiOp;
use model::ids::{Millis, ReqId};
use model::nexus::decisions::compute_state;
use model::variant::Variant;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

/// How long quiet must hold before a run ends: one watcher period, and
/// longer than a VMM takes to boot or to stop (each plus 5 s for the sled's
/// report to land). Quiet can begin while a VMM is Starting or Stopping on
/// its sled (the control plane has nothing to do until the sled reports);
/// a window shorter than that transition ended runs with `vmm_boot = 40`
/// `Starting`, faulting a start intent the sled was about to honour
/// (`scenarios/slow-boot-and-stop-outlast-quiet.toml`). With omicron's
/// default timings it is the watcher period.
pub fn quiet_window(plan: &Plan) -> Duration {
    let t = &plan.timings.apply();
    let report = Duration::from_secs(5);
    (t.watcher_period)
        .max(t.vmm_boot_time + report)
        .max(t.vmm_stop_time + report)
}

/// How long after the heal a run may take to become quiet: the quiet
/// window, a VMM's boot and stop once more (quiet that began during a boot
/// or a stop starts again after it), a reincarnation period, a cooldown, the push-retry cap and RPC
/// timeouts, the `fixed` reconciler's longest start backoff (a start it
/// retries after the heal may wait that long), with margin (design
/// section 3).
pub fn settle_deadline(plan: &Plan) -> Duration {
    let t = &plan.timings.apply();
    quiet_window(plan)
        + t.vmm_boot_time
        + t.vmm_stop_time
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
    variant: Variant,
    divergences: Vec<String>,
    faults: Faults,
    reached: Vec<bool>,
    /// Records scanned for trace conditions so far.
    trace_cursor: usize,
    trace_seen: Vec<String>,
    crash: Option<String>,
    /// A turmoil limit the run hit (`crate::panics::harness_limit`).
    limit: Option<String>,
    steps: u64,
    /// Requests sent without waiting whose response the story names:
    /// judged when the run ends.
    unwaited: Vec<(ReqId, ApiOp, String, Vec<Expected>)>,
    /// `--db --at`: the moment to copy the db tables at, and the copy once
    /// taken.
    db_at: Option<Millis>,
    db_view: Option<DbView>,
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
    run_full(plan, scenario, case, variant, seed, checking, None).0
}

/// [`run`], and the db's tables (omdb's view) at virtual time `at`, or at
/// the end of the run when `at` is `None`. The view is `None` when the
/// run ended before `at` (the report's `ended_at` says when). Copying the
/// tables reads the db and changes nothing: the report is [`run`]'s.
pub fn run_with_db_view(
    plan: &Plan,
    scenario: &str,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
    at: Option<Millis>,
) -> (RunReport, Option<DbView>) {
    run_full(plan, scenario, case, variant, seed, Checking::On, at)
}

fn run_full(
    plan: &Plan,
    scenario: &str,
    case: Option<&str>,
    variant: Variant,
    seed: u64,
    checking: Checking,
    db_at: Option<Millis>,
) -> (RunReport, Option<DbView>) {
    let tree = SeedTree::new(seed);
    let cooldown = plan.timings.apply().default_cooldown.0;
    let checkers = match checking {
        Checking::On => checkers::all(cooldown),
        Checking::Off => Vec::new(),
    };
    let recorder = Rc::new(Recorder::new(checkers));
    let _guard = model::probe::install(recorder.clone());
    // Times are at most a virtual day each (checked at load), so the sum
    // saturates only for absurd step counts.
    let story_budget = Duration::from_millis(
        plan.steps
            .iter()
            .map(|s| match &s.action {
                Action::Wait { within, .. } => within.0,
                Action::Sleep { sleep } => sleep.0,
                Action::Request(_) => 240_000,
                _ => 0,
            })
            .fold(0u64, u64::saturating_add)
            .saturating_add(
                plan.steps
                    .iter()
                    .filter_map(|s| s.at)
                    .max()
                    .unwrap_or_default()
                    .0,
            ),
    );
    let deadline_total = story_budget + settle_deadline(plan) + Duration::from_secs(3600);
    let world = world::build(plan, variant, tree, recorder.clone(), deadline_total);
    let mut runner = Runner {
        plan,
        world,
        recorder: recorder.clone(),
        req_rng: tree.child("requests"),
        next_step: 0,
        waiting: Waiting::Nothing,
        variant,
        divergences: Vec::new(),
        faults: Faults::default(),
        reached: vec![false; plan.variants.get(variant).must_reach.len()],
        trace_cursor: 0,
        trace_seen: Vec::new(),
        crash: None,
        limit: None,
        steps: 0,
        unwaited: Vec::new(),
        db_at,
        db_view: None,
    };
    let hung = match crate::panics::catch(|| runner.drive(story_budget)) {
        Ok(hung) => hung,
        Err(message) => {
            match crate::panics::harness_limit(&message) {
                Some(limit) => runner.limit = Some(limit),
                None => runner.crash = Some(format!("panic: {message}")),
            }
            None
        }
    };
    runner.world.workload.borrow_mut().finish();
    let crate::recorder::Finished {
        mut checkers,
        view: history,
        records,
        mut violations,
    } = recorder.finish();
    let db_view = match (runner.db_view.take(), db_at) {
        (Some(view), _) => Some(view),
        (None, Some(at)) if at > runner.now() => None,
        (None, at) => Some(DbView::of(
            &runner.world.db.borrow(),
            at.unwrap_or(runner.now()),
        )),
    };
    let end = FinalState {
        db: &runner.world.db.borrow(),
        sleds_up: runner.faults.sleds_up(plan.topology.sleds),
        sleds_lost: runner.faults.lost.clone(),
        sled_capacity: plan.topology.sled_capacity,
        at: runner.now(),
    };
    let stopped = runner.crash.is_some() || runner.limit.is_some();
    if !stopped {
        for c in checkers.iter_mut() {
            c.finish(&history, &end, &mut violations);
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
    for (i, cond) in plan.variants.get(variant).must_reach.iter().enumerate() {
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
    let hung = hung.filter(|_| !stopped && violations.is_empty());
    let (known, violations) = known_upstream::split(violations, variant);
    let exceptions = checkers.iter().flat_map(|c| c.notes().to_vec()).collect();
    let report = RunReport {
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
        limit: runner.limit,
        expected: BTreeSet::from_iter(plan.variants.get(variant).violates.clone()),
        expected_is_ceiling: plan.is_swarm(),
        records,
        points: recorder.points_reached(),
        names: recorder.names(),
        ended_at: end.at,
        steps: runner.steps,
        plan_steps: plan.steps.clone(),
    };
    (report, db_view)
}

impl Runner<'_> {
    fn now(&self) -> Millis {
        Millis(self.world.sim.elapsed().as_millis() as u64)
    }

    /// One tick of the world, then crash the hosts that halted at a point.
    fn tick(&mut self) -> bool {
        // `--db --at`: the tables as they are before the first step that
        // starts after the moment (every record stamped at or before it).
        if let Some(at) = self.db_at.filter(|at| self.now() > *at) {
            self.db_view = Some(DbView::of(&self.world.db.borrow(), at));
            self.db_at = None;
        }
        self.recorder.set_now(self.now());
        self.steps += 1;
        if let Err(e) = self.world.sim.step() {
            self.crash = Some(e.to_string());
            return false;
        }
        self.recorder.set_now(self.now());
        for host in self.recorder.take_halted() {
            self.faults.halted(&mut self.world, &self.recorder, host);
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
        self.faults.heal(&mut self.world, &self.recorder);
        // Settle: until quiet has held for the quiet window, or the
        // deadline.
        let deadline = self.now() + Millis(settle_deadline(self.plan).as_millis() as u64);
        let quiet_for = Millis(quiet_window(self.plan).as_millis() as u64);
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
                // Quiet at the deadline, but not yet for the whole window:
                // say so, not what was pending before it began.
                if let Some(since) = quiet_since {
                    let window = quiet_for.0 / 1000;
                    last_reason = format!("quiet since {since}, short of the {window}s window");
                }
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
        let up = self.faults.sleds_up(self.plan.topology.sleds);
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
            Action::Request(r) => {
                let op = api_op(self.plan, r);
                let expect = (r.expect.as_ref())
                    .map_or(Vec::new(), |e| e.for_variant(self.variant).to_vec());
                let instance = r.instance.clone();
                let req = ReqId(self.req_rng.next_u64());
                self.world.workload.borrow_mut().push(Command::Request {
                    req,
                    op,
                    instance: instance.clone(),
                });
                if !r.no_wait {
                    self.waiting = Waiting::Response {
                        req,
                        op,
                        instance,
                        expect,
                    };
                } else if !expect.is_empty() {
                    self.unwaited.push((req, op, instance, expect));
                }
            }
            Action::Fault(f) => self.faults.apply(&mut self.world, &self.recorder, f),
            Action::Arm {
                arm,
                host,
                point,
                through_heal,
            } => {
                let arm = match arm {
                    ArmKind::Crash => PointArm::Crash,
                    ArmKind::Pause => PointArm::Pause,
                    ArmKind::Hang => PointArm::Hang {
                        through_heal: *through_heal,
                    },
                };
                self.recorder.arm(*host, point, arm)
            }
            Action::Inject { inject, host } => {
                self.recorder
                    .arm(*host, &inject.point(), PointArm::InjectError)
            }
            Action::Unpause { host, point, .. } => {
                self.recorder.unpause(*host, point);
                self.recorder.record(
                    *host,
                    RecordKind::Unpause {
                        host: *host,
                        point: point.clone(),
                    },
                );
            }
            Action::Wait { wait, within } => {
                self.waiting = Waiting::Condition {
                    cond: wait.clone(),
                    deadline: self.now() + *within,
                };
            }
            Action::Sleep { sleep } => {
                self.waiting = Waiting::Until(self.now() + *sleep);
            }
        }
    }

    fn check_must_reach(&mut self) {
        let plan = self.plan;
        for (i, cond) in plan
            .variants
            .get(self.variant)
            .must_reach
            .iter()
            .enumerate()
        {
            if !self.reached[i]
                && matches!(cond, Condition::State { .. } | Condition::VmmState { .. })
            {
                self.reached[i] = self.holds_live(cond);
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
            Condition::VmmState {
                instance,
                vmm_state: state,
            } => {
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
            // A wait counts the passes after the point was armed there
            // (`must_reach`, checked at the end, counts any pass).
            Condition::Point { point, host } => self.recorder.reached_since_armed(*host, point),
            Condition::Trace { trace: text } => {
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
            Condition::Trace { trace: text } => {
                let names = self.recorder.names();
                records
                    .iter()
                    .any(|r| trace::render(r, &names).contains(text.as_str()))
            }
            Condition::State { .. } | Condition::VmmState { .. } => false,
        }
    }
}

/// The model's operation for a story's request: a create takes its
/// instance's auto-restart policy (NULL when the instance sets none).
fn api_op(plan: &Plan, r: &Request) -> ApiOp {
    match r.request {
        RequestKind::Create => ApiOp::Create {
            start: r.start.unwrap_or(true),
            auto_restart_policy: (plan.instances.iter())
                .find(|i| i.name == r.instance)
                .and_then(|i| i.auto_restart_policy),
        },
        RequestKind::Start => ApiOp::Start,
        RequestKind::Stop => ApiOp::Stop,
        RequestKind::Reboot => ApiOp::Reboot,
        RequestKind::Delete => ApiOp::Delete,
        RequestKind::Get => ApiOp::Get,
    }
}
