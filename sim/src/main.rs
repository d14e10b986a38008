//! `cargo sim`: list scenarios, run one seed, sweep many in parallel, or
//! merge the JSON results of sweeps. Every error is one line and exit 2;
//! see `cargo sim --help`.

use intent_sim::catalog;
use intent_sim::cli::{
    self, Cli, Command, Format, MergeArgs, Parsed, RunArgs, ShrinkArgs, SweepArgs,
};
use intent_sim::coverage::Coverage;
use intent_sim::error::{Error, Result};
use intent_sim::picture;
use intent_sim::regressions;
use intent_sim::report::{self, BUILD};
use intent_sim::results;
use intent_sim::summary::Summary;
use intent_sim::sweep::{self, Group, Work};
use intent_sim::verdict::Verdict;
use model::fixes::Fix;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

mod logging;

fn main() -> ExitCode {
    let parsed = cli::parse(std::env::args_os().skip(1));
    let result = parsed.and_then(|p| match p {
        Parsed::Show(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Parsed::Go(cli) => execute(*cli),
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            // On a terminal a broken scenario file is also shown, marked.
            let excerpt = match &e {
                Error::Scenario(s) if std::io::stderr().is_terminal() => s.excerpt(true),
                _ => None,
            };
            if let Some(excerpt) = excerpt {
                eprintln!("{excerpt}");
            }
            ExitCode::from(2)
        }
    }
}

fn code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn execute(cli: Cli) -> Result<ExitCode> {
    intent_sim::known_upstream::load()?;
    let dir = cli.scenarios.as_deref();
    match cli.command {
        None => unreachable!("parse shows the help when no command is given"),
        Some(Command::List) => {
            for file in catalog::files_in(dir)? {
                let s = match file {
                    Ok(s) => s,
                    Err(e) => {
                        let name = e.file.file_stem().unwrap_or_default().to_string_lossy();
                        println!("{name:<40} BROKEN: {e}");
                        continue;
                    }
                };
                let first = first_sentence(&s.plan().description);
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
        Some(Command::Run(args)) => run(dir, args),
        Some(Command::Sweep(args)) => run_sweep(dir, args),
        Some(Command::Shrink(args)) => shrink(dir, args),
        Some(Command::Merge(args)) => merge(args),
        Some(Command::Fixes) => {
            for fix in Fix::ALL {
                println!("{:<6} {:<80} {}", fix.id(), fix.what(), fix.reference());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A description's first sentence (whole, never cut mid-word).
fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_string(),
        None => flat,
    }
}

fn shrink(dir: Option<&std::path::Path>, args: ShrinkArgs) -> Result<ExitCode> {
    let s = catalog::find_in(dir, &args.scenario)?;
    catalog::select_cases(&s, args.case.as_deref())?;
    // Where the file goes is checked before the runs, not after them.
    let folder = args.out.parent().filter(|p| !p.as_os_str().is_empty());
    if args.out.is_dir() || folder.is_some_and(|p| !p.is_dir()) {
        return Err(Error::usage(format!(
            "-o {}: cannot write the scenario there (it is a folder, or its folder does not exist)",
            args.out.display()
        )));
    }
    // A kept story (`scenarios/found/`) shrinks from its own seed.
    let seed = args.seed.or(s.plan().seed).ok_or_else(|| {
        Error::usage("shrink needs --seed (the seed of the failing run; this file keeps none)")
    })?;
    let (plan, _) = catalog::plan(&s, args.case.as_deref(), seed)?;
    let shrunk =
        intent_sim::shrink::shrink(&plan, args.variant, seed, args.max_runs, &mut |line| {
            eprintln!("shrink: {line}")
        })
        .map_err(Error::usage)?;
    let kept = intent_sim::shrink::as_scenario(&shrunk, &args.scenario, args.variant, seed);
    let text = intent_sim::scenario::to_toml(&kept).map_err(Error::usage)?;
    std::fs::write(&args.out, text).map_err(|source| Error::Io {
        path: args.out.clone(),
        source,
    })?;
    println!(
        "{}: {} steps failing {} in {} from seed {}",
        args.out.display(),
        kept.steps.len(),
        shrunk.target.signature,
        args.variant,
        seed
    );
    Ok(ExitCode::SUCCESS)
}

fn run(dir: Option<&std::path::Path>, args: RunArgs) -> Result<ExitCode> {
    let name = args
        .scenario
        .as_deref()
        .expect("parse checked the scenario");
    if args.at.is_some() && !args.db {
        return Err(Error::usage(
            "--at picks the moment of the --db tables: give it with --db \
             (`cargo sim run SCENARIO --db --at SECONDS`)",
        ));
    }
    let s = catalog::find_in(dir, name)?;
    let cases = catalog::select_cases(&s, args.case.as_deref())?;
    if args.emit_scenario.is_some() && cases.len() > 1 {
        let names: Vec<String> = cases.iter().flatten().cloned().collect();
        return Err(Error::usage(format!(
            "--emit-scenario writes one plan: name the case with --case (cases: {})",
            names.join(", ")
        )));
    }
    // A kept story (`scenarios/found/`) runs from the seed it was found with
    // unless the user names another, as its `cases` test does.
    let seed = args.seed.or(s.plan().seed).unwrap_or(0);
    let mut failed = false;
    for case in &cases {
        // RUST_LOG's subscriber lives for the run only (`run`, not
        // `sweep`: one seed's detail is readable, thousands' is not).
        let log = logging::from_env().map_err(Error::Log)?;
        let (mut plan, shape) = catalog::plan(&s, case.as_deref(), seed)?;
        plan.without_fixes = args.without_fix.iter().copied().collect();
        if let Some(path) = &args.emit_scenario {
            let kept = intent_sim::shrink::pinned(&plan, &s.name, seed);
            let text = intent_sim::scenario::to_toml(&kept).map_err(Error::usage)?;
            std::fs::write(path, text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        let at = args.at;
        let (mut r, view) = intent_sim::runner::run_with_db_view(
            &plan,
            &s.name,
            case.as_deref(),
            args.variant,
            seed,
            at,
        );
        r.scenario = catalog::command_arg(&s);
        drop(log);
        let bad = r.verdict() != Verdict::Held;
        failed |= bad;
        if args.db {
            let view = view.ok_or_else(|| Error::AtAfterEnd {
                at: at.unwrap_or_default(),
                run: format!("{} variant={} seed={}", r.name, r.variant, r.seed),
                ended: r.ended_at,
            })?;
            print!("{}", db_report(&r, &view, at.is_none()));
            continue;
        }
        match args.format {
            Format::Text => {
                print!(
                    "{}",
                    report::run_report(&r, shape.as_ref(), args.trace || bad)
                );
                if report::needs_repro(&r) {
                    println!("{}", report::repro(&r));
                }
            }
            Format::Mermaid => print!("{}", picture::mermaid(&r)),
            Format::Json => {
                print!("{}", picture::json_lines(&r));
                // Wall time stays out so the output is deterministic.
                let result = serde_json::json!({ "result": results::RunResult::of(&r, 0) });
                println!("{result}");
            }
        }
    }
    Ok(code(failed))
}

/// `run --db`: which run, the moment and the verdict, then omdb's tables.
fn db_report(
    r: &intent_sim::verdict::RunReport,
    view: &intent_sim::db_view::DbView,
    at_end: bool,
) -> String {
    let when = if at_end {
        format!("{}, the end of the run", r.ended_at)
    } else {
        format!(
            "{} of virtual time (the run ended at {})",
            view.at, r.ended_at
        )
    };
    format!(
        "== {} variant={} seed={}: db at {when}; verdict {}\n{}",
        r.name,
        r.variant,
        r.seed,
        r.verdict().name(),
        view.render(&r.names, r.variant.tracks_intent())
    )
}

/// Progress on stderr: a bar with rate and ETA on a terminal, a plain line
/// every 500 runs otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    done: AtomicU64,
    total: u64,
    started: std::time::Instant, // determinism-ok: progress display, outside every run
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} runs  {per_sec}  ETA {eta}",
                )
                .expect("a valid template"),
            );
            bar
        });
        Progress {
            bar,
            done: AtomicU64::new(0),
            total,
            started: std::time::Instant::now(), // determinism-ok: progress display
        }
    }

    fn tick(&self) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None if n.is_multiple_of(500) || n == self.total => {
                let secs = self.started.elapsed().as_secs_f64().max(0.001);
                eprintln!("  {n}/{} runs ({:.0} runs/s)", self.total, n as f64 / secs);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn run_sweep(dir: Option<&std::path::Path>, args: SweepArgs) -> Result<ExitCode> {
    // A bad RUST_LOG is bad input here too, though a sweep logs nothing.
    drop(logging::from_env().map_err(Error::Log)?);
    // One broken file does not stop the others: it is reported after the
    // summary, and the sweep is not as expected.
    let mut broken = Vec::new();
    let scenarios = if args.all {
        let mut ok = Vec::new();
        for file in catalog::files_in(dir)? {
            match file {
                Ok(s) => ok.push(s),
                Err(e) => broken.push(e.to_string()),
            }
        }
        if ok.is_empty() && broken.is_empty() {
            let folder = dir.map_or("the scenarios folder".into(), |d| d.display().to_string());
            return Err(Error::usage(format!(
                "--all: no scenario files (*.toml) in {folder}"
            )));
        }
        ok
    } else {
        args.names
            .iter()
            .map(|n| catalog::find_in(dir, n))
            .collect::<Result<Vec<_>>>()?
    };
    let mut groups = Vec::new();
    for s in &scenarios {
        let cases = match (&args.case, args.all) {
            // With --all, --case picks that case where a scenario has it.
            (Some(c), true) if !catalog::cases(s).contains(&Some(c.clone())) => continue,
            (c, _) => catalog::select_cases(s, c.as_deref())?,
        };
        for case in cases {
            for &variant in &args.variant.0 {
                groups.push(Group {
                    scenario: s.clone(),
                    case: case.clone(),
                    variant,
                    without_fixes: args.without_fix.iter().copied().collect(),
                });
            }
        }
    }
    let work = Work {
        groups,
        seeds: args.seeds.clone(),
        shard: args.shard,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = match args.jobs {
        Some(j) if j > cores => {
            eprintln!("note: --jobs {j} is more than the {cores} cores; using {cores}");
            cores
        }
        Some(j) => j,
        None => cores,
    };
    if let Some(p) = &args.save_failures {
        regressions::check_appendable(p)?;
    }
    let mut json = match &args.json {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| Error::io(p, e))?,
        )),
        None => None,
    };
    let total = work.total();
    eprintln!("sweep: {total} runs on {jobs} threads");
    let mut saved = Vec::new();
    let mut summary = Summary::default();
    let mut differences = 0u64;
    let progress = Progress::new(total);
    let check = args.check_determinism;
    let reached = std::sync::Mutex::new(Coverage::default());
    let count = |r: &intent_sim::verdict::RunReport| {
        if args.coverage {
            let c = Coverage::of(r);
            reached.lock().expect("no panics hold it").merge(&c);
        }
    };
    sweep::drive(
        &work,
        jobs,
        |g: &Group, seed| sweep::run_one_observed(g, seed, check, &count),
        |(r, diff)| {
            if let Some(d) = diff {
                differences += 1;
                progress.finish();
                eprintln!(
                    "{}",
                    d.describe(&format!("{} {} seed {}", r.name(), r.variant, r.seed))
                );
                eprintln!("  {}", r.repro());
            }
            if let (Some(out), Some(p)) = (json.as_mut(), &args.json) {
                results::write_line(out, &r, p)?;
            }
            if !r.expected && args.save_failures.is_some() {
                saved.push(regressions::Entry::of(&r, BUILD));
            }
            summary.add(&r);
            Ok(())
        },
        || progress.tick(),
    )?;
    progress.finish();
    if let (Some(mut out), Some(p)) = (json, &args.json) {
        out.flush().map_err(|e| Error::io(p, e))?;
    }
    if let Some(p) = &args.save_failures {
        regressions::append(p, &saved)?;
        eprintln!("saved {} unexpected runs to {}", saved.len(), p.display());
    }
    print!("{}", summary.render(args.failures, BUILD));
    for e in &broken {
        println!("BROKEN {e}");
    }
    if !broken.is_empty() {
        // The summary's "every run as expected" covers the files that ran.
        println!(
            "{} scenario files could not be loaded (exit 1)",
            broken.len()
        );
    }
    if args.coverage {
        let reached = reached.into_inner().expect("no panics hold it");
        print!("\n{}", reached.table());
    }
    if check {
        println!(
            "determinism: {} runs each run twice, {differences} differences",
            summary.runs()
        );
    }
    Ok(code(
        summary.unexpected() > 0 || differences > 0 || !broken.is_empty(),
    ))
}

fn merge(args: MergeArgs) -> Result<ExitCode> {
    let mut summary = Summary::default();
    for f in &args.files {
        results::read_lines(f, |r| summary.add(&r))?;
    }
    print!("{}", summary.render(args.failures, BUILD));
    Ok(code(summary.unexpected() > 0))
}
