//! What a plan must mean beyond its types, where one field depends on
//! another: hosts that exist in the
//! topology and fit the step, named points, instances declared and created
//! before use, `at` not earlier than the story already is, an `unpause`
//! only of a paused point, and no `hold` with a one-way partition of the
//! same pair (turmoil does not support it). Each problem names its field.

use super::locate::{FieldPath, Problem};
use super::names::{did_you_mean, is_omicron_name};
use crate::checkers::NAMES as CHECKERS;
use crate::fault::{cut, Fault};
use crate::plan::{Action, ArmKind, Condition, Expect, Plan, RequestKind};
use model::ids::{HostId, Millis};
use model::nexus::sagas::named_points;
use std::collections::{BTreeMap, BTreeSet};

type Check = Result<(), Problem>;

fn err<T>(path: FieldPath, message: impl Into<String>) -> Result<T, Problem> {
    Err((path, message.into()))
}

/// Checks a whole plan (one case's, or a shrink candidate).
pub(crate) fn plan(p: &Plan) -> Check {
    let root = FieldPath::default();
    let mut names = BTreeSet::new();
    for (i, inst) in p.instances.iter().enumerate() {
        let path = root.key("instance").index(i).key("name");
        if !is_omicron_name(&inst.name) {
            return err(path, format!("{:?} is not an omicron name: expected lowercase letters, digits and '-', starting with a letter, at most 63 characters", cut(&inst.name)));
        }
        if !names.insert(inst.name.as_str()) {
            return err(path, format!("instance {:?} is declared twice", inst.name));
        }
    }
    for (variant, e) in p.variants.iter() {
        let path = root.key("variants").key(variant.name()).key("violates");
        for (j, c) in e.violates.iter().enumerate() {
            if !CHECKERS.contains(&c.as_str()) {
                let (hint, all) = (did_you_mean(c, CHECKERS), CHECKERS.join(", "));
                let message = format!("unknown checker {:?}{hint} (checkers are {all})", cut(c));
                return err(path.index(j), message);
            }
            if e.violates[..j].contains(c) {
                return err(path.index(j), format!("checker {c:?} is listed twice"));
            }
        }
    }
    match &p.swarm {
        Some(_) if !p.steps.is_empty() => err(FieldPath::step(0), "the swarm scenario draws its plan from the seed: it has no [[step]]"),
        Some(_) => Ok(()),
        None if p.steps.is_empty() => err(root, "no [[step]]: a scenario tells its story in steps (only the swarm scenario, with [swarm], has none)"),
        None => Story { p, created: BTreeSet::new(), paused: BTreeMap::new(), links: Vec::new(), now: Millis(0) }.run(),
    }
}

/// Which hosts a field may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Crash, power loss and restart: db, mgs, nexus-N, sled-N.
    Crash,
    /// Named points and injected errors: a Nexus.
    Nexus,
    /// Partitions and holds: any host, the workload too.
    Link,
}

/// The story as far as the steps so far tell it.
struct Story<'p> {
    p: &'p Plan,
    created: BTreeSet<&'p str>,
    /// Pauses armed and not yet released, by (host, point).
    paused: BTreeMap<(HostId, &'p str), usize>,
    /// Holds (`None`) and one-way partitions or repairs (what they do), by
    /// the pair of hosts and the step.
    links: Vec<((HostId, HostId), usize, Option<String>)>,
    /// The earliest virtual time the story can be at.
    now: Millis,
}

impl<'p> Story<'p> {
    fn run(mut self) -> Check {
        for (i, s) in self.p.steps.iter().enumerate() {
            let path = FieldPath::step(i);
            if let Some(at) = s.at {
                if at < self.now {
                    let secs = |m: Millis| m.0 as f64 / 1000.0;
                    return err(path.key("at"), format!("at {}s is earlier than the story can be by then ({}s, after the sleeps before it)", secs(at), secs(self.now)));
                }
                self.now = at;
            }
            self.step(i, &s.action, &path)?;
        }
        for (variant, e) in self.p.variants.iter() {
            let path = FieldPath::default().key("variants").key(variant.name());
            for (j, c) in e.must_reach.iter().enumerate() {
                self.condition(c, &path.key("must_reach").index(j), false)?;
            }
        }
        Ok(())
    }

