//! How runs are shown to people: one run's report, and a sweep's summary
//! with failures grouped by signature.

use crate::swarm::SwarmShape;
use crate::trace;
use crate::verdict::{RunReport, Verdict};

/// Whether a run needs its repro lines printed.
pub fn needs_repro(r: &RunReport) -> bool {
    r.verdict() != Verdict::Held || r.mismatch().is_some()
}
use std::collections::BTreeMap;
use std::fmt::Write;

/// The build this binary came from (`git describe`).
pub const BUILD: &str = env!("INTENT_SIM_BUILD");

/// The repro lines of a run.
pub fn repro(r: &RunReport) -> String {
    format!(
        "reproduce (build {BUILD}):\n  {}\n  {}",
        r.repro_sim(),
        r.repro_test()
    )
}

/// The full report of one run: the trace (the story, or every line) and
/// what fired. It is stable across builds and machines (snapshots keep it);
/// the repro lines, which name the build, come from [`repro`].
pub fn run_report(r: &RunReport, shape: Option<&SwarmShape>, full_trace: bool) -> String {
    let mut out = String::new();
    let _ = write!(out, "== {} variant={} seed={}", r.name, r.variant, r.seed);
    if !r.without_fixes.is_empty() {
        let _ = write!(out, " {}", r.without_fixes);
    }
    let _ = writeln!(out);
    if let Some(shape) = shape {
        let _ = writeln!(out, "{shape}");
        if full_trace {
            for step in &r.plan_steps {
                let _ = writeln!(out, "  plan: {}", crate::scenario::step_line(step));
            }
        }
    }
    for rec in r
        .records
        .iter()
        .filter(|x| full_trace || trace::in_story(x))
    {
        let _ = writeln!(out, "{}", trace::render(rec, &r.names));
    }
    out.push_str(&findings(r));
    out
}

/// Violations, divergences and the verdict, without the trace.
pub fn findings(r: &RunReport) -> String {
    let mut out = String::new();
    for v in &r.violations {
        let _ = writeln!(
            out,
            "VIOLATED {} at {}ms{}: {}",
            v.signature(),
            v.at.0,
            v.instance
                .map(|i| format!(" ({})", r.names.get(&i).cloned().unwrap_or(i.to_string())))
                .unwrap_or_default(),
            rename(&v.message, r)
        );
        for e in r.evidence(v) {
            let _ = writeln!(out, "    | {}", rename(&e, r));
        }
    }
    for v in &r.known {
        let _ = writeln!(
            out,
            "known upstream: {} ({})",
            v.signature(),
            rename(&v.message, r)
        );
    }
    for d in &r.divergences {
        let _ = writeln!(out, "DIVERGED: {d}");
    }
    if let Some(h) = &r.hung {
        let _ = writeln!(out, "HUNG: {h}");
    }
    if let Some(l) = &r.limit {
        let _ = writeln!(out, "HARNESS LIMIT: {l}");
    }
    if let Some(c) = &r.crash {
        let _ = writeln!(out, "CRASHED: {c}");
    }
    let expectation = match r.mismatch() {
        None => "as expected".to_string(),
        Some(m) => format!("NOT as expected: {m}"),
    };
    let _ = writeln!(
        out,
        "verdict: {}{} ({expectation})",
        r.verdict(),
        exceptions(r)
    );
    out
}

/// The exceptions the checkers applied, as the verdict prints them:
/// ` (exception: no up sled has room for web)`, or nothing.
pub fn exceptions(r: &RunReport) -> String {
    let list: Vec<String> = exception_list(r)
        .into_iter()
        .map(|e| format!("exception: {e}"))
        .collect();
    if list.is_empty() {
        String::new()
    } else {
        format!(" ({})", list.join("; "))
    }
}

/// The exceptions the checkers applied, each in a few words with instance
/// names (`no up sled has room for web`), once each.
pub fn exception_list(r: &RunReport) -> Vec<String> {
    let mut list: Vec<String> = r
        .exceptions
        .iter()
        .map(|n| rename(&n.exception, r))
        .collect();
    list.dedup();
    list
}

