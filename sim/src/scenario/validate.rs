//! What a scenario file must mean, beyond its types: topology ranges, one
//! action per step with the fields it needs and no others, hosts that exist
//! in the topology, named points, checker and state names, instances created
//! before they are used, expected statuses, and no `hold` with a one-way
//! partition on the same pair of hosts (turmoil does not support it).

use super::error::ScenarioError;
use super::locate::{FieldPath, Source};
use super::names::{
    did_you_mean, is_case_name, is_omicron_name, CHECKERS, EXTERNAL_STATES, VMM_STATES,
};
use super::spec::{
    ArmKind, Condition, Expect, ExpectByVariant, ExpectOne, FaultKind, RequestKind, ScenarioSpec,
    Step, Topology, VariantExpectations,
};
use super::subst::is_var_name;
use model::ids::HostId;
use std::collections::{BTreeMap, BTreeSet};

const VARIANT_KEYS: [&str; 3] = ["legacy", "omicron", "fixed"];

/// Builds errors for one run: a field whose raw text used a var names the
/// case whose value was wrong.
pub(crate) struct Ctx<'s, 'a> {
    pub(crate) src: &'s Source<'a>,
    pub(crate) case: Option<&'s str>,
}

impl Ctx<'_, '_> {
    fn field(&self, path: &FieldPath) -> Option<String> {
        let field = path.render();
        match (field, self.case) {
            (Some(f), Some(case)) if self.src.value_text(path).contains("${") => {
                Some(format!("{f} (case `{case}`)"))
            }
            (field, _) => field,
        }
    }

    fn err(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
        self.src.error_at(path, self.field(path), message)
    }

    /// An error about `field` (missing, say), at `at`'s position.
    fn err_at(
        &self,
        at: &FieldPath,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.src.error_at(at, field.render(), message)
    }
}

type Check = Result<(), ScenarioError>;

/// Checks what does not depend on a case's vars.
pub(crate) fn spec(src: &Source<'_>, spec: &ScenarioSpec) -> Check {
    let ctx = Ctx { src, case: None };
    topology(&ctx, &spec.topology)?;
    timings(&ctx, spec)?;

    let mut names = BTreeSet::new();
    for (i, inst) in spec.instances.iter().enumerate() {
        let path = FieldPath::root().key("instance").index(i).key("name");
        if !is_omicron_name(&inst.name) {
            return Err(ctx.err(
                &path,
                format!(
                    "{:?} is not an omicron name: expected lowercase letters, digits and '-', starting with a letter, at most 63 characters",
                    inst.name
                ),
            ));
        }
        if !names.insert(inst.name.as_str()) {
            return Err(ctx.err(&path, format!("instance {:?} is declared twice", inst.name)));
        }
    }

    let mut cases = BTreeSet::new();
    for (i, case) in spec.cases.iter().enumerate() {
        let path = FieldPath::root().key("case").index(i);
        if !is_case_name(&case.name) {
            return Err(ctx.err(
                &path.key("name"),
                format!(
                    "{:?} is not a case name: expected letters, digits, '_', '-' and '.'",
                    case.name
                ),
            ));
        }
        if !cases.insert(case.name.as_str()) {
            return Err(ctx.err(
                &path.key("name"),
                format!("case {:?} is named twice", case.name),
            ));
        }
        if let Some(var) = case.vars.keys().find(|v| !is_var_name(v)) {
            return Err(ctx.err(
                &path.key("vars").key(var),
                format!("{var:?} is not a var name: expected letters, digits and '_', not starting with a digit"),
            ));
        }
    }

    for (variant, e) in spec.variants.iter() {
        let path = FieldPath::root()
            .key("variants")
            .key(variant.name())
            .key("violates");
        let mut seen = BTreeSet::new();
        for (j, checker) in e.violates.iter().enumerate() {
            let path = path.index(j);
            if !CHECKERS.contains(&checker.as_str()) {
                return Err(ctx.err(
                    &path,
                    format!(
                        "unknown checker {checker:?}{} (checkers are {})",
                        did_you_mean(checker, CHECKERS),
                        CHECKERS.join(", ")
                    ),
                ));
            }
            if !seen.insert(checker) {
                return Err(ctx.err(&path, format!("checker {checker:?} is listed twice")));
            }
        }
    }

    match &spec.swarm {
        Some(swarm) => {
            let path = FieldPath::root().key("swarm");
            if !spec.steps.is_empty() {
                return Err(ctx.err(
                    &FieldPath::step(0),
                    "the swarm scenario draws its plan from the seed: it has no [[step]]",
                ));
            }
            if !spec.cases.is_empty() {
                return Err(ctx.err(
                    &FieldPath::root().key("case").index(0),
                    "the swarm scenario draws its plan from the seed: it has no [[case]]",
                ));
            }
            if swarm.fault_phase == 0 {
                return Err(ctx.err(
                    &path.key("fault_phase"),
                    "expected at least 1 second of faults",
                ));
            }
            if swarm.max_instances == 0 {
                return Err(ctx.err(&path.key("max_instances"), "expected at least 1 instance"));
            }
        }
        None => {
            if spec.steps.is_empty() {
                return Err(ScenarioError::file(
                    src.file,
                    "no [[step]]: a scenario tells its story in steps (only the swarm scenario, with [swarm], has none)",
                ));
            }
        }
    }
    Ok(())
}

