//! Verdicts (design section 1) and the report of one run.

use crate::checkers::Violation;
use crate::record::Record;
use model::fixes::FixSet;
use model::ids::{InstanceId, Millis};
use model::variant::Variant;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How a run ended. When several apply, the first of harness-limit,
/// crashed, violated, diverged, hung wins; the report keeps the others.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Verdict {
    Held,
    Violated,
    Diverged,
    Hung,
    Crashed,
    /// The run hit one of turmoil's limits (its network's buffers): the
    /// harness could not run the story, and the model is not to blame.
    HarnessLimit,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Held => "held",
            Verdict::Violated => "violated",
            Verdict::Diverged => "diverged",
            Verdict::Hung => "hung",
            Verdict::Crashed => "crashed",
            Verdict::HarnessLimit => "harness-limit",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything one run found.
#[derive(Debug)]
pub struct RunReport {
    /// `scenario` or `scenario/case`.
    pub name: String,
    /// The scenario (file stem) to name on a command line.
    pub scenario: String,
    pub case: Option<String>,
    pub seed: u64,
    pub variant: Variant,
    /// The upstream fixes the run turned off.
    pub without_fixes: FixSet,
    /// Violations not on the known-upstream list.
    pub violations: Vec<Violation>,
    /// Violations on the known-upstream list.
    pub known: Vec<Violation>,
    /// The liveness exceptions the checkers applied (printed with the
    /// verdict: a `held` that let an instance go says why).
    pub exceptions: Vec<crate::checkers::Note>,
    /// Ways the story did not happen as written.
    pub divergences: Vec<String>,
    /// Why the run never became quiet, if it did not.
    pub hung: Option<String>,
    /// The first panic or host failure.
    pub crash: Option<String>,
    /// The turmoil limit the run hit, if it did (then no checker judged
    /// the end, and the verdict is `harness-limit`).
    pub limit: Option<String>,
    /// The checkers the plan expected to fire.
    pub expected: BTreeSet<String>,
    /// Whether `expected` is a ceiling (swarm) rather than an exact set.
    pub expected_is_ceiling: bool,
    pub records: Vec<Record>,
    /// The named points some host passed (armed or not): coverage.
    pub points: BTreeSet<String>,
    pub names: BTreeMap<InstanceId, String>,
    pub ended_at: Millis,
    pub steps: u64,
    /// The plan's timeline, as the trace's header prints it.
    pub plan_steps: Vec<crate::plan::PlanStep>,
}

impl RunReport {
    /// A violation's evidence as trace lines (ids, not names): each record
    /// it cites, rendered once, here. A sequence number past the end (a
    /// report whose records were dropped) is left out.
    pub fn evidence(&self, v: &Violation) -> Vec<String> {
        v.evidence
            .iter()
            .filter_map(|seq| self.records.get(*seq as usize))
            .map(|r| r.to_string())
            .collect()
    }

    pub fn verdict(&self) -> Verdict {
        if self.limit.is_some() {
            Verdict::HarnessLimit
        } else if self.crash.is_some() {
            Verdict::Crashed
        } else if !self.violations.is_empty() {
            Verdict::Violated
        } else if !self.divergences.is_empty() {
            Verdict::Diverged
        } else if self.hung.is_some() {
            Verdict::Hung
        } else {
            Verdict::Held
        }
    }

    /// The checkers that fired (known-upstream ones included).
    pub fn fired(&self) -> BTreeSet<String> {
        self.violations
            .iter()
            .chain(&self.known)
            .map(|v| v.checker.to_string())
            .collect()
    }

    /// The checkers that fired outside the known-upstream list.
    pub fn fired_new(&self) -> BTreeSet<String> {
        self.violations
            .iter()
            .map(|v| v.checker.to_string())
            .collect()
    }

    /// Whether the run did what its plan says it should: no crash, no
    /// divergence, no hang, and exactly the expected checkers fired (for
    /// the swarm: none outside the allowed set). Known-upstream violations
    /// never count against a run.
    pub fn matches_expectation(&self) -> bool {
        if self.crash.is_some() || self.limit.is_some() {
            return false;
        }
        if !self.divergences.is_empty() || self.hung.is_some() {
            return false;
        }
        let fired = self.fired_new();
        if self.expected_is_ceiling {
            fired.is_subset(&self.expected)
        } else {
            let known: BTreeSet<String> =
                self.known.iter().map(|v| v.checker.to_string()).collect();
            fired == self.expected.difference(&known).cloned().collect()
                || self.fired() == self.expected
        }
    }

    /// A one-line explanation of how the run differs from its expectation.
    pub fn mismatch(&self) -> Option<String> {
        if self.matches_expectation() {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(l) = &self.limit {
            parts.push(format!("harness limit: {l}"));
        }
        if let Some(c) = &self.crash {
            parts.push(format!("crashed: {c}"));
        }
        for d in &self.divergences {
            parts.push(format!("diverged: {d}"));
        }
        if let Some(h) = &self.hung {
            parts.push(format!("hung: {h}"));
        }
        let fired = self.fired();
        if self.expected_is_ceiling {
            let extra: Vec<_> = self
                .fired_new()
                .difference(&self.expected)
                .cloned()
                .collect();
            if !extra.is_empty() {
                parts.push(format!(
                    "violated {} (allowed: {:?})",
                    extra.join(", "),
                    self.expected
                ));
            }
        } else if fired != self.expected {
            parts.push(format!(
                "checkers fired {:?}, expected exactly {:?}",
                fired, self.expected
            ));
        }
        Some(parts.join("; "))
    }

    /// The command that reproduces this run with `cargo sim`.
    pub fn repro_sim(&self) -> String {
        let without = if self.without_fixes.is_empty() {
            String::new()
        } else {
            format!(" {}", self.without_fixes)
        };
        repro_command(
            &self.scenario,
            self.case.as_deref(),
            self.seed,
            self.variant,
            &without,
        )
    }

    /// The command that reproduces this run under `cargo test`: the
    /// per-case test of the `cases` binary that runs this scenario, case
    /// and variant over seeds, narrowed to this seed.
    pub fn repro_test(&self) -> String {
        let (scenario, filter) = if self.scenario == "swarm" {
            (String::new(), format!("swarm/{}/", self.variant))
        } else {
            (
                format!(" INTENT_SIM_SCENARIO={}", self.scenario),
                format!("seeds/{}/{}", self.name, self.variant),
            )
        };
        format!(
            "INTENT_SIM_SEED={} INTENT_SIM_VARIANT={}{scenario} cargo test -p intent-sim --test cases -- {filter}",
            self.seed, self.variant
        )
    }
}

/// `cargo sim run SCENARIO [--case C] --seed S --variant V{flags}`: the
/// one spelling of a run's repro command (reports, `--json` results and
/// saved regressions print it). `flags` is appended as is (such as
/// ` --without-fix 7928`, with its leading space, or empty).
pub fn repro_command(
    scenario: &str,
    case: Option<&str>,
    seed: u64,
    variant: impl std::fmt::Display,
    flags: &str,
) -> String {
    let case = case.map(|c| format!(" --case {c}")).unwrap_or_default();
    format!("cargo sim run {scenario}{case} --seed {seed} --variant {variant}{flags}")
}
