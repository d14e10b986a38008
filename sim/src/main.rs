//! `cargo sim`: list scenarios, run one seed, or sweep many in parallel.

use intent_sim::catalog;
use intent_sim::cli::{self, Command, UsageError, USAGE};
use intent_sim::report::{self, Outcome};
use intent_sim::verdict::Verdict;
use model::variant::Variant;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

mod logging;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let command = match cli::parse(&args, cores) {
        Ok(c) => c,
        Err(UsageError(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match execute(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Command::List => {
            for file in catalog::all_files()? {
                let s = match file {
                    Ok(s) => s,
                    Err(e) => {
                        let name = e.file.file_stem().unwrap_or_default().to_string_lossy();
                        println!("{name:<40} BROKEN: {e}");
                        continue;
                    }
                };
                let first = s.plan().description.lines().next().unwrap_or("").trim();
                let cases = catalog::cases(&s).into_iter().flatten().count();
                let cases = if cases > 0 {
                    format!(" [{cases} cases]")
                } else {
                    String::new()
                };
                println!("{:<40} {first}{cases}", s.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Shrink {
            scenario,
            seed,
            variant,
            case,
            out,
            max_runs,
        } => {
            let s = catalog::find_or_load(&scenario)?;
            let (plan, _) = catalog::plan(&s, case.as_deref(), seed)?;
            let shrunk = intent_sim::shrink::shrink(&plan, variant, seed, max_runs, &mut |line| {
                eprintln!("shrink: {line}")
            })?;
            let kept = intent_sim::shrink::as_scenario(&shrunk, &scenario, variant, seed);
            let text = intent_sim::scenario::emit::to_toml(&kept)?;
            std::fs::write(&out, text)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!(
                "{}: {} steps failing {} in {variant} from seed {seed}",
                out.display(),
                kept.steps.len(),
                shrunk.target.signature
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            scenario,
            seed,
            variant,
            case,
            trace,
            emit,
        } => {
            let s = catalog::find_or_load(&scenario)?;
            // RUST_LOG's subscriber lives for the run only (`run`, not
            // `sweep`: one seed's detail is readable, thousands' is not).
            let log = logging::from_env()?;
            let (plan, shape) = catalog::plan(&s, case.as_deref(), seed)?;
            if let Some(path) = emit {
                let text = intent_sim::scenario::emit::to_toml(&plan)?;
                std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            let r = intent_sim::runner::run(&plan, &s.name, case.as_deref(), variant, seed);
            drop(log);
            let failed = r.verdict() != Verdict::Held;
            print!(
                "{}",
                report::run_report(&r, shape.as_ref(), trace || failed)
            );
            if report::needs_repro(&r) {
                println!("{}", report::repro(&r));
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Sweep {
            scenarios,
            all,
            seeds,
            variants,
            jobs,
        } => sweep(scenarios, all, seeds, variants, jobs),
    }
}

/// One unit of sweep work.
struct Job {
    scenario: usize,
    case: Option<String>,
    variant: Variant,
    seed: u64,
}

fn sweep(
    names: Vec<String>,
    all: bool,
    seeds: std::ops::Range<u64>,
    variants: Vec<Variant>,
    jobs: usize,
) -> Result<ExitCode, String> {
    // One broken file does not stop the others: it is reported, and the
    // sweep is not as expected.
    let mut broken = Vec::new();
    let scenarios = if all {
        let mut ok = Vec::new();
        for file in catalog::all_files()? {
            match file {
                Ok(s) => ok.push(s),
                Err(e) => broken.push(e.to_string()),
            }
        }
        ok
    } else {
        names
            .iter()
            .map(|n| catalog::find(n))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut work = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        for case in catalog::cases(s) {
            for v in &variants {
                for seed in seeds.clone() {
                    work.push(Job {
                        scenario: i,
                        case: case.clone(),
                        variant: *v,
                        seed,
                    });
                }
            }
        }
    }
    let total = work.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::with_capacity(total));
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    eprintln!("sweep: {total} runs on {jobs} threads");
    let started = std::time::Instant::now(); // determinism-ok: progress display, outside every run
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = work.get(i) else { break };
                let s = &scenarios[job.scenario];
                match catalog::run(s, job.case.as_deref(), job.variant, job.seed) {
                    Ok((r, _)) => outcomes
                        .lock()
                        .expect("no panics hold it")
                        .push(Outcome::of(&r)),
                    Err(e) => errors.lock().expect("no panics hold it").push(e),
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(500) || n == total {
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    eprintln!("  {n}/{total} runs ({:.0} runs/s)", n as f64 / secs);
                }
            });
        }
    });
    let errors = errors.into_inner().expect("no panics hold it");
    if let Some(e) = errors.first() {
        return Err(e.clone());
    }
    let mut outcomes = outcomes.into_inner().expect("no panics hold it");
    outcomes.sort_by(|a, b| (&a.name, a.variant, a.seed).cmp(&(&b.name, b.variant, b.seed)));
    print!("{}", report::sweep_summary(&outcomes));
    for e in &broken {
        println!("BROKEN {e}");
    }
    let unexpected = outcomes.iter().filter(|o| !o.matched).count() + broken.len();
    Ok(if unexpected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