fn topology(ctx: &Ctx<'_, '_>, t: &Topology) -> Check {
    let path = FieldPath::root().key("topology");
    if !(1..=3).contains(&t.nexus) {
        return Err(ctx.err(
            &path.key("nexus"),
            format!("expected 1 to 3 Nexus hosts, got {}", t.nexus),
        ));
    }
    if !(1..=4).contains(&t.sleds) {
        return Err(ctx.err(
            &path.key("sleds"),
            format!("expected 1 to 4 sleds, got {}", t.sleds),
        ));
    }
    if t.sled_capacity == Some(0) {
        return Err(ctx.err(
            &path.key("sled_capacity"),
            "expected room for at least 1 VMM per sled",
        ));
    }
    Ok(())
}

fn timings(ctx: &Ctx<'_, '_>, spec: &ScenarioSpec) -> Check {
    let t = &spec.timings;
    let periods = [
        ("watcher_period", t.watcher_period),
        ("reincarnation_period", t.reincarnation_period),
        ("updater_period", t.updater_period),
        ("reaper_period", t.reaper_period),
        ("saga_recovery_period", t.saga_recovery_period),
        ("intent_reconciler_period", t.intent_reconciler_period),
    ];
    for (name, value) in periods {
        if value == Some(0) {
            return Err(ctx.err(
                &FieldPath::root().key("timings").key(name),
                "expected a period of at least 1 second",
            ));
        }
    }
    Ok(())
}

/// Checks one run's steps and expectations, after its vars are written in.
pub(crate) fn run(
    ctx: &Ctx<'_, '_>,
    spec: &ScenarioSpec,
    steps: &[Step],
    variants: &VariantExpectations,
) -> Check {
    let declared: Vec<&str> = spec.instances.iter().map(|i| i.name.as_str()).collect();
    // Where each instance is first created, to say "used before step N
    // creates it".
    let mut first_create: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        if let (Some(RequestKind::Create), Some(inst)) = (s.request, &s.instance) {
            first_create.entry(inst.as_str()).or_insert(i);
        }
    }
    let instances = Instances {
        declared: &declared,
        first_create: &first_create,
    };

    let mut created: BTreeSet<&str> = BTreeSet::new();
    let mut links = Links::default();
    for (i, s) in steps.iter().enumerate() {
        step(ctx, &spec.topology, &instances, &created, &mut links, i, s)?;
        if let (Some(RequestKind::Create), Some(inst)) = (s.request, &s.instance) {
            created.insert(inst.as_str());
        }
    }
    links.check(ctx)?;

    for (variant, e) in variants.iter() {
        let path = FieldPath::root()
            .key("variants")
            .key(variant.name())
            .key("must_reach");
        for (j, cond) in e.must_reach.iter().enumerate() {
            condition(ctx, &spec.topology, &instances, None, &path.index(j), cond)?;
        }
    }
    Ok(())
}

struct Instances<'a> {
    declared: &'a [&'a str],
    first_create: &'a BTreeMap<&'a str, usize>,
}

