//! The sweep driver: many (scenario, case, variant, seed) runs on a rayon
//! pool, streamed in chunks so memory stays flat however long the range,
//! with results handed to the caller in job order (so `--json` files and
//! the summary are the same for any job count). A panic anywhere in one
//! run, model or harness, is that run's `crashed` verdict; the sweep goes
//! on.

use crate::cli::Shard;
use crate::error::{Error, Result};
use crate::panics;
use crate::results::RunResult;
use crate::scenario::load::Scenario;
use model::fixes::FixSet;
use model::variant::Variant;
use rayon::prelude::*;
use std::ops::Range;

/// Runs per chunk handed to the pool at once: enough to keep every worker
/// busy, few enough that a chunk's results are small.
const CHUNK: usize = 256;

/// One scenario, case and variant: a sweep runs each over the seeds.
#[derive(Clone, Debug)]
pub struct Group {
    /// The scenario.
    pub scenario: Scenario,
    /// The case, when the scenario has cases.
    pub case: Option<String>,
    /// The variant.
    pub variant: Variant,
    /// omicron's fixes turned off (`--without-fix`).
    pub without_fixes: FixSet,
}

/// What a sweep covers.
#[derive(Clone, Debug)]
pub struct Work {
    /// The groups, in order.
    pub groups: Vec<Group>,
    /// The seed range (half-open).
    pub seeds: Range<u64>,
    /// The shard of the range this process runs.
    pub shard: Option<Shard>,
}

impl Work {
    /// The seeds of the range this shard owns, in order, lazily.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + Clone + '_ {
        let start = self.seeds.start;
        let (k, n) = self.shard.map_or((0, 1), |s| (s.index, s.count));
        let first = start.checked_add(k).filter(|f| *f < self.seeds.end);
        let step = usize::try_from(n).unwrap_or(usize::MAX);
        first
            .into_iter()
            .flat_map(move |f| (f..self.seeds.end).step_by(step))
    }

    /// How many seeds of the range this shard owns.
    pub fn seed_count(&self) -> u64 {
        let len = self.seeds.end - self.seeds.start;
        let (k, n) = self.shard.map_or((0, 1), |s| (s.index, s.count));
        if len <= k {
            0
        } else {
            (len - k).div_ceil(n)
        }
    }

    /// How many runs the sweep makes (saturating).
    pub fn total(&self) -> u64 {
        self.seed_count().saturating_mul(self.groups.len() as u64)
    }

    /// Every (group, seed), group by group, lazily.
    pub fn jobs(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        (0..self.groups.len()).flat_map(move |g| self.seeds().map(move |s| (g, s)))
    }
}

/// Where two runs of one seed first differ: the 0-based trace line index
/// and the line in each run (`None` past a run's end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The first differing line, 0-based.
    pub index: usize,
    /// The first run's line there.
    pub first: Option<String>,
    /// The second run's line there.
    pub second: Option<String>,
}

/// The first line where two traces differ, if they do.
pub fn first_difference(a: &[String], b: &[String]) -> Option<Difference> {
    let n = a.len().max(b.len());
    (0..n)
        .find(|&i| a.get(i) != b.get(i))
        .map(|index| Difference {
            index,
            first: a.get(index).cloned(),
            second: b.get(index).cloned(),
        })
}

impl Difference {
    /// The difference as the sweep prints it: which run, the line index,
    /// and both lines.
    pub fn describe(&self, run: &str) -> String {
        format!(
            "NONDETERMINISTIC {run}: the two runs first differ at trace line {}:\n  run 1: {}\n  run 2: {}",
            self.index,
            self.first.as_deref().unwrap_or("(ended)"),
            self.second.as_deref().unwrap_or("(ended)")
        )
    }
}

/// Runs `trace` twice and compares: the first difference, if any.
pub fn compare_twice(mut trace: impl FnMut() -> Result<Vec<String>>) -> Result<Option<Difference>> {
    let first = trace()?;
    let second = trace()?;
    Ok(first_difference(&first, &second))
}

