//! `cargo sim`'s command line: parsing and the one-line errors bad input
//! gets. Every error says what is accepted; none panics.

use model::variant::Variant;
use std::fmt;
use std::ops::Range;

pub const USAGE: &str = "\
usage: cargo sim <command>

commands:
  list                                   the scenarios, one line each
  run <scenario|file.toml> [--seed N] [--variant V] [--case C] [--trace] [--emit-scenario FILE]
                                         one run; prints the verdict and how to reproduce it
  shrink <scenario|file.toml> --seed N [--variant V] [--case C] -o FILE [--max-runs N]
                                         a failing run made small: writes a scenario that fails the same checker
  sweep [<scenario>...|--all] [--seeds A..B] [--variant V] [--jobs N]
                                         many seeds in parallel; a summary per scenario and variant

  --seed N        a u64, decimal or 0x-hex (default 0)
  --seeds A..B    a half-open range of u64 seeds, A < B (default 0..100)
  --variant V     legacy, omicron or fixed (default fixed); `all` for every variant (sweep)
  --jobs N        worker threads, 1 or more (default: the number of cores)
  --trace         print the whole trace, not only the story
  --emit-scenario FILE  also write the run's plan (a swarm's drawn one too) as a scenario file

exit codes: 0 held, 1 violated/diverged/hung/crashed (or a sweep with an unexpected outcome), 2 bad input";

/// A command line error: one line, exit code 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    List,
    Run {
        scenario: String,
        seed: u64,
        variant: Variant,
        case: Option<String>,
        trace: bool,
        /// Write the run's plan as a scenario file here.
        emit: Option<std::path::PathBuf>,
    },
    Shrink {
        scenario: String,
        seed: u64,
        variant: Variant,
        case: Option<String>,
        out: std::path::PathBuf,
        max_runs: usize,
    },
    Sweep {
        scenarios: Vec<String>,
        all: bool,
        seeds: Range<u64>,
        variants: Vec<Variant>,
        jobs: usize,
    },
    Help,
}

/// Parses a seed: decimal or `0x` hex.
pub fn parse_seed(s: &str) -> Result<u64, UsageError> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    parsed.or_else(|_| {
        err(format!(
            "bad seed {s:?}: a seed is a u64, decimal (4711) or hex (0x1267)"
        ))
    })
}

/// Parses a seed range `A..B` (half-open, A < B).
pub fn parse_seeds(s: &str) -> Result<Range<u64>, UsageError> {
    let Some((a, b)) = s.split_once("..") else {
        return err(format!(
            "bad seed range {s:?}: write A..B, a half-open range of u64 seeds such as 0..1000"
        ));
    };
    let (a, b) = (parse_seed(a)?, parse_seed(b)?);
    if a >= b {
        return err(format!(
            "empty or reversed seed range {s:?}: A..B needs A < B, such as 0..1000"
        ));
    }
    Ok(a..b)
}

/// Parses a variant name.
pub fn parse_variant(s: &str) -> Result<Variant, UsageError> {
    Variant::parse(s).map_or_else(
        || {
            err(format!(
                "unknown variant {s:?}: the variants are legacy, omicron and fixed"
            ))
        },
        Ok,
    )
}

/// What each flag's value is, for the error a missing one gets.
fn accepted(flag: &str) -> &'static str {
    match flag {
        "--seed" => "a u64 seed, decimal (4711) or hex (0x1267)",
        "--seeds" => "a half-open range of u64 seeds A..B, such as 0..1000",
        "--variant" => "legacy, omicron or fixed (or all, for sweep)",
        "--case" => "the name of one of the scenario's cases",
        "--jobs" => "a whole number of worker threads, 1 or more",
        _ => "a value (see `cargo sim help`)",
    }
}