    fn step(&mut self, i: usize, action: &'p Action, path: &FieldPath) -> Check {
        match action {
            Action::Request(r) => {
                let create = r.request == RequestKind::Create;
                if create != r.start.is_some() {
                    let (key, message) = match create {
                        true => (
                            "request",
                            "a `create` request needs `start` (true or false)",
                        ),
                        false => ("start", "`start` applies only to a `create` request"),
                    };
                    return err(path.key(key), message);
                }
                if r.expect.as_ref().is_some_and(Expect::has_empty_list) {
                    return err(path.key("expect"), "an empty list accepts no response: expected at least one status code 100..=599 or \"none\"");
                }
                self.instance(&r.instance, &path.key("instance"), !create)?;
                if create {
                    self.created.insert(&r.instance);
                }
                Ok(())
            }
            Action::Fault(f) => self.fault(i, f, path),
            Action::Arm {
                arm,
                host,
                point: p,
                through_heal,
            } => {
                if *through_heal && *arm != ArmKind::Hang {
                    let message = "`through_heal` is for `arm = \"hang\"` only";
                    return err(path.key("through_heal"), message);
                }
                self.host(*host, &path.key("host"), Role::Nexus)?;
                if *arm == ArmKind::Pause {
                    *self.paused.entry((*host, p)).or_default() += 1;
                }
                point(p, &path.key("point"))
            }
            Action::Unpause {
                unpause,
                host,
                point,
            } => {
                if !unpause {
                    return err(path.key("unpause"), "expected `unpause = true`");
                }
                self.host(*host, &path.key("host"), Role::Nexus)?;
                match self.paused.get_mut(&(*host, point.as_str())).filter(|n| **n > 0) {
                    Some(n) => *n -= 1,
                    None => return err(path.key("point"), format!("{host} is not paused at {:?} here: no earlier step arms a pause there (or it was already released)", cut(point))),
                }
                Ok(())
            }
            Action::Wait { wait, .. } => self.condition(wait, &path.key("wait"), true),
            Action::Sleep { sleep } => {
                self.now = self.now + *sleep;
                Ok(())
            }
            Action::Inject { inject, host } => {
                self.host(*host, &path.key("host"), Role::Nexus)?;
                let node = format!("{}.after_action", inject.point());
                point(&node, &path.key("inject"))
            }
        }
    }

    fn fault(&mut self, i: usize, f: &'p Fault, path: &FieldPath) -> Check {
        let host = path.key("host");
        let oneway = |a, b, verb| Some(format!("{a} -> {b} is {verb} one way"));
        match f {
            Fault::Crash { host: h }
            | Fault::PowerLoss { host: h }
            | Fault::Restart { host: h } => self.host(*h, &host, Role::Crash),
            // A sled fault's status, count and seconds check themselves
            // (crate::fault).
            Fault::LoseSled { sled: s }
            | Fault::SledAgentRestartKeepsVmms { sled: s }
            | Fault::SledError { sled: s, .. }
            | Fault::SledHang { sled: s, .. } => self.host(HostId::Sled(*s), &host, Role::Crash),
            Fault::Partition { a, b, oneway: o } => {
                self.link(i, (*a, *b), path, o.then(|| oneway(a, b, "partitioned")))
            }
            Fault::Repair { a, b, oneway: o } => {
                self.link(i, (*a, *b), path, o.then(|| oneway(a, b, "repaired")))
            }
            Fault::Hold { a, b, .. } => self.link(i, (*a, *b), path, Some(None)),
            Fault::Release { a, b } => self.link(i, (*a, *b), path, None),
            // A guest or VMM fault before the create does nothing: allowed
            // (the swarm draws them so).
            Fault::GuestShutdown { instance }
            | Fault::ForgetVmm { instance }
            | Fault::VmmFailsBooting { instance } => {
                self.instance(instance, &path.key("instance"), false)
            }
            Fault::Upgrade {} => Ok(()),
        }
    }

