//! `cargo sim shrink`: turns a failing run into a small scenario a person
//! can read, keep and fix against. Delta debugging over the plan's explicit
//! steps: drop chunks of steps (halving), drop instances and the steps that
//! name them, drop the highest Nexus or sled, shorten sleeps and the gaps
//! between timed steps (fault windows), keeping a change only while the same
//! checker still fires with the same mechanism in the same variant and seed.
//! Deterministic: candidates are tried in a fixed order, every run from the
//! same seed; the number of runs is capped.

use crate::checkers::Violation;
use crate::fault::Fault;
use crate::plan::{Action, Condition, Plan, VariantExpectation};
use crate::record::RecordKind;
use crate::runner;
use crate::scenario;
use crate::trace;
use crate::verdict::RunReport;
use model::ids::Millis;
use model::variant::Variant;

/// What the shrinker keeps failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `checker/mechanism` of the first violation of the original run.
    pub signature: String,
}

/// The result: the smallest plan found, and how it got there.
pub struct Shrunk {
    pub plan: Plan,
    pub target: Target,
    /// Runs made (each candidate that passed the checks was run once).
    pub attempts: usize,
    /// The run of the final plan.
    pub report: RunReport,
}

fn violations(r: &RunReport) -> impl Iterator<Item = &Violation> {
    r.violations.iter().chain(r.known.iter())
}

/// Whether `r` still shows the target (and did not crash).
fn fails(r: &RunReport, t: &Target) -> bool {
    r.crash.is_none() && violations(r).any(|v| v.signature() == t.signature)
}

struct Search<'a> {
    variant: Variant,
    seed: u64,
    target: Target,
    attempts: usize,
    cap: usize,
    best: Plan,
    report: RunReport,
    progress: &'a mut dyn FnMut(&str),
}

