//! `cargo sim`'s command line, on clap (derive): every subcommand and flag
//! with its `--help`, `--version`, `--flag=value`, and `env` fallbacks for
//! the `INTENT_SIM_*` variables. Bad input never panics: clap's errors are
//! turned into one line that says what is accepted ([`parse`]), which the
//! binary prints as `error: ...` with exit code 2.
//!
//! To add a subcommand: a variant of [`Command`] with its own `Args`
//! struct (doc comments become its help; an `after_help` with examples),
//! and an arm in the binary's `execute`.

use crate::error::Error;
use clap::error::{ContextKind, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use model::fixes::Fix;
use model::ids::Millis;
use model::variant::Variant;
use std::ffi::OsString;
use std::ops::Range;
use std::path::PathBuf;

/// What `--version` prints: the crate version and the build (`git
/// describe`) that the repro lines name.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("INTENT_SIM_BUILD"),
    ")"
);

const EXIT_CODES: &str = "\
Exit codes: 0 held (a sweep: every run as its scenario expects); 1 violated, diverged, hung \
or crashed (or a sweep with an unexpected run), each printed with the command that reproduces \
it; 2 bad input (one line that says what is accepted).";

const TOP_EXAMPLES: &str = "\
Examples:
  cargo sim list
  cargo sim run stop-finds-vmm-gone --variant legacy --seed 7
  cargo sim sweep --all --seeds 0..1000 --jobs 2
  cargo sim sweep swarm --seeds 0..300 --variant legacy --failures

Exit codes: 0 held (a sweep: every run as its scenario expects); 1 violated, diverged, hung \
or crashed (or a sweep with an unexpected run), each printed with the command that reproduces \
it; 2 bad input (one line that says what is accepted).";

const RUN_EXAMPLES: &str = "\
Examples:
  cargo sim run stop-finds-vmm-gone --variant legacy --seed 7
  cargo sim run nexus-dies-during-create-saga              # every case, one after another
  cargo sim run nexus-dies-during-create-saga --case=create-record.after-action
  cargo sim run ./my-scenario.toml --seed 0x1267 --trace
  cargo sim run stop-finds-vmm-gone --variant legacy --format mermaid > run.mmd
  cargo sim run stop-finds-vmm-gone --variant legacy --seed 1 --db --at 30   # omdb's tables at 30 s";

const SWEEP_EXAMPLES: &str = "\
Examples:
  cargo sim sweep --all --seeds 0..1000
  cargo sim sweep swarm --seeds 0..300 --variant legacy --failures
  cargo sim sweep swarm --seeds 0..100000 --variant all --shard 2/8 --json shard-2.jsonl
  cargo sim sweep swarm --seeds 0..500 --variant all --check-determinism";

