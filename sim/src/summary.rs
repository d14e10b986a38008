//! A sweep's summary, built as results stream in: counters per scenario
//! and variant, and a capped list of failing seeds (the lowest seeds win,
//! so the list is the same whatever the job count or the order runs
//! finish in). Memory stays flat however many seeds a sweep runs; every
//! run goes to `--json` / `--save-failures`, not here.

use crate::results::RunResult;
use std::collections::BTreeMap;
use std::fmt::Write;

/// How many unexpected runs the summary lists per scenario and variant.
pub const UNEXPECTED_SHOWN: usize = 20;
/// How many expected violations `--failures` lists per checker.
pub const EXPECTED_SHOWN: usize = 5;

/// The lowest `cap` seeds with a line each.
#[derive(Clone, Debug, Default)]
struct Lowest {
    kept: BTreeMap<u64, String>,
}

impl Lowest {
    fn add(&mut self, seed: u64, line: String, cap: usize) {
        self.kept.entry(seed).or_insert(line);
        if self.kept.len() > cap {
            self.kept.pop_last();
        }
    }
}

/// One scenario (and case) in one variant.
#[derive(Clone, Debug, Default)]
struct Row {
    runs: u64,
    expected: u64,
    verdicts: BTreeMap<String, u64>,
    violated: BTreeMap<String, u64>,
    known: BTreeMap<String, u64>,
    wall_ms: u64,
    virtual_ms: u64,
    unexpected: u64,
    unexpected_shown: Lowest,
    expected_violations: BTreeMap<String, (u64, Lowest)>,
}

/// The running summary of a sweep (or of merged JSON files).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    rows: BTreeMap<(String, String), Row>,
}

impl Summary {
    /// Counts one run.
    pub fn add(&mut self, r: &RunResult) {
        let row = self.rows.entry((r.name(), r.variant.clone())).or_default();
        row.runs += 1;
        row.wall_ms += r.wall_ms;
        row.virtual_ms += r.virtual_ms;
        *row.verdicts.entry(r.verdict.clone()).or_default() += 1;
        for f in &r.violated {
            *row.violated.entry(f.checker.clone()).or_default() += 1;
        }
        for f in &r.known {
            *row.known
                .entry(format!("{}/{}", f.checker, f.mechanism))
                .or_default() += 1;
        }
        if r.expected {
            row.expected += 1;
            for f in &r.violated {
                let e = row
                    .expected_violations
                    .entry(f.checker.clone())
                    .or_default();
                e.0 += 1;
                e.1.add(r.seed, r.repro(), EXPECTED_SHOWN);
            }
        } else {
            row.unexpected += 1;
            row.unexpected_shown.add(
                r.seed,
                format!("{}\n      {}", r.what(), r.repro()),
                UNEXPECTED_SHOWN,
            );
        }
    }

    /// Runs counted.
    pub fn runs(&self) -> u64 {
        self.rows.values().map(|r| r.runs).sum()
    }

    /// Runs that did not do what their scenario expects.
    pub fn unexpected(&self) -> u64 {
        self.rows.values().map(|r| r.unexpected).sum()
    }