/// One run's result, with the determinism check's finding when asked.
pub type Ran = (RunResult, Option<Difference>);

/// One sweep job: the run of `group` at `seed` (and, with `check`, a
/// second run compared line by line with the first).
pub fn run_one(group: &Group, seed: u64, check: bool) -> Result<Ran> {
    run_one_observed(group, seed, check, &|_| {})
}

/// [`run_one`], showing the run's report to `observe` first (`--coverage`
/// counts what it reached).
pub fn run_one_observed(
    group: &Group,
    seed: u64,
    check: bool,
    observe: &(dyn Fn(&crate::verdict::RunReport) + Sync),
) -> Result<Ran> {
    let run = || {
        crate::catalog::run_without(
            &group.scenario,
            group.case.as_deref(),
            group.variant,
            &group.without_fixes,
            seed,
        )
    };
    let started = std::time::Instant::now(); // determinism-ok: the result's wall ms, outside the run
    let (r, _) = run()?;
    observe(&r);
    let wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let result = RunResult::of(&r, wall_ms);
    let diff = if check {
        let mut first = Some(crate::results::trace_lines(&r));
        compare_twice(|| match first.take() {
            Some(lines) => Ok(lines),
            None => Ok(crate::results::trace_lines(&run()?.0)),
        })?
    } else {
        None
    };
    Ok((result, diff))
}