const MERGE_EXAMPLES: &str = "\
Examples:
  cargo sim merge shard-*.jsonl
  cargo sim merge results/*.jsonl --failures";

/// `cargo sim`: a deterministic simulation of omicron's instance lifecycle.
/// One u64 seed decides everything; every failure prints the command that
/// reproduces it.
#[derive(Parser, Debug)]
#[command(
    name = "cargo sim",
    bin_name = "cargo sim",
    version = VERSION,
    after_help = TOP_EXAMPLES,
    max_term_width = 100
)]
pub struct Cli {
    /// The scenario folder (default: the workspace's `scenarios/`, found
    /// from the current directory or the binary's).
    #[arg(long, global = true, value_name = "DIR", env = "INTENT_SIM_SCENARIOS")]
    pub scenarios: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The scenarios, one line each (name, first sentence, cases).
    #[command(after_help = EXIT_CODES)]
    List,
    /// One run (or one per case): prints the story or the trace, the
    /// verdict, and how to reproduce it.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Many seeds in parallel: a summary per scenario and variant, then
    /// every unexpected run with its repro line.
    #[command(after_help = SWEEP_EXAMPLES)]
    Sweep(SweepArgs),
    /// A failing run made small: delta debugging of its plan while the same
    /// checker fails the same way; writes a scenario file with a
    /// description, violates and must_reach (example: `cargo sim shrink
    /// swarm --seed 20 --variant legacy -o scenarios/found/x.toml`).
    #[command(after_help = EXIT_CODES)]
    Shrink(ShrinkArgs),
    /// The sweep summary of JSON lines written by `sweep --json` (from
    /// several shards, machines or days).
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// omicron's fixes the model embodies, one switch each (id, what,
    /// omicron reference); `run` and `sweep` take `--without-fix ID`.
    #[command(after_help = EXIT_CODES)]
    Fixes,
}

/// How `run` prints the run.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// The story (every line with --trace or on failure), the findings,
    /// the verdict.
    #[default]
    Text,
    /// A Mermaid sequence diagram of the story.
    Mermaid,
    /// The trace as JSON lines, one object per record, then one last line
    /// `{"result": ...}`: the verdict, checkers fired, known-upstream and
    /// exceptions, as `sweep --json` writes a run (`wall_ms` is 0).
    Json,
}

/// `cargo sim run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// A scenario name (`cargo sim list`) or a path to a scenario `.toml`
    /// file.
    #[arg(value_name = "SCENARIO")]
    pub scenario: Option<String>,
    /// The seed: a u64, decimal (4711) or hex (0x1267) (default: the
    /// file's `seed` when it keeps one, as `scenarios/found/` files do,
    /// else 0).
    #[arg(long, value_parser = parse_seed, env = "INTENT_SIM_SEED", allow_hyphen_values = true)]
    pub seed: Option<u64>,
    /// The variant: legacy, omicron or fixed.
    #[arg(long, value_parser = parse_variant, default_value = "fixed", env = "INTENT_SIM_VARIANT")]
    pub variant: Variant,
    /// The name of one of the scenario's cases (default: every case).
    #[arg(long, value_name = "CASE")]
    pub case: Option<String>,
    /// Print every trace line, not only the story.
    #[arg(long)]
    pub trace: bool,
    /// How to print the run: text, mermaid or json.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the run's plan (a swarm's drawn one too) as a scenario
    /// file that runs the same trace.
    #[arg(long, value_name = "FILE")]
    pub emit_scenario: Option<std::path::PathBuf>,
    /// Turn omicron's fix ID off in the model (repeatable; `cargo sim
    /// fixes` lists them).
    #[arg(long = "without-fix", value_name = "ID", value_parser = parse_fix)]
    pub without_fix: Vec<Fix>,
    /// Print the db's instance, VMM and saga tables as omdb does (`omdb db
    /// instances`, `omdb db vmms`, `omdb db sagas`) instead of the story:
    /// at the end of the run, or at --at.
    #[arg(long, conflicts_with_all = ["trace", "format"])]
    pub db: bool,
    /// With --db: the moment of virtual time, in seconds from the run's
    /// start (such as 30 or 30.5, to the ms), from 0 up to the run's end
    /// (a later moment is an error that names the end).
    #[arg(long, value_name = "SECONDS", value_parser = parse_at, allow_hyphen_values = true)]
    pub at: Option<Millis>,
}

/// `cargo sim shrink`.
#[derive(Args, Debug)]
pub struct ShrinkArgs {
    /// A scenario name (`cargo sim list`) or a path to a scenario `.toml`.
    #[arg(value_name = "SCENARIO")]
    pub scenario: String,
    /// The seed of the failing run: a u64, decimal or hex (a kept story's
    /// own `seed` when not given).
    #[arg(long, value_parser = parse_seed, allow_hyphen_values = true)]
    pub seed: Option<u64>,
    /// The variant the run fails in: legacy, omicron or fixed.
    #[arg(long, value_parser = parse_variant, default_value = "fixed")]
    pub variant: Variant,
    /// The case of the scenario that fails.
    #[arg(long, value_name = "CASE")]
    pub case: Option<String>,
    /// Where to write the small scenario.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: std::path::PathBuf,
    /// At most this many runs.
    #[arg(long, default_value = "500", value_parser = parse_max_runs)]
    pub max_runs: usize,
}

/// `cargo sim sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Scenario names or `.toml` paths (or --all).
    #[arg(value_name = "SCENARIO")]
    pub names: Vec<String>,
    /// Every scenario in the folder.
    #[arg(long)]
    pub all: bool,
    /// A half-open range of u64 seeds A..B with A < B, such as 0..1000.
    #[arg(long, value_parser = parse_seeds, default_value = "0..100", value_name = "A..B", allow_hyphen_values = true)]
    pub seeds: Range<u64>,
    /// legacy, omicron or fixed, or all for every variant.
    #[arg(long, value_parser = parse_variants, default_value = "fixed", env = "INTENT_SIM_VARIANT")]
    pub variant: Variants,
    /// Only this case of each scenario that has it (default: every case).
    #[arg(long, value_name = "CASE")]
    pub case: Option<String>,
    /// Worker threads, a whole number 1 or more (default: the cores;
    /// more than the cores is capped).
    #[arg(long, value_parser = parse_jobs, env = "INTENT_SIM_JOBS", allow_hyphen_values = true)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (0 <= K < N): every Nth seed of the range
    /// from its Kth, so N shards together cover it exactly.
    #[arg(long, value_parser = parse_shard, value_name = "K/N", env = "INTENT_SIM_SHARD")]
    pub shard: Option<Shard>,
    /// Write one JSON object per run to FILE (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also list expected violations (first few per checker) with their
    /// repro lines.
    #[arg(long, short = 'v')]
    pub failures: bool,
    /// Run every seed twice and report the first trace line where the
    /// two runs differ.
    #[arg(long)]
    pub check_determinism: bool,
    /// Append each unexpected run to this regressions file (TOML), to be
    /// replayed by `cargo test`.
    #[arg(long, value_name = "FILE")]
    pub save_failures: Option<PathBuf>,
    /// Turn omicron's fix ID off in the model (repeatable; `cargo sim
    /// fixes` lists them).
    #[arg(long = "without-fix", value_name = "ID", value_parser = parse_fix)]
    pub without_fix: Vec<Fix>,
    /// After the summary, print what the sweep reached (instance state x
    /// intent pairs, named points, saga nodes undone, task decisions,
    /// faults, named races) and what it never reached.
    #[arg(long)]
    pub coverage: bool,
}

/// `cargo sim merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// JSON lines files written by `sweep --json`.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Also list expected violations (first few per checker).
    #[arg(long, short = 'v')]
    pub failures: bool,
}

/// The variants a sweep runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variants(pub Vec<Variant>);

/// One shard of a sweep: `index` of `count`, 0-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, 0 <= K < N.
    pub index: u64,
    /// N, 1 or more.
    pub count: u64,
}

impl Shard {
    /// Whether the `i`th seed of the range (0-based) is this shard's.
    pub fn owns(&self, i: u64) -> bool {
        i % self.count == self.index
    }
}

/// Parses a seed: decimal or `0x` hex, digits only (no sign).
pub fn parse_seed(s: &str) -> Result<u64, Error> {
    let bad = || {
        Error::usage(format!(
            "bad seed {s:?}: a seed is a u64, decimal (4711) or hex (0x1267)"
        ))
    };
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(bad());
    }
    u64::from_str_radix(digits, radix).map_err(|_| bad())
}

/// Parses `--at SECONDS`: virtual seconds from the start of the run, a
/// whole or decimal number (at most three decimals: the ms), no sign.
pub fn parse_at(s: &str) -> Result<Millis, Error> {
    let bad = || {
        Error::usage(format!(
            "bad moment {s:?}: --at takes virtual seconds from the run's start, 0 or more, \
             such as 30 or 30.5 (at most 3 decimals)"
        ))
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 3 {
        return Err(bad());
    }
    if s.ends_with('.') {
        return Err(bad());
    }
    let ms = format!("{frac:0<3}").parse::<u64>().map_err(|_| bad())?;
    whole
        .parse::<u64>()
        .ok()
        .and_then(|w| w.checked_mul(1000))
        .and_then(|w| w.checked_add(ms))
        .map(Millis)
        .ok_or_else(bad)
}

/// Parses a seed range `A..B` (half-open, A < B).
pub fn parse_seeds(s: &str) -> Result<Range<u64>, Error> {
    let Some((a, b)) = s.split_once("..") else {
        return Err(Error::usage(format!(
            "bad seed range {s:?}: write A..B, a half-open range of u64 seeds such as 0..1000"
        )));
    };
    let (a, b) = (parse_seed(a)?, parse_seed(b)?);
    if a >= b {
        return Err(Error::usage(format!(
            "empty or reversed seed range {s:?}: A..B needs A < B, such as 0..1000"
        )));
    }
    Ok(a..b)
}

/// Parses a variant name.
pub fn parse_variant(s: &str) -> Result<Variant, Error> {
    Variant::parse(s).ok_or_else(|| {
        Error::usage(format!(
            "unknown variant {s:?}: the variants are legacy, omicron and fixed"
        ))
    })
}

/// Parses a fix id (`7437` or `#7437`), or says which ids there are.
pub fn parse_fix(s: &str) -> Result<Fix, Error> {
    Fix::parse(s).ok_or_else(|| {
        let ids: Vec<&str> = Fix::ALL.iter().map(|f| f.id()).collect();
        Error::usage(format!(
            "unknown fix {s:?}: the fixes are {} (`cargo sim fixes` says what each is)",
            ids.join(", ")
        ))
    })
}

/// Parses a sweep's `--variant`: one variant, or `all`.
pub fn parse_variants(s: &str) -> Result<Variants, Error> {
    if s == "all" {
        return Ok(Variants(Variant::ALL.to_vec()));
    }
    Variant::parse(s).map(|v| Variants(vec![v])).ok_or_else(|| {
        Error::usage(format!(
            "unknown variant {s:?}: the variants are legacy, omicron and fixed, or all"
        ))
    })
}

/// Parses `--jobs`: a whole number, 1 or more.
pub fn parse_jobs(s: &str) -> Result<usize, Error> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 && s.chars().all(|c| c.is_ascii_digit()) => Ok(n),
        _ => Err(Error::usage(format!(
            "bad value {s:?}: a whole number of worker threads, 1 or more"
        ))),
    }
}

/// Parses `--max-runs`: a whole number, 1 or more.
pub fn parse_max_runs(s: &str) -> Result<usize, Error> {
    parse_jobs(s).map_err(|_| {
        Error::usage(format!(
            "bad value {s:?}: a whole number of runs, 1 or more"
        ))
    })
}

/// Parses `--shard K/N`: whole numbers with 0 <= K < N.
pub fn parse_shard(s: &str) -> Result<Shard, Error> {
    let bad = || {
        Error::usage(format!(
            "bad shard {s:?}: write K/N with whole numbers 0 <= K < N, such as 0/4"
        ))
    };
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let num = |x: &str| -> Result<u64, Error> {
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        x.parse().map_err(|_| bad())
    };
    let (index, count) = (num(k)?, num(n)?);
    if index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// What parsing a command line came to.
#[derive(Debug)]
pub enum Parsed {
    /// A command to carry out.
    Go(Box<Cli>),
    /// Text to print on stdout with exit 0 (`--help`, `--version`, no
    /// arguments).
    Show(String),
}

/// Parses the arguments after the program name. An error is one line
/// (without the `error: ` prefix) that says what is accepted.
pub fn parse<I, T>(args: I) -> Result<Parsed, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.is_empty() {
        return Ok(Parsed::Show(Cli::command().render_long_help().to_string()));
    }
    let argv = std::iter::once(OsString::from("cargo-sim")).chain(args.iter().cloned());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    Ok(Parsed::Show(e.render().to_string()))
                }
                _ => Err(Error::usage(one_line(&e, &args))),
            };
        }
    };
    match &cli.command {
        None => Ok(Parsed::Show(Cli::command().render_long_help().to_string())),
        Some(Command::Run(r)) if r.scenario.is_none() => Err(Error::usage(
            "run needs a scenario (a name or a .toml path); `cargo sim list` shows them",
        )),
        Some(Command::Sweep(s)) => {
            if s.all && !s.names.is_empty() {
                return Err(Error::usage(
                    "sweep takes scenario names or --all, not both",
                ));
            }
            if !s.all && s.names.is_empty() {
                return Err(Error::usage(
                    "sweep needs scenario names or --all; `cargo sim list` shows them",
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            if let Some(dup) = s.names.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(Error::usage(format!(
                    "scenario {dup:?} is named twice; name each scenario once"
                )));
            }
            Ok(Parsed::Go(Box::new(cli)))
        }
        Some(_) => Ok(Parsed::Go(Box::new(cli))),
    }
}

/// The subcommand an argument list names, if any.
fn subcommand_of(args: &[OsString]) -> Option<clap::Command> {
    let top = Cli::command();
    args.iter()
        .filter_map(|a| a.to_str())
        .find_map(|a| top.find_subcommand(a).cloned())
}

/// The long flags a command takes, for an unknown flag's error.
fn flags(cmd: &clap::Command) -> String {
    let mut names: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    names.extend(["--help".to_string()]);
    names.join(", ")
}

/// What a flag accepts: its help's first sentence.
fn accepted(cmd: &clap::Command, flag: &str) -> String {
    cmd.get_arguments()
        .find(|a| a.get_long().is_some_and(|l| flag == format!("--{l}")))
        .and_then(|a| a.get_help().map(|h| h.to_string()))
        .unwrap_or_else(|| "a value".into())
}

/// ` (from VAR)` when `flag`'s value came from its environment variable.
fn from_env(cmd: &clap::Command, flag: &str, args: &[OsString]) -> String {
    let on_line = args
        .iter()
        .filter_map(|a| a.to_str())
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    cmd.get_arguments()
        .find(|a| a.get_long().is_some_and(|l| flag == format!("--{l}")))
        .and_then(|a| a.get_env())
        .filter(|var| !on_line && std::env::var_os(var).is_some())
        .map(|var| format!(" (from {})", var.to_string_lossy()))
        .unwrap_or_default()
}

/// clap's error as one line that says what is accepted.
fn one_line(e: &clap::Error, args: &[OsString]) -> String {
    let sub = subcommand_of(args);
    let cmd = sub.clone().unwrap_or_else(Cli::command);
    let name = sub
        .as_ref()
        .map_or("cargo sim".to_string(), |s| s.get_name().to_string());
    let ctx = |k| e.get(k).map(|v| v.to_string()).unwrap_or_default();
    let flag = ctx(ContextKind::InvalidArg)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let hint = e
                .get(ContextKind::SuggestedArg)
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            format!(
                "unknown flag {flag:?} for {name}{hint}; it takes {}",
                flags(&cmd)
            )
        }
        ErrorKind::InvalidSubcommand => {
            let flag = ctx(ContextKind::InvalidSubcommand);
            let names: Vec<String> = Cli::command()
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            format!(
                "unknown command {flag:?}; the commands are {} (see `cargo sim --help`)",
                names.join(", ")
            )
        }
        ErrorKind::ValueValidation => {
            let from = from_env(&cmd, &flag, args);
            match std::error::Error::source(e) {
                Some(src) => format!("{flag}{from}: {src}"),
                None => format!("bad value for {flag}{from}: {}", accepted(&cmd, &flag)),
            }
        }
        ErrorKind::InvalidValue => {
            let value = ctx(ContextKind::InvalidValue);
            if value.is_empty() {
                format!("{flag} needs a value: {}", accepted(&cmd, &flag))
            } else {
                let valid = ctx(ContextKind::ValidValue);
                format!("bad value {value:?} for {flag}: it takes {valid}")
            }
        }
        ErrorKind::MissingRequiredArgument => format!(
            "{name} needs {}; see `cargo sim {name} --help`",
            ctx(ContextKind::InvalidArg)
        ),
        ErrorKind::ArgumentConflict if flag.is_empty() => first_line(e, &name),
        ErrorKind::ArgumentConflict => {
            let other = ctx(ContextKind::PriorArg);
            if other == flag || other.starts_with(&format!("{flag} ")) {
                format!("{flag} is given twice; give it once")
            } else {
                first_line(e, &name)
            }
        }
        _ => first_line(e, &name),
    }
}

/// The first line of clap's own message, with where to read more.
fn first_line(e: &clap::Error, name: &str) -> String {
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or("bad arguments");
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let help = if name == "cargo sim" {
        "cargo sim --help".to_string()
    } else {
        format!("cargo sim {name} --help")
    };
    format!("{line}; see `{help}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(s: &str) -> Cli {
        match parse(s.split_whitespace()) {
            Ok(Parsed::Go(c)) => *c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_fix_and_fixes() {
        match go("run x --without-fix 7437 --without-fix #8053").command {
            Some(Command::Run(r)) => {
                assert_eq!(
                    r.without_fix,
                    [Fix::CreateUnwindSkipsFailed, Fix::IntendedState]
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(go("fixes").command, Some(Command::Fixes)));
        let bad = parse("sweep --all --without-fix 1".split_whitespace()).unwrap_err();
        assert!(bad.to_string().contains("10177"), "{bad}");
    }

    /// A report's `--without-fix` flags (`FixSet`'s `Display`) replay
    /// through this parser: every fix by its id, and sets of 0, 1 and 2
    /// fixes off.
    #[test]
    fn printed_fix_sets_parse_back() {
        for fix in Fix::ALL {
            assert_eq!(parse_fix(fix.id()).unwrap(), fix);
            assert_eq!(parse_fix(&fix.to_string()).unwrap(), fix);
        }
        let sets: [&[Fix]; 3] = [
            &[],
            &[Fix::PublishBeforeForget],
            &[Fix::IntendedState, Fix::OnlyVmmGoneFails],
        ];
        for fixes in sets {
            let set: model::fixes::FixSet = fixes.iter().copied().collect();
            match go(&format!("run x {set}")).command {
                Some(Command::Run(r)) => {
                    assert_eq!(
                        r.without_fix.into_iter().collect::<model::fixes::FixSet>(),
                        set
                    )
                }
                other => panic!("{set}: {other:?}"),
            }
        }
    }

    /// A moment the CLI prints (`Millis`'s `Display`: `SECS.MMMs`) reads
    /// back through `--at` without its `s`.
    #[test]
    fn printed_moments_parse_back_as_at() {
        for ms in [0, 1, 999, 1_000, 30_500, 654_321] {
            let text = Millis(ms).to_string();
            let at = text.strip_suffix('s').unwrap_or_else(|| panic!("{text}"));
            assert_eq!(parse_at(at).unwrap(), Millis(ms), "{text}");
        }
    }

    fn bad(s: &str) -> String {
        match parse(s.split_whitespace()) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seeds_and_ranges() {
        assert_eq!(parse_seed("4711").unwrap(), 4711);
        assert_eq!(parse_seed("0x10").unwrap(), 16);
        for bad in ["-1", "abc", "+5", "", "0x", " 1"] {
            assert!(parse_seed(bad).unwrap_err().to_string().contains("a u64"));
        }
        assert_eq!(parse_seeds("0..10").unwrap(), 0..10);
        assert!(parse_seeds("10..0")
            .unwrap_err()
            .to_string()
            .contains("reversed"));
        assert!(parse_seeds("5..5")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(parse_seeds("5").unwrap_err().to_string().contains("A..B"));
        assert_eq!(parse_at("30").unwrap(), Millis(30_000));
        assert_eq!(parse_at("30.5").unwrap(), Millis(30_500));
        assert_eq!(parse_at("0.125").unwrap(), Millis(125));
        assert_eq!(parse_at("0").unwrap(), Millis(0));
        for bad in [
            "",
            "-1",
            "+1",
            "1.",
            ".5",
            "1.2345",
            "1e3",
            "NaN",
            "inf",
            "1,5",
            "99999999999999999999",
        ] {
            assert!(
                parse_at(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("virtual seconds"),
                "{bad}"
            );
        }
        assert_eq!(parse_shard("2/8").unwrap(), Shard { index: 2, count: 8 });
        for bad in ["8/8", "1/0", "1", "a/b", "-1/3", "+1/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands() {
        let c = go("run swarm --seed=7 --variant legacy --trace");
        match c.command {
            Some(Command::Run(r)) => {
                assert_eq!(
                    (r.seed, r.variant, r.trace),
                    (Some(7), Variant::Legacy, true)
                );
                assert_eq!(r.scenario.as_deref(), Some("swarm"));
            }
            other => panic!("{other:?}"),
        }
        assert!(bad("run x --variant newest").contains("legacy, omicron and fixed"));
        assert!(bad("sweep").contains("--all"));
        assert!(bad("sweep --all --jobs 0").contains("1 or more"));
        assert!(bad("frobnicate").contains("\"frobnicate\""));
        assert!(bad("run x --seed 1 --seed 2").contains("twice"));
        assert!(bad("sweep a a").contains("named twice"));
        match go("sweep --all --seeds 0..5 --variant all").command {
            Some(Command::Sweep(s)) => {
                assert_eq!(s.variant.0.len(), 3);
                assert_eq!(s.seeds, 0..5);
            }
            other => panic!("{other:?}"),
        }
    }
}