impl Instances<'_> {
    /// Checks that `name` is declared and, when `created` is given, already
    /// created by an earlier step; otherwise created by some step.
    fn check(
        &self,
        ctx: &Ctx<'_, '_>,
        path: &FieldPath,
        name: &str,
        created: Option<&BTreeSet<&str>>,
    ) -> Check {
        if !self.declared.contains(&name) {
            let declared = if self.declared.is_empty() {
                "this scenario declares no [[instance]]".to_string()
            } else {
                format!("declared in [[instance]]: {}", self.declared.join(", "))
            };
            return Err(ctx.err(path, format!("unknown instance {name:?} ({declared})")));
        }
        let created_by = self.first_create.get(name);
        match (created, created_by) {
            (_, None) => Err(ctx.err(
                path,
                format!(
                    "instance {name:?} is never created: add a step with request = \"create\" and instance = {name:?} before this one"
                ),
            )),
            (Some(created), Some(j)) if !created.contains(name) => Err(ctx.err(
                path,
                format!(
                    "instance {name:?} is used before step {} creates it",
                    j + 1
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// What a step does, for messages and for the fields it takes.
#[derive(Clone, Copy)]
enum Action {
    Request(RequestKind),
    Fault(FaultKind),
    Arm(ArmKind),
    Unpause,
    Wait,
    Sleep,
}

impl Action {
    /// "a `stop` request", "a `crash` fault", ...
    fn describe(self) -> String {
        match self {
            Action::Request(r) => format!("a `{}` request", request_name(r)),
            Action::Fault(f) => format!("a `{}` fault", fault_name(f)),
            Action::Arm(ArmKind::Crash) => "an `arm = \"crash\"` step".into(),
            Action::Arm(ArmKind::Pause) => "an `arm = \"pause\"` step".into(),
            Action::Arm(ArmKind::Hang) => "an `arm = \"hang\"` step".into(),
            Action::Unpause => "an `unpause` step".into(),
            Action::Wait => "a `wait` step".into(),
            Action::Sleep => "a `sleep` step".into(),
        }
    }

    /// The key that sets this action.
    fn key(self) -> &'static str {
        match self {
            Action::Request(_) => "request",
            Action::Fault(_) => "fault",
            Action::Arm(_) => "arm",
            Action::Unpause => "unpause",
            Action::Wait => "wait",
            Action::Sleep => "sleep",
        }
    }

    /// (fields it takes, fields of those it needs).
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Action::Request(RequestKind::Create) => (
                &["instance", "start", "expect", "no_wait"],
                &["instance", "start"],
            ),
            Action::Request(_) => (&["instance", "expect", "no_wait"], &["instance"]),
            Action::Fault(FaultKind::Crash | FaultKind::Restart | FaultKind::LoseSled) => {
                (&["host"], &["host"])
            }
            Action::Fault(FaultKind::Partition | FaultKind::Repair) => {
                (&["host", "peer", "oneway"], &["host", "peer"])
            }
            Action::Fault(FaultKind::Hold | FaultKind::Release) => {
                (&["host", "peer"], &["host", "peer"])
            }
            Action::Fault(
                FaultKind::GuestShutdown | FaultKind::ForgetVmm | FaultKind::VmmFailsBooting,
            ) => (&["instance"], &["instance"]),
            Action::Fault(FaultKind::SledAgentRestartKeepsVmms) => (&["host"], &["host"]),
            Action::Fault(FaultKind::SledError) => (
                &["host", "call", "status", "count", "seconds"],
                &["host", "call", "status"],
            ),
            Action::Fault(FaultKind::SledHang) => {
                (&["host", "call", "count", "seconds"], &["host", "call"])
            }
            Action::Arm(ArmKind::Hang) => (&["host", "point", "through_heal"], &["host", "point"]),
            Action::Fault(FaultKind::Upgrade) => (&[], &[]),
            Action::Arm(_) | Action::Unpause => (&["host", "point"], &["host", "point"]),
            Action::Wait => (&["within"], &["within"]),
            Action::Sleep => (&[], &[]),
        }
    }
}

fn request_name(r: RequestKind) -> &'static str {
    match r {
        RequestKind::Create => "create",
        RequestKind::Start => "start",
        RequestKind::Stop => "stop",
        RequestKind::Reboot => "reboot",
        RequestKind::Delete => "delete",
        RequestKind::Get => "get",
    }
}

fn fault_name(f: FaultKind) -> &'static str {
    match f {
        FaultKind::Crash => "crash",
        FaultKind::Restart => "restart",
        FaultKind::LoseSled => "lose_sled",
        FaultKind::Partition => "partition",
        FaultKind::Repair => "repair",
        FaultKind::Hold => "hold",
        FaultKind::Release => "release",
        FaultKind::GuestShutdown => "guest_shutdown",
        FaultKind::ForgetVmm => "forget_vmm",
        FaultKind::SledError => "sled_error",
        FaultKind::SledHang => "sled_hang",
        FaultKind::VmmFailsBooting => "vmm_fails_booting",
        FaultKind::SledAgentRestartKeepsVmms => "sled_agent_restart_keeps_vmms",
        FaultKind::Upgrade => "upgrade",
    }
}

