//! The environment variables `cargo test` runs take:
//!
//! - `INTENT_SIM_SEEDS`: how many seeds each test runs (a whole number,
//!   1 or more); each test has its own default, sized so `cargo test`
//!   stays within a few minutes on 2 cores.
//! - `INTENT_SIM_SEED`: run exactly this seed (a u64, decimal or 0x-hex).
//! - `INTENT_SIM_VARIANT`: run only this variant (legacy, omicron, fixed).
//! - `INTENT_SIM_SCENARIO`: run only this scenario (a name, or a path to
//!   its file); an unknown one is an error that lists the names.
//!
//! A bad value fails the test at once with one line that names the variable
//! and says what it accepts.

use crate::cli;
use crate::error::{Error, Result};
use model::variant::Variant;

/// What the environment selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    pub scenario: Option<String>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Reads the selection, with `default_seeds` seeds from 0 unless told
/// otherwise.
pub fn selection(default_seeds: u64) -> Result<Selection> {
    let seeds = match var("INTENT_SIM_SEED") {
        Some(s) => vec![cli::parse_seed(&s).map_err(|_| {
            Error::usage(format!(
                "INTENT_SIM_SEED={s:?}: a seed is a u64, decimal (4711) or hex (0x1267)"
            ))
        })?],
        None => {
            let n = match var("INTENT_SIM_SEEDS") {
                Some(n) => match n.parse::<u64>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(Error::usage(format!(
                        "INTENT_SIM_SEEDS={n:?}: the number of seeds is a whole number, 1 or more"
                    )))
                    }
                },
                None => default_seeds,
            };
            (0..n).collect()
        }
    };
    let variants = match var("INTENT_SIM_VARIANT") {
        Some(v) => vec![Variant::parse(&v).ok_or_else(|| {
            Error::usage(format!(
                "INTENT_SIM_VARIANT={v:?}: the variants are legacy, omicron and fixed"
            ))
        })?],
        None => Variant::ALL.to_vec(),
    };
    Ok(Selection {
        seeds,
        variants,
        scenario: match var("INTENT_SIM_SCENARIO") {
            Some(name) => Some(
                crate::catalog::find(&name)
                    .map_err(|e| Error::usage(format!("INTENT_SIM_SCENARIO={name:?}: {e}")))?
                    .name,
            ),
            None => None,
        },
    })
}