fn value<'a>(
    flag: &str,
    it: &mut impl Iterator<Item = &'a String>,
) -> Result<&'a String, UsageError> {
    it.next().map_or_else(
        || err(format!("{flag} needs a value: {}", accepted(flag))),
        Ok,
    )
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String], cores: usize) -> Result<Command, UsageError> {
    let mut it = args.iter();
    let Some(cmd) = it.next() else {
        return Ok(Command::Help);
    };
    match cmd.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "list" => match it.next() {
            None => Ok(Command::List),
            Some(x) => err(format!("list takes no arguments, got {x:?}")),
        },
        "run" => {
            let mut scenario = None;
            let mut seed = 0;
            let mut variant = Variant::Fixed;
            let mut case = None;
            let mut trace = false;
            let mut emit = None;
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--seed" => seed = parse_seed(value(a, &mut it)?)?,
                    "--variant" => variant = parse_variant(value(a, &mut it)?)?,
                    "--case" => case = Some(value(a, &mut it)?.clone()),
                    "--trace" => trace = true,
                    "--emit-scenario" => emit = Some(value(a, &mut it)?.into()),
                    flag if flag.starts_with('-') => {
                        return err(format!(
                            "unknown flag {flag:?} for run; it takes --seed, --variant, --case, --trace and --emit-scenario"
                        ))
                    }
                    name if scenario.is_none() => scenario = Some(name.to_string()),
                    extra => return err(format!("run takes one scenario, got a second: {extra:?}")),
                }
            }
            let Some(scenario) = scenario else {
                return err("run needs a scenario; `cargo sim list` shows them");
            };
            Ok(Command::Run {
                scenario,
                seed,
                variant,
                case,
                trace,
                emit,
            })
        }
        "shrink" => {
            let (mut scenario, mut seed, mut variant, mut case, mut out) =
                (None, None, Variant::Fixed, None, None);
            let mut max_runs = 500;
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--seed" => seed = Some(parse_seed(value(a, &mut it)?)?),
                    "--variant" => variant = parse_variant(value(a, &mut it)?)?,
                    "--case" => case = Some(value(a, &mut it)?.clone()),
                    "-o" | "--out" => out = Some(value(a, &mut it)?.into()),
                    "--max-runs" => {
                        let v = value(a, &mut it)?;
                        max_runs = match v.parse::<usize>() {
                            Ok(n) if n >= 1 => n,
                            _ => return err(format!("bad --max-runs {v:?}: a whole number, 1 or more")),
                        };
                    }
                    flag if flag.starts_with('-') => {
                        return err(format!(
                            "unknown flag {flag:?} for shrink; it takes --seed, --variant, --case, -o and --max-runs"
                        ))
                    }
                    name if scenario.is_none() => scenario = Some(name.to_string()),
                    extra => return err(format!("shrink takes one scenario, got a second: {extra:?}")),
                }
            }
            match (scenario, seed, out) {
                (Some(scenario), Some(seed), Some(out)) => Ok(Command::Shrink {
                    scenario,
                    seed,
                    variant,
                    case,
                    out,
                    max_runs,
                }),
                _ => err("shrink needs a scenario (or a .toml file), --seed N and -o FILE"),
            }
        }
        "sweep" => {
            let mut scenarios = Vec::new();
            let mut all = false;
            let mut seeds = 0..100;
            let mut variants = vec![Variant::Fixed];
            let mut jobs = cores.max(1);
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--all" => all = true,
                    "--seeds" => seeds = parse_seeds(value(a, &mut it)?)?,
                    "--variant" => {
                        let v = value(a, &mut it)?;
                        variants = if v == "all" {
                            Variant::ALL.to_vec()
                        } else {
                            vec![parse_variant(v)?]
                        };
                    }
                    "--jobs" => {
                        let v = value(a, &mut it)?;
                        jobs = match v.parse::<usize>() {
                            Ok(n) if n >= 1 => n,
                            _ => return err(format!("bad --jobs {v:?}: a whole number, 1 or more")),
                        };
                    }
                    flag if flag.starts_with('-') => {
                        return err(format!(
                            "unknown flag {flag:?} for sweep; it takes --all, --seeds, --variant and --jobs"
                        ))
                    }
                    name => scenarios.push(name.to_string()),
                }
            }
            if all && !scenarios.is_empty() {
                return err("sweep takes scenario names or --all, not both");
            }
            if !all && scenarios.is_empty() {
                return err("sweep needs scenario names or --all; `cargo sim list` shows them");
            }
            Ok(Command::Sweep {
                scenarios,
                all,
                seeds,
                variants,
                jobs,
            })
        }
        other => err(format!(
            "unknown command {other:?}; the commands are list, run and sweep (see `cargo sim help`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn seeds_and_ranges() {
        assert_eq!(parse_seed("4711"), Ok(4711));
        assert_eq!(parse_seed("0x10"), Ok(16));
        assert!(parse_seed("-1").unwrap_err().0.contains("a u64"));
        assert!(parse_seed("abc").unwrap_err().0.contains("a u64"));
        assert_eq!(parse_seeds("0..10"), Ok(0..10));
        assert!(parse_seeds("10..0").unwrap_err().0.contains("reversed"));
        assert!(parse_seeds("5..5").unwrap_err().0.contains("empty"));
        assert!(parse_seeds("5").unwrap_err().0.contains("A..B"));
    }

    #[test]
    fn commands() {
        assert_eq!(parse(&args("list"), 2), Ok(Command::List));
        assert_eq!(
            parse(&args("run swarm --seed 7 --variant legacy --trace"), 2),
            Ok(Command::Run {
                scenario: "swarm".into(),
                seed: 7,
                variant: Variant::Legacy,
                case: None,
                trace: true,
                emit: None,
            })
        );
        assert!(parse(&args("run x --variant newest"), 2)
            .unwrap_err()
            .0
            .contains("legacy, omicron and fixed"));
        assert!(parse(&args("sweep"), 2).is_err());
        assert!(parse(&args("sweep --all --jobs 0"), 2).is_err());
        assert!(parse(&args("frobnicate"), 2).is_err());
        match parse(&args("sweep --all --seeds 0..5 --variant all"), 2) {
            Ok(Command::Sweep {
                variants, seeds, ..
            }) => {
                assert_eq!(variants.len(), 3);
                assert_eq!(seeds, 0..5);
            }
            other => panic!("{other:?}"),
        }
    }
}