/// Which hosts a field may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Crash and restart: db, mgs, nexus-N, sled-N.
    Crash,
    /// lose_sled: a sled.
    Sled,
    /// Named points: a Nexus (every named point is in Nexus's code).
    Nexus,
    /// Partitions and holds: any host, the workload too.
    Link,
}

fn step(
    ctx: &Ctx<'_, '_>,
    topo: &Topology,
    instances: &Instances<'_>,
    created: &BTreeSet<&str>,
    links: &mut Links,
    i: usize,
    s: &Step,
) -> Check {
    let path = FieldPath::step(i);
    let mut actions = Vec::new();
    if let Some(r) = s.request {
        actions.push(Action::Request(r));
    }
    if let Some(f) = s.fault {
        actions.push(Action::Fault(f));
    }
    if let Some(a) = s.arm {
        actions.push(Action::Arm(a));
    }
    if s.unpause {
        actions.push(Action::Unpause);
    }
    if s.wait.is_some() {
        actions.push(Action::Wait);
    }
    if s.sleep.is_some() {
        actions.push(Action::Sleep);
    }
    let action = match actions.as_slice() {
        [] => return Err(ctx.err(
            &path,
            "no action: a step sets one of `request`, `fault`, `arm`, `unpause`, `wait` or `sleep`",
        )),
        [one] => *one,
        [first, second, ..] => {
            return Err(ctx.err(
                &path.key(second.key()),
                format!(
                    "a step does one thing, and this one also sets `{}`: split it into two steps",
                    first.key()
                ),
            ))
        }
    };

    let set = [
        ("instance", s.instance.is_some()),
        ("start", s.start.is_some()),
        ("expect", s.expect.is_some()),
        ("no_wait", s.no_wait),
        ("host", s.host.is_some()),
        ("peer", s.peer.is_some()),
        ("oneway", s.oneway),
        ("point", s.point.is_some()),
        ("within", s.within.is_some()),
        ("call", s.call.is_some()),
        ("status", s.status.is_some()),
        ("count", s.count.is_some()),
        ("seconds", s.seconds.is_some()),
        ("through_heal", s.through_heal),
    ];
    let (takes, needs) = action.fields();
    for (field, is_set) in set {
        if is_set && !takes.contains(&field) {
            let takes = if takes.is_empty() {
                "it takes only `at`".to_string()
            } else {
                let list: Vec<String> = takes.iter().map(|f| format!("`{f}`")).collect();
                format!("it takes {}", list.join(", "))
            };
            let hint = if field == "instance" && matches!(action, Action::Wait) {
                "; a wait names its instance inside the condition: wait = { instance = \"...\", state = \"Running\" }"
            } else {
                ""
            };
            return Err(ctx.err(
                &path.key(field),
                format!(
                    "`{field}` does not apply to {} ({takes}){hint}",
                    action.describe()
                ),
            ));
        }
    }
    for field in needs {
        let missing = set.iter().any(|(f, is_set)| f == field && !is_set);
        if missing {
            return Err(ctx.err_at(
                &path.key(action.key()),
                &path.key(field),
                format!("missing: {} needs `{field}`", action.describe()),
            ));
        }
    }

    let role = match action {
        Action::Fault(
            FaultKind::LoseSled
            | FaultKind::SledError
            | FaultKind::SledHang
            | FaultKind::SledAgentRestartKeepsVmms,
        ) => Role::Sled,
        Action::Fault(FaultKind::Crash | FaultKind::Restart) => Role::Crash,
        Action::Arm(_) | Action::Unpause => Role::Nexus,
        _ => Role::Link,
    };
    let host = match &s.host {
        Some(h) => Some(check_host(ctx, topo, &path.key("host"), h, role, action)?),
        None => None,
    };
    let peer = match &s.peer {
        Some(h) => Some(check_host(ctx, topo, &path.key("peer"), h, role, action)?),
        None => None,
    };
    if let (Some(host), Some(peer)) = (host, peer) {
        if host == peer {
            return Err(ctx.err(
                &path.key("peer"),
                format!(
                    "{} needs two different hosts, got {host} twice",
                    action.describe()
                ),
            ));
        }
        match action {
            Action::Fault(FaultKind::Hold) => links.holds.push((pair(host, peer), i)),
            Action::Fault(FaultKind::Partition | FaultKind::Repair) if s.oneway => {
                links.oneway.push((pair(host, peer), i));
                let verb = if matches!(action, Action::Fault(FaultKind::Repair)) {
                    "repaired"
                } else {
                    "partitioned"
                };
                links.direction.insert(i, (host, peer, verb));
            }
            _ => {}
        }
    }
    if let Some(point) = &s.point {
        check_point(ctx, &path.key("point"), point)?;
    }
    if let Some(status) = s.status {
        if !(400..=599).contains(&status) || status == 404 {
            return Err(ctx.err(
                &path.key("status"),
                format!("status {status}: a sled error is 400..=599 and not 404 (a VMM the sled does not know is `forget_vmm`)"),
            ));
        }
    }
    if s.count == Some(0) || s.seconds == Some(0) {
        let field = if s.count == Some(0) {
            "count"
        } else {
            "seconds"
        };
        return Err(ctx.err(&path.key(field), format!("`{field}` is at least 1")));
    }
    if let Some(inst) = &s.instance {
        let path = path.key("instance");
        if matches!(action, Action::Request(RequestKind::Create)) {
            instances.check(ctx, &path, inst, None)?;
        } else {
            instances.check(ctx, &path, inst, Some(created))?;
        }
    }
    if let Some(expect) = &s.expect {
        check_expect(ctx, &path.key("expect"), expect)?;
    }
    if let Some(cond) = &s.wait {
        condition(ctx, topo, instances, Some(created), &path.key("wait"), cond)?;
    }
    Ok(())
}