impl Search<'_> {
    /// Tries a candidate; keeps it if it still fails. Invalid plans (that
    /// would not load as a file) are skipped without a run.
    fn try_plan(&mut self, candidate: Plan) -> bool {
        if self.attempts >= self.cap || candidate == self.best {
            return false;
        }
        if scenario::check::plan(&candidate).is_err() {
            return false;
        }
        self.attempts += 1;
        let r = runner::run(&candidate, "shrink", None, self.variant, self.seed);
        if fails(&r, &self.target) {
            self.best = candidate;
            self.report = r;
            true
        } else {
            false
        }
    }

    /// Removes chunks of steps, halving the chunk size down to one.
    fn drop_steps(&mut self) -> bool {
        let mut changed = false;
        let mut chunk = self.best.steps.len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < self.best.steps.len() {
                let mut c = self.best.clone();
                let end = (start + chunk).min(c.steps.len());
                c.steps.drain(start..end);
                if !c.steps.is_empty() && self.try_plan(c) {
                    changed = true;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                return changed;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    /// Removes each instance and every step that names it.
    fn drop_instances(&mut self) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < self.best.instances.len() {
            let name = self.best.instances[i].name.clone();
            let mut c = self.best.clone();
            c.instances.remove(i);
            c.steps
                .retain(|s| step_instance(&s.action) != Some(name.as_str()));
            if self.try_plan(c) {
                changed = true;
            } else {
                i += 1;
            }
        }
        changed
    }

    /// Removes the highest-numbered Nexus or sled, when no step names it.
    fn drop_hosts(&mut self) -> bool {
        let mut changed = false;
        for sleds in [false, true] {
            loop {
                let mut c = self.best.clone();
                let n = if sleds {
                    &mut c.topology.sleds
                } else {
                    &mut c.topology.nexus
                };
                if *n <= 1 {
                    break;
                }
                *n -= 1;
                if !self.try_plan(c) {
                    break;
                }
                changed = true;
            }
        }
        changed
    }

    /// Halves sleeps and each gap between a timed step and the one before.
    fn shorten(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.best.steps.len() {
            let mut c = self.best.clone();
            let shorter = match &mut c.steps[i].action {
                Action::Sleep { sleep } if sleep.0 >= 2000 => {
                    *sleep = Millis(sleep.0 / 2000 * 1000);
                    true
                }
                _ => false,
            };
            if shorter && self.try_plan(c) {
                changed = true;
            }
            let before = self.best.steps[..i]
                .iter()
                .rev()
                .find_map(|s| s.at)
                .unwrap_or(Millis(0));
            if let Some(at) = self.best.steps[i].at {
                // Whole seconds, so the file reads well.
                let mid = Millis((before.0 + at.0) / 2000 * 1000).max(before);
                if at.0 - mid.0 >= 1000 {
                    let mut c = self.best.clone();
                    c.steps[i].at = Some(mid);
                    changed |= self.try_plan(c);
                }
            }
        }
        changed
    }
}

/// The instance a step names, if any.
fn step_instance(a: &Action) -> Option<&str> {
    match a {
        Action::Request(r) => Some(&r.instance),
        Action::Fault(Fault::GuestShutdown { instance } | Fault::ForgetVmm { instance }) => {
            Some(instance)
        }
        Action::Wait { wait, .. } => match wait {
            Condition::State { instance, .. } | Condition::VmmState { instance, .. } => {
                Some(instance)
            }
            Condition::Point { .. } | Condition::Trace { .. } => None,
        },
        _ => None,
    }
}

/// Shrinks `plan`, which must fail in `variant` from `seed`. `progress`
/// gets one line per pass.
pub fn shrink(
    plan: &Plan,
    variant: Variant,
    seed: u64,
    cap: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Shrunk, String> {
    let mut plan = plan.clone();
    plan.swarm = None;
    let report = runner::run(&plan, "shrink", None, variant, seed);
    let first = violations(&report).min_by_key(|v| v.at).ok_or_else(|| {
        let verdict = report.verdict();
        format!("no checker fires in {variant} from seed {seed} (the run is {verdict}): nothing to shrink (shrink takes a run where a checker fires)")
    })?;
    let target = Target {
        signature: first.signature(),
    };
    let mut s = Search {
        variant,
        seed,
        target,
        attempts: 1,
        cap,
        best: plan,
        report,
        progress,
    };
    for pass in 1.. {
        let mut changed = s.drop_steps();
        changed |= s.drop_instances();
        changed |= s.drop_hosts();
        changed |= s.shorten();
        let line = format!(
            "pass {pass}: {} steps, {} instances, {} nexus, {} sleds ({} runs)",
            s.best.steps.len(),
            s.best.instances.len(),
            s.best.topology.nexus,
            s.best.topology.sleds,
            s.attempts
        );
        (s.progress)(&line);
        if !changed || s.attempts >= s.cap {
            break;
        }
    }
    Ok(Shrunk {
        plan: s.best,
        target: s.target,
        attempts: s.attempts,
        report: s.report,
    })
}

/// A variant's expectation as what run `r` showed: exactly the checkers
/// that fired, nothing to reach, no reason to give.
fn pin(e: &mut VariantExpectation, r: &RunReport) {
    e.violates = r.fired().into_iter().collect();
    e.must_reach.clear();
    e.why = None;
}

/// A plan as a file that runs as itself (`--emit-scenario`): the seed it
/// ran with (a file without `seed` runs seed 0), and for a drawn swarm
/// plan, whose `violates` is a ceiling ("may fire"), each variant's fired
/// checkers from that seed: the exact set a scenario file's `violates` is.
pub fn pinned(plan: &Plan, from: &str, seed: u64) -> Plan {
    let mut kept = Plan {
        seed: Some(seed),
        ..plan.clone()
    };
    if plan.is_swarm() {
        let fixes: Vec<String> = plan
            .without_fixes
            .iter()
            .map(|f| f.id().to_string())
            .collect();
        let off = match fixes.is_empty() {
            true => String::new(),
            false => format!(
                " with fixes {} off: run it with --without-fix",
                fixes.join(", ")
            ),
        };
        kept.description = format!(
            "The plan `cargo sim run {from} --seed {seed}` draws, written by --emit-scenario{off}: \
             its steps are explicit, and each variant's `violates` is what fires from this seed."
        );
        for v in Variant::ALL {
            let r = runner::run(plan, from, None, v, seed);
            pin(kept.variants.get_mut(v), &r);
        }
    }
    kept
}

/// The shrunk plan as a kept scenario: a description of what was found,
/// each variant's fired checkers as its `violates` (run from the same
/// seed), and as `must_reach` for the shrunk variant the trace line of the
/// last fault or point before the violation.
pub fn as_scenario(sh: &Shrunk, from: &str, variant: Variant, seed: u64) -> Plan {
    let mut plan = sh.plan.clone();
    plan.seed = Some(seed);
    plan.description = format!(
        "Found by `cargo sim shrink {from} --seed {seed} --variant {variant}` ({} runs): \
         {} fires. The story is the original run's plan with every step, instance and host \
         that the failure does not need removed, and its timings shortened.",
        sh.attempts, sh.target.signature
    );
    for v in Variant::ALL {
        let other;
        let r = if v == variant {
            &sh.report
        } else {
            other = runner::run(&plan, "shrink", None, v, seed);
            &other
        };
        let e = plan.variants.get_mut(v);
        pin(e, r);
        if v == variant {
            let at = violations(r)
                .find(|x| x.signature() == sh.target.signature)
                .map_or(Millis(u64::MAX), |x| x.at);
            let line = r
                .records
                .iter()
                .rev()
                .filter(|x| x.at <= at)
                .find(|x| matches!(x.kind, RecordKind::Fault(_) | RecordKind::Point { .. }))
                .map(|x| trace::render(x, &r.names));
            if let Some(line) = line {
                // Without the time and host columns.
                let text = line.get(20..).unwrap_or(&line).trim().to_string();
                e.must_reach.push(Condition::Trace { trace: text });
            }
        }
    }
    plan
}