    /// A fault between two hosts at step `i`; `entry` is `None` for one
    /// that clashes with nothing (a release, a two-way partition), else a
    /// hold (`Some(None)`) or a one-way partition or repair (what it does).
    /// turmoil does not support `hold` with a one-way partition or repair of
    /// the same pair (`Sim::partition_oneway`'s docs): reported at the later
    /// step.
    fn link(
        &mut self,
        i: usize,
        (a, b): (HostId, HostId),
        path: &FieldPath,
        entry: Option<Option<String>>,
    ) -> Check {
        self.host(a, &path.key("host"), Role::Link)?;
        self.host(b, &path.key("peer"), Role::Link)?;
        if a == b {
            let message = format!("a fault between hosts needs two different hosts, got {a} twice");
            return err(path.key("peer"), message);
        }
        let Some(new) = entry else { return Ok(()) };
        let (x, y) = (a.min(b), a.max(b));
        let why = "turmoil does not support a hold and a one-way partition on the same pair of hosts (use a two-way partition, or drop the hold)";
        for (_, j, old) in self.links.iter().filter(|(pair, ..)| *pair == (x, y)) {
            let (step, pair) = (j + 1, format!("messages between {x} and {y}"));
            let (key, clash) = match (&new, old) {
                (Some(what), None) => ("oneway", format!("{what}, but step {step} holds {pair}")),
                (None, Some(what)) => {
                    let what = what.replace(" is ", " ");
                    ("fault", format!("holds {pair}, but step {step} has {what}"))
                }
                _ => continue,
            };
            return err(path.key(key), format!("{clash}: {why}"));
        }
        self.links.push(((x, y), i, new));
        Ok(())
    }

    fn host(&self, h: HostId, path: &FieldPath, role: Role) -> Check {
        let (nexus, sleds) = (self.p.topology.nexus, self.p.topology.sleds);
        let range = |kind: &str, n: u8| format!("{kind}-0..{kind}-{}", n.saturating_sub(1));
        let hosts = match role {
            Role::Link => "hosts are db, mgs, workload, nexus-N, sled-N",
            _ => "hosts are db, mgs, nexus-N, sled-N",
        };
        let has = match h {
            HostId::Nexus(n) if n.0 >= nexus => Some(range("nexus", nexus)),
            HostId::Sled(s) if s.0 >= sleds => Some(range("sled", sleds)),
            _ => None,
        };
        if let Some(has) = has {
            let message = format!("unknown host \"{h}\" (this scenario has {has}; {hosts})");
            return err(path.clone(), message);
        }
        match (role, h) {
            (Role::Nexus, HostId::Nexus(_)) | (Role::Link, _) => Ok(()),
            (Role::Crash, HostId::Workload) => err(path.clone(), "a fault takes db, mgs, nexus-N or sled-N, not \"workload\" (the harness's API client)"),
            (Role::Crash, _) => Ok(()),
            (Role::Nexus, _) => err(path.clone(), format!("named points are reached only on Nexus hosts ({}), not \"{h}\"", range("nexus", nexus))),
        }
    }

    /// `name` is declared and, when `before`, created by an earlier step
    /// (otherwise by some step).
    fn instance(&self, name: &str, path: &FieldPath, before: bool) -> Check {
        let declared: Vec<&str> = self.p.instances.iter().map(|i| i.name.as_str()).collect();
        if !declared.contains(&name) {
            let hint = did_you_mean(name, declared.iter().copied());
            let declared = match declared.is_empty() {
                true => "this scenario declares no [[instance]]".to_string(),
                false => format!("declared in [[instance]]: {}", declared.join(", ")),
            };
            let message = format!("unknown instance {:?}{hint} ({declared})", cut(name));
            return err(path.clone(), message);
        }
        let first_create = self.p.steps.iter().position(|s| matches!(&s.action, Action::Request(r) if r.request == RequestKind::Create && r.instance == name));
        match first_create {
            None => err(path.clone(), format!("instance {name:?} is never created: add a step with request = \"create\" and instance = {name:?} before this one")),
            Some(j) if before && !self.created.contains(name) => err(path.clone(), format!("instance {name:?} is used before step {} creates it", j + 1)),
            _ => Ok(()),
        }
    }

    fn condition(&self, c: &Condition, path: &FieldPath, before: bool) -> Check {
        match c {
            Condition::State { instance, .. } | Condition::VmmState { instance, .. } => {
                self.instance(instance, &path.key("instance"), before)
            }
            Condition::Point { point: p, host } => {
                if let Some(h) = host {
                    self.host(*h, &path.key("host"), Role::Nexus)?;
                }
                point(p, &path.key("point"))
            }
            Condition::Trace { trace } if trace.trim().is_empty() => err(
                path.key("trace"),
                "expected some text that a trace line contains",
            ),
            Condition::Trace { .. } => Ok(()),
        }
    }
}

fn point(name: &str, path: &FieldPath) -> Check {
    let all: Vec<String> = named_points().iter().map(ToString::to_string).collect();
    if all.iter().any(|p| p == name) {
        return Ok(());
    }
    let hint = did_you_mean(name, all.iter().map(String::as_str));
    err(path.clone(), format!("unknown named point {:?}{hint} (scenarios/README.md lists them; saga node points are <saga>.<NODE>.after_action or .after_log)", cut(name)))
}