fn pair(a: HostId, b: HostId) -> (HostId, HostId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The links a timeline holds and partitions one way, with their steps.
#[derive(Default)]
struct Links {
    holds: Vec<((HostId, HostId), usize)>,
    oneway: Vec<((HostId, HostId), usize)>,
    /// Each one-way step's (from, to, "partitioned" or "repaired").
    direction: BTreeMap<usize, (HostId, HostId, &'static str)>,
}

impl Links {
    /// turmoil does not support `hold` together with a one-way partition
    /// or repair of the same pair of hosts (`Sim::partition_oneway`'s
    /// docs), wherever they are in the timeline: reported at the later step.
    fn check(&self, ctx: &Ctx<'_, '_>) -> Check {
        // The clash that the timeline reaches first.
        let mut clash: Option<(usize, usize, (HostId, HostId))> = None;
        for &(p, hold) in &self.holds {
            for &(q, oneway) in &self.oneway {
                let later = hold.max(oneway);
                if p == q && clash.is_none_or(|(h, o, _)| later < h.max(o)) {
                    clash = Some((hold, oneway, p));
                }
            }
        }
        let Some((hold, oneway, (a, b))) = clash else {
            return Ok(());
        };
        let why = "turmoil does not support a hold and a one-way partition on the same pair of hosts (use a two-way partition, or drop the hold)";
        let (from, to, repair) =
            self.direction
                .get(&oneway)
                .copied()
                .unwrap_or((a, b, "partitioned"));
        let oneway_step = FieldPath::step(oneway);
        if oneway > hold {
            Err(ctx.err(
                &oneway_step.key("oneway"),
                format!(
                    "{from} -> {to} is {repair} one way, but step {} holds messages between {a} and {b}: {why}",
                    hold + 1
                ),
            ))
        } else {
            Err(ctx.err(
                &FieldPath::step(hold).key("fault"),
                format!(
                    "holds messages between {a} and {b}, but step {} has {from} -> {to} {repair} one way: {why}",
                    oneway + 1
                ),
            ))
        }
    }
}

fn range(kind: &str, n: u8) -> String {
    format!("{kind}-0..{kind}-{}", n.saturating_sub(1))
}

fn check_host(
    ctx: &Ctx<'_, '_>,
    topo: &Topology,
    path: &FieldPath,
    name: &str,
    role: Role,
    action: Action,
) -> Result<HostId, ScenarioError> {
    let nexus = range("nexus", topo.nexus);
    let sleds = range("sled", topo.sleds);
    let hosts = if role == Role::Link {
        "hosts are db, mgs, workload, nexus-N, sled-N"
    } else {
        "hosts are db, mgs, nexus-N, sled-N"
    };
    let unknown = |has: String| {
        ctx.err(
            path,
            format!("unknown host {name:?} (this scenario has {has}; {hosts})"),
        )
    };
    // Only the canonical spelling: `nexus-00` would name nexus-0 but not
    // match it in traces.
    let host = match HostId::parse(name).filter(|h| h.name() == name) {
        Some(h) => h,
        None if name.starts_with("nexus") => return Err(unknown(nexus)),
        None if name.starts_with("sled") => return Err(unknown(sleds)),
        None => return Err(unknown(format!("{nexus} and {sleds}"))),
    };
    match host {
        HostId::Nexus(n) if n.0 >= topo.nexus => return Err(unknown(nexus)),
        HostId::Sled(s) if s.0 >= topo.sleds => return Err(unknown(sleds)),
        _ => {}
    }
    match (role, host) {
        (Role::Sled, HostId::Sled(_))
        | (Role::Nexus, HostId::Nexus(_))
        | (Role::Link, _)
        | (Role::Crash, HostId::Db | HostId::Mgs | HostId::Nexus(_) | HostId::Sled(_)) => Ok(host),
        (Role::Sled, _) => Err(ctx.err(
            path,
            format!("{} needs a sled ({sleds}), not {name:?}", action.describe()),
        )),
        (Role::Nexus, _) => Err(ctx.err(
            path,
            format!("named points are reached only on Nexus hosts ({nexus}), not {name:?}"),
        )),
        (Role::Crash, _) => Err(ctx.err(
            path,
            format!(
                "{} takes db, mgs, nexus-N or sled-N, not {name:?} (the harness's API client)",
                action.describe()
            ),
        )),
    }
}

fn check_point(ctx: &Ctx<'_, '_>, path: &FieldPath, point: &str) -> Check {
    if model::points::is_known(point) {
        return Ok(());
    }
    let all: Vec<String> = model::points::all().collect();
    Err(ctx.err(
        path,
        format!(
            "unknown named point {point:?}{} (scenarios/README.md lists them; saga node points are <saga>.<NODE>.after_action or .after_log)",
            did_you_mean(point, all.iter().map(String::as_str))
        ),
    ))
}

fn check_expect(ctx: &Ctx<'_, '_>, path: &FieldPath, expect: &Expect) -> Check {
    match expect {
        Expect::One(one) => check_expect_one(ctx, path, one),
        Expect::Any(list) => check_expect_list(ctx, path, list),
        Expect::ByVariant(table) => {
            if table.is_empty() {
                return Err(ctx.err(
                    path,
                    "an empty table expects nothing: expected a response for at least one of legacy, omicron, fixed",
                ));
            }
            for (variant, e) in table {
                let path = path.key(variant);
                if !VARIANT_KEYS.contains(&variant.as_str()) {
                    return Err(ctx.err(
                        &path,
                        format!("unknown variant {variant:?} (expected legacy, omicron or fixed)"),
                    ));
                }
                match e {
                    ExpectByVariant::One(one) => check_expect_one(ctx, &path, one)?,
                    ExpectByVariant::Any(list) => check_expect_list(ctx, &path, list)?,
                }
            }
            Ok(())
        }
    }
}

fn check_expect_list(ctx: &Ctx<'_, '_>, path: &FieldPath, list: &[ExpectOne]) -> Check {
    if list.is_empty() {
        return Err(ctx.err(
            path,
            "an empty list accepts no response: expected at least one status code 100..=599 or \"none\"",
        ));
    }
    for (j, one) in list.iter().enumerate() {
        check_expect_one(ctx, &path.index(j), one)?;
    }
    Ok(())
}

fn check_expect_one(ctx: &Ctx<'_, '_>, path: &FieldPath, one: &ExpectOne) -> Check {
    match one {
        ExpectOne::Status(s) if (100..=599).contains(s) => Ok(()),
        ExpectOne::Status(s) => Err(ctx.err(
            path,
            format!("expected a status code 100..=599 or \"none\", got {s}"),
        )),
        ExpectOne::Word(w) if w == ExpectOne::NONE => Ok(()),
        ExpectOne::Word(w) => Err(ctx.err(
            path,
            format!("expected a status code 100..=599 or \"none\", got {w:?}"),
        )),
    }
}

/// Checks a condition: of a `wait` step (`created` is what earlier steps
/// created) or of `must_reach` (`created` is `None`: any step may create).
fn condition(
    ctx: &Ctx<'_, '_>,
    topo: &Topology,
    instances: &Instances<'_>,
    created: Option<&BTreeSet<&str>>,
    path: &FieldPath,
    c: &Condition,
) -> Check {
    let kinds: Vec<&str> = [
        ("state", c.state.is_some()),
        ("vmm_state", c.vmm_state.is_some()),
        ("point", c.point.is_some()),
        ("trace", c.trace.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect();
    let kind = match kinds.as_slice() {
        [] => {
            return Err(ctx.err(
                path,
                "empty condition: expected one of `state`, `vmm_state`, `point` or `trace`",
            ))
        }
        [one] => *one,
        [first, second, ..] => {
            return Err(ctx.err(
                &path.key(second),
                format!(
                    "a condition is one thing, and this one also sets `{first}`: expected one of `state`, `vmm_state`, `point` or `trace`"
                ),
            ))
        }
    };
    let needs_instance = matches!(kind, "state" | "vmm_state");
    match &c.instance {
        None if needs_instance => {
            return Err(ctx.err_at(
                &path.key(kind),
                &path.key("instance"),
                format!("missing: a `{kind}` condition needs `instance`"),
            ))
        }
        Some(_) if !needs_instance => {
            return Err(ctx.err(
                &path.key("instance"),
                format!("`instance` does not apply to a `{kind}` condition (it goes with `state` or `vmm_state`)"),
            ))
        }
        Some(inst) => instances.check(ctx, &path.key("instance"), inst, created)?,
        None => {}
    }
    if let Some(host) = &c.host {
        if kind != "point" {
            return Err(ctx.err(
                &path.key("host"),
                format!("`host` does not apply to a `{kind}` condition (it goes with `point`)"),
            ));
        }
        check_host(
            ctx,
            topo,
            &path.key("host"),
            host,
            Role::Nexus,
            Action::Wait,
        )?;
    }
    if let Some(state) = &c.state {
        if crate::plan::parse_external_state(state).is_none() {
            return Err(ctx.err(
                &path.key("state"),
                format!(
                    "unknown instance state {state:?}{} (instance states are {})",
                    did_you_mean(state, EXTERNAL_STATES),
                    EXTERNAL_STATES.join(", ")
                ),
            ));
        }
    }
    if let Some(state) = &c.vmm_state {
        if crate::plan::parse_vmm_state(state).is_none() {
            return Err(ctx.err(
                &path.key("vmm_state"),
                format!(
                    "unknown VMM state {state:?}{} (VMM states are {})",
                    did_you_mean(state, VMM_STATES),
                    VMM_STATES.join(", ")
                ),
            ));
        }
    }
    if let Some(point) = &c.point {
        check_point(ctx, &path.key("point"), point)?;
    }
    if c.trace.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ctx.err(
            &path.key("trace"),
            "expected some text that a trace line contains",
        ));
    }
    Ok(())
}