    /// The summary as text: a table per scenario and variant, the checkers
    /// that fired, then the unexpected runs with repro lines (and, with
    /// `failures`, the expected violations too). `build` names the build
    /// the repro lines come from.
    pub fn render(&self, failures: bool, build: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<48} {:<8} {:>7} {:>8} {:>7} {:>8} {:>8} {:>5} {:>7} {:>7} {:>8} {:>9}",
            "scenario",
            "variant",
            "runs",
            "expected",
            "held",
            "violated",
            "diverged",
            "hung",
            "crashed",
            "known",
            "runs/s",
            "virtual"
        );
        for ((name, variant), row) in &self.rows {
            let v = |k: &str| row.verdicts.get(k).copied().unwrap_or(0);
            let known: u64 = row.known.values().sum();
            let rate = if row.wall_ms == 0 {
                "-".to_string()
            } else {
                format!("{:.1}", row.runs as f64 * 1000.0 / row.wall_ms as f64)
            };
            let _ = writeln!(
                out,
                "{name:<48} {variant:<8} {:>7} {:>8} {:>7} {:>8} {:>8} {:>5} {:>7} {:>7} {rate:>8} {:>8.1}h",
                row.runs,
                row.expected,
                v("held"),
                v("violated"),
                v("diverged"),
                v("hung"),
                v("crashed"),
                known,
                row.virtual_ms as f64 / 3_600_000.0
            );
            if !row.violated.is_empty() {
                let list: Vec<String> = row
                    .violated
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect();
                let _ = writeln!(out, "    violated by checker: {}", list.join(", "));
            }
            if !row.known.is_empty() {
                let list: Vec<String> = row.known.iter().map(|(c, n)| format!("{c} {n}")).collect();
                let _ = writeln!(out, "    known upstream: {}", list.join(", "));
            }
        }
        let unexpected = self.unexpected();
        if unexpected == 0 {
            let _ = writeln!(out, "every run as expected");
        } else {
            let _ = writeln!(
                out,
                "{unexpected} unexpected runs (build {build}; the first {UNEXPECTED_SHOWN} seeds per scenario and variant):"
            );
            for ((name, variant), row) in &self.rows {
                if row.unexpected == 0 {
                    continue;
                }
                let _ = writeln!(out, "  {name} {variant}: {} unexpected", row.unexpected);
                for (seed, line) in &row.unexpected_shown.kept {
                    let _ = writeln!(out, "    seed {seed}: {line}");
                }
            }
        }
        if failures {
            let any = self
                .rows
                .values()
                .any(|r| !r.expected_violations.is_empty());
            if any {
                let _ = writeln!(
                    out,
                    "expected violations (build {build}; the first {EXPECTED_SHOWN} seeds per checker):"
                );
            }
            for ((name, variant), row) in &self.rows {
                for (checker, (n, shown)) in &row.expected_violations {
                    let _ = writeln!(out, "  {name} {variant} {checker}: {n} runs");
                    for (seed, repro) in &shown.kept {
                        let _ = writeln!(out, "    seed {seed}: {repro}");
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Fired;

    fn result(seed: u64, expected: bool, checker: Option<&str>) -> RunResult {
        RunResult {
            scenario: "swarm".into(),
            case: None,
            variant: "legacy".into(),
            seed,
            verdict: if checker.is_some() {
                "violated"
            } else {
                "held"
            }
            .into(),
            expected,
            violated: checker
                .map(|c| Fired {
                    checker: c.into(),
                    mechanism: "m".into(),
                })
                .into_iter()
                .collect(),
            known: Vec::new(),
            exceptions: Vec::new(),
            diverged: None,
            hung: None,
            crashed: None,
            trace_hash: "0".into(),
            virtual_ms: 1000,
            wall_ms: 0,
        }
    }

    #[test]
    fn the_summary_is_the_same_in_any_order_and_caps_its_lists() {
        let results: Vec<RunResult> = (0..100)
            .map(|s| match s % 3 {
                0 => result(s, true, Some("no_unintended_restart")),
                1 => result(s, false, Some("start_intent_honored")),
                _ => result(s, true, None),
            })
            .collect();
        let mut a = Summary::default();
        results.iter().for_each(|r| a.add(r));
        let mut b = Summary::default();
        results.iter().rev().for_each(|r| b.add(r));
        let text = a.render(true, "b");
        assert_eq!(text, b.render(true, "b"));
        assert!(
            text.contains("violated by checker: no_unintended_restart 34, start_intent_honored 33")
        );
        assert!(text.contains("33 unexpected runs"));
        assert!(text.contains("seed 1: violated start_intent_honored/m"));
        assert!(text.contains("cargo sim run swarm --seed 1 --variant legacy"));
        let listed = text
            .lines()
            .filter(|l| l.trim_start().starts_with("seed "))
            .count();
        assert_eq!(listed, UNEXPECTED_SHOWN + EXPECTED_SHOWN);
        assert!(text.contains("no_unintended_restart: 34 runs"));
        assert!(!a.render(false, "b").contains("expected violations"));
    }
}