/// Runs every job of `work` on a pool of `threads`, calling `sink` with
/// each result in job order and `tick` after each run (from any worker).
/// `run` does one job; a panic in it becomes a `crashed` result. An error
/// from `run` or `sink` stops the sweep.
pub fn drive<F, S, T>(work: &Work, threads: usize, run: F, mut sink: S, tick: T) -> Result<()>
where
    F: Fn(&Group, u64) -> Result<Ran> + Sync,
    S: FnMut(Ran) -> Result<()>,
    T: Fn() + Sync,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sweep-{i}"))
        .build()
        .map_err(|e| Error::usage(format!("cannot start {threads} worker threads: {e}")))?;
    let mut jobs = work.jobs();
    loop {
        let chunk: Vec<(usize, u64)> = jobs.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        let results: Vec<Result<Ran>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|&(g, seed)| {
                    let group = &work.groups[g];
                    let ran = match panics::catch(|| run(group, seed)) {
                        Ok(r) => r,
                        Err(panic) => Ok((
                            RunResult::crashed(
                                &crate::catalog::command_arg(&group.scenario),
                                group.case.as_deref(),
                                group.variant,
                                seed,
                                &panic,
                            ),
                            None,
                        )),
                    };
                    tick();
                    ran
                })
                .collect()
        });
        for r in results {
            sink(r?)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::hash_lines;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn work(seeds: Range<u64>, shard: Option<Shard>) -> Work {
        let scenario = crate::catalog::find("stop-finds-vmm-gone").expect("the scenario");
        Work {
            groups: vec![Group {
                scenario,
                case: None,
                variant: Variant::Fixed,
                without_fixes: FixSet::none(),
            }],
            seeds,
            shard,
        }
    }

    /// A fixture run: held, with a trace of its own seed; `panic_at`
    /// panics as a harness bug would.
    fn fixture(panic_at: u64) -> impl Fn(&Group, u64) -> Result<Ran> + Sync {
        move |_, seed| {
            assert_ne!(seed, panic_at, "a deliberate harness panic");
            let lines = vec![format!("seed {seed}")];
            Ok((
                RunResult {
                    scenario: "fixture".into(),
                    case: None,
                    variant: "fixed".into(),
                    seed,
                    verdict: "held".into(),
                    expected: true,
                    violated: Vec::new(),
                    known: Vec::new(),
                    exceptions: Vec::new(),
                    diverged: None,
                    hung: None,
                    crashed: None,
                    trace_hash: format!("{:016x}", hash_lines(&lines)),
                    virtual_ms: 1,
                    wall_ms: 0,
                },
                None,
            ))
        }
    }

    #[test]
    fn shards_cover_the_range_exactly() {
        for n in 1..6 {
            let mut all: Vec<u64> = (0..n)
                .flat_map(|k| {
                    let w = work(3..20, Some(Shard { index: k, count: n }));
                    assert_eq!(w.seeds().count() as u64, w.seed_count());
                    w.seeds().collect::<Vec<_>>()
                })
                .collect();
            all.sort();
            assert_eq!(all, (3..20).collect::<Vec<_>>(), "{n} shards");
        }
        let w = work(0..u64::MAX, None);
        assert_eq!(w.total(), u64::MAX);
        assert_eq!(w.jobs().take(3).count(), 3, "seeds are streamed");
    }

    #[test]
    fn results_come_in_job_order_for_any_job_count_and_a_panic_is_one_crashed_run() {
        let w = work(0..600, None);
        let mut orders = Vec::new();
        for threads in [1, 2, 3] {
            let ticks = AtomicU64::new(0);
            let mut got = Vec::new();
            drive(
                &w,
                threads,
                fixture(417),
                |(r, _)| {
                    got.push((r.seed, r.verdict.clone()));
                    Ok(())
                },
                || {
                    ticks.fetch_add(1, Ordering::Relaxed);
                },
            )
            .unwrap();
            assert_eq!(ticks.load(Ordering::Relaxed), 600);
            orders.push(got);
        }
        assert!(orders.windows(2).all(|w| w[0] == w[1]));
        let got = &orders[0];
        assert_eq!(got.len(), 600);
        assert!(got.iter().enumerate().all(|(i, (s, _))| *s == i as u64));
        let crashed: Vec<u64> = got
            .iter()
            .filter(|(_, v)| v == "crashed")
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(crashed, [417]);
        // The summary stays intact, with that seed as its one crashed run.
        let mut summary = crate::summary::Summary::default();
        drive(
            &w,
            2,
            fixture(417),
            |(r, _)| {
                summary.add(&r);
                Ok(())
            },
            || {},
        )
        .unwrap();
        assert_eq!((summary.runs(), summary.unexpected()), (600, 1));
        let text = summary.render(false, "b");
        assert!(
            text.contains("seed 417: crashed: harness panic: assertion"),
            "{text}"
        );
        assert!(
            text.contains("cargo sim run stop-finds-vmm-gone --seed 417 --variant fixed"),
            "{text}"
        );
    }

    #[test]
    fn a_nondeterministic_fixture_shows_its_first_diverging_line() {
        // The fixture: its second run draws a different request id at the
        // third line, as a run that read a wall clock or iterated a
        // HashMap would.
        let mut calls = 0;
        let fixture = || {
            calls += 1;
            Ok(vec![
                "     0 workload  started".to_string(),
                "   200 workload  --> r-1 create \"web\"".to_string(),
                format!("   400 nexus-0   api r-{calls} create web: accepted"),
                "   600 nexus-0   saga instance-create".to_string(),
            ])
        };
        let d = compare_twice(fixture).unwrap().expect("the runs differ");
        assert_eq!(d.index, 2);
        let text = d.describe("fixture fixed seed 0");
        assert_eq!(
            text,
            "NONDETERMINISTIC fixture fixed seed 0: the two runs first differ at trace line 2:\n  \
             run 1:    400 nexus-0   api r-1 create web: accepted\n  \
             run 2:    400 nexus-0   api r-2 create web: accepted"
        );
        // A real run is deterministic.
        let w = work(0..1, None);
        let (_, diff) = run_one(&w.groups[0], 0, true).unwrap();
        assert_eq!(diff, None);
    }

    #[test]
    fn the_first_difference_names_its_line() {
        let a: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
        let b: Vec<String> = ["x", "Y", "z"].map(String::from).to_vec();
        assert_eq!(first_difference(&a, &a), None);
        let d = first_difference(&a, &b).unwrap();
        assert_eq!(
            (d.index, d.first.as_deref(), d.second.as_deref()),
            (1, Some("y"), Some("Y"))
        );
        let d = first_difference(&a, &a[..2]).unwrap();
        assert_eq!((d.index, d.second), (2, None));
    }
}