fn rename(line: &str, r: &RunReport) -> String {
    let mut line = line.to_string();
    for (id, name) in &r.names {
        line = line.replace(&id.to_string(), name);
    }
    line
}

/// What a sweep keeps of one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: String,
    pub name: String,
    pub variant: model::variant::Variant,
    pub seed: u64,
    pub verdict: Verdict,
    pub matched: bool,
    /// Signatures of what went wrong (violations, divergence, hang, crash).
    pub signatures: Vec<String>,
    pub known: Vec<String>,
    pub repro: String,
}

impl Outcome {
    pub fn of(r: &RunReport) -> Outcome {
        let mut signatures: Vec<String> = Vec::new();
        let fired = r.fired_new();
        for v in &r.violations {
            let allowed = r.expected.contains(v.checker);
            if !allowed || !r.expected_is_ceiling {
                signatures.push(v.signature());
            }
        }
        let _ = fired;
        if let Some(c) = &r.crash {
            signatures.push(format!("crashed: {}", first_words(c)));
        }
        if let Some(d) = r.divergences.first() {
            signatures.push(format!("diverged: {}", first_words(d)));
        }
        if let Some(h) = &r.hung {
            signatures.push(format!("hung: {}", first_words(h)));
        }
        signatures.sort();
        signatures.dedup();
        Outcome {
            scenario: r.scenario.clone(),
            name: r.name.clone(),
            variant: r.variant,
            seed: r.seed,
            verdict: r.verdict(),
            matched: r.matches_expectation(),
            signatures,
            known: r.known.iter().map(|v| v.signature()).collect(),
            repro: r.repro_sim(),
        }
    }
}

/// A signature keeps the words that name the mechanism, not the ids.
fn first_words(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| !w.contains("-0") && !w.chars().any(|c| c.is_ascii_digit()))
        .take(8)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Per scenario and variant: runs, runs as expected, runs per verdict.
type SummaryTable<'a> = BTreeMap<(String, &'a str), (usize, usize, BTreeMap<&'a str, usize>)>;

/// The sweep's summary: per scenario and variant, then failures grouped by
/// signature with a count and the lowest seed.
pub fn sweep_summary(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let mut table: SummaryTable = BTreeMap::new();
    for o in outcomes {
        let row = table.entry((o.name.clone(), o.variant.name())).or_default();
        row.0 += 1;
        if o.matched {
            row.1 += 1;
        }
        *row.2.entry(o.verdict.name()).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "{:<60} {:<8} {:>6} {:>9}  verdicts",
        "scenario", "variant", "runs", "expected"
    );
    for ((name, variant), (runs, matched, verdicts)) in &table {
        let v: Vec<String> = verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "{name:<60} {variant:<8} {runs:>6} {matched:>9}  {}",
            v.join(", ")
        );
    }
    let mut groups: BTreeMap<(String, String), (usize, &Outcome)> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| !o.matched) {
        let sigs = if o.signatures.is_empty() {
            vec!["an expected checker did not fire".to_string()]
        } else {
            o.signatures.clone()
        };
        for s in sigs {
            let key = (format!("{} {}", o.name, o.variant), s);
            let e = groups.entry(key).or_insert((0, o));
            e.0 += 1;
            if o.seed < e.1.seed {
                e.1 = o;
            }
        }
    }
    let mut known: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        for k in &o.known {
            *known.entry(k.clone()).or_default() += 1;
        }
    }
    for (k, n) in &known {
        let _ = writeln!(out, "known upstream: {k} in {n} runs");
    }
    if groups.is_empty() {
        let _ = writeln!(out, "every run as expected");
    } else {
        let _ = writeln!(out, "unexpected outcomes, by signature:");
        for ((what, sig), (n, o)) in &groups {
            let _ = writeln!(out, "  {what}: {sig} — {n} runs, lowest seed {}", o.seed);
            let _ = writeln!(out, "    {} (build {BUILD})", o.repro);
        }
    }
    out
}
