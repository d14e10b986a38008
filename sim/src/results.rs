//! Results as data: what a sweep keeps of one run, serialised as one JSON
//! object per line (`sweep --json FILE`), so a script, a dashboard or a
//! second machine can read and merge them (`cargo sim merge`).

use crate::error::{Error, Result};
use crate::trace;
use crate::verdict::RunReport;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;

/// A checker that fired, and the mechanism that groups its violations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fired {
    /// The checker's name (`no_unintended_restart`).
    pub checker: String,
    /// The mechanism (a short stable phrase).
    pub mechanism: String,
}

/// One run of a sweep, as data.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunResult {
    /// The scenario as a command line names it (a name, or a path when it
    /// is not in the default folder).
    pub scenario: String,
    /// The case, when the scenario has cases.
    pub case: Option<String>,
    /// legacy, omicron or fixed.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// held, violated, diverged, hung or crashed.
    pub verdict: String,
    /// Whether the run did what its scenario expects.
    pub expected: bool,
    /// Checkers that fired (not on the known-upstream list).
    pub violated: Vec<Fired>,
    /// Violations on the known-upstream list.
    pub known: Vec<Fired>,
    /// Liveness exceptions the checkers applied (`checker: exception`).
    #[serde(default)]
    pub exceptions: Vec<String>,
    /// How the story did not happen as written (first divergence).
    pub diverged: Option<String>,
    /// Why the run never became quiet.
    pub hung: Option<String>,
    /// The first panic, model or harness.
    pub crashed: Option<String>,
    /// FNV-1a 64 of the rendered trace lines, hex: equal runs have equal
    /// hashes.
    pub trace_hash: String,
    /// Virtual time the run simulated, ms.
    pub virtual_ms: u64,
    /// Wall-clock time the run took, ms (the only field that is not
    /// deterministic).
    pub wall_ms: u64,
}

impl RunResult {
    /// The result of a finished run.
    pub fn of(r: &RunReport, wall_ms: u64) -> RunResult {
        let fired = |vs: &[crate::checkers::Violation]| {
            let mut f: Vec<Fired> = vs
                .iter()
                .map(|v| Fired {
                    checker: v.checker.to_string(),
                    mechanism: v.mechanism.clone(),
                })
                .collect();
            f.sort();
            f.dedup();
            f
        };
        RunResult {
            scenario: r.scenario.clone(),
            case: r.case.clone(),
            variant: r.variant.name().to_string(),
            seed: r.seed,
            verdict: r.verdict().name().to_string(),
            expected: r.matches_expectation(),
            violated: fired(&r.violations),
            known: fired(&r.known),
            exceptions: r
                .exceptions
                .iter()
                .map(|n| format!("{}: {}", n.checker, rename(&n.exception, r)))
                .collect(),
            diverged: r.divergences.first().cloned(),
            hung: r.hung.clone(),
            crashed: r.crash.clone(),
            trace_hash: format!("{:016x}", hash_lines(&trace_lines(r))),
            virtual_ms: r.ended_at.0,
            wall_ms,
        }
    }

    /// A run that panicked outside the simulation (in the harness): its
    /// verdict is `crashed` and it is never as expected.
    pub fn crashed(
        scenario: &str,
        case: Option<&str>,
        variant: model::variant::Variant,
        seed: u64,
        panic: &str,
    ) -> RunResult {
        RunResult {
            scenario: scenario.to_string(),
            case: case.map(str::to_string),
            variant: variant.name().to_string(),
            seed,
            verdict: "crashed".into(),
            expected: false,
            violated: Vec::new(),
            known: Vec::new(),
            exceptions: Vec::new(),
            diverged: None,
            hung: None,
            crashed: Some(format!("harness panic: {panic}")),
            trace_hash: format!("{:016x}", hash_lines(&[])),
            virtual_ms: 0,
            wall_ms: 0,
        }
    }

    /// `scenario` or `scenario/case`: the summary's row name.
    pub fn name(&self) -> String {
        match &self.case {
            Some(c) => format!("{}/{c}", self.scenario),
            None => self.scenario.clone(),
        }
    }

    /// The command that reproduces this run.
    pub fn repro(&self) -> String {
        crate::verdict::repro_command(
            &self.scenario,
            self.case.as_deref(),
            self.seed,
            &self.variant,
            "",
        )
    }

    /// What went wrong, in a few words, for a summary line.
    pub fn what(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(c) = &self.crashed {
            parts.push(format!("crashed: {}", first_line(c)));
        }
        for f in &self.violated {
            parts.push(format!("violated {}/{}", f.checker, f.mechanism));
        }
        if let Some(d) = &self.diverged {
            parts.push(format!("diverged: {}", first_line(d)));
        }
        if let Some(h) = &self.hung {
            parts.push(format!("hung: {}", first_line(h)));
        }
        if parts.is_empty() {
            parts.push("an expected checker did not fire".into());
        }
        parts.join("; ")
    }
}

/// Instance ids written as the instances' names.
fn rename(text: &str, r: &RunReport) -> String {
    r.names.iter().fold(text.to_string(), |t, (id, name)| {
        t.replace(&id.to_string(), name)
    })
}

fn first_line(s: &str) -> &str {
    let l = s.lines().next().unwrap_or("");
    match l.char_indices().nth(120) {
        Some((i, _)) => &l[..i],
        None => l,
    }
}

/// The rendered trace of a run, every record.
pub fn trace_lines(r: &RunReport) -> Vec<String> {
    r.records
        .iter()
        .map(|x| trace::render(x, &r.names))
        .collect()
}

/// FNV-1a 64 over the lines, each ended by a newline: stable across
/// builds, platforms and Rust versions (unlike `std`'s hasher).
pub fn hash_lines(lines: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for l in lines {
        for b in l.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Writes one result as a JSON line.
pub fn write_line(out: &mut impl Write, r: &RunResult, path: &Path) -> Result<()> {
    let line = serde_json::to_string(r).expect("a RunResult always serialises");
    writeln!(out, "{line}").map_err(|e| Error::io(path, e))
}

/// Reads every result of a JSON lines file, in order, calling `f` on each
/// (the file is streamed, never held whole). Blank lines are skipped.
pub fn read_lines(path: &Path, mut f: impl FnMut(RunResult)) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: RunResult = serde_json::from_str(&line).map_err(|e| Error::BadFile {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!(
                "not a sweep result ({e}); merge takes the files `sweep --json` writes"
            ),
        })?;
        f(r);
    }
    Ok(())
}
