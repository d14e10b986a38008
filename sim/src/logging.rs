//! `RUST_LOG` for `cargo sim run` (design section 5: it adds detail as
//! users expect). With `RUST_LOG` set, a `tracing-subscriber` fmt
//! subscriber writes the matching events to stderr for the duration of the
//! run, so the report on stdout stays as it was:
//!
//! ```text
//! RUST_LOG=intent_sim::model=debug cargo sim run swarm --seed 7   # the model's events
//! RUST_LOG=turmoil=trace cargo sim run swarm --seed 7             # every packet
//! ```
//!
//! The subscriber is the current thread's default (`set_default`), not the
//! global one: a simulation runs on one thread, and nothing outside the run
//! is logged. It has no timer: the wall clock means nothing inside a run,
//! and the model's lines name their host (the turmoil `node` span does too).
//! No ANSI colours, so the output can be piped and grepped.

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::EnvFilter;

/// What `RUST_LOG` accepts, for the error an unparsable value gets.
const ACCEPTED: &str = "RUST_LOG takes tracing directives such as \
    intent_sim::model=debug, turmoil=trace or debug, separated by commas";

/// Installs the `RUST_LOG` subscriber on this thread until the guard drops.
/// `Ok(None)` when `RUST_LOG` is unset or empty; an error (one line) when it
/// does not parse.
pub fn from_env() -> Result<Option<DefaultGuard>, String> {
    match std::env::var("RUST_LOG") {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => install(&v).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("RUST_LOG is not UTF-8; {ACCEPTED}")),
    }
}

/// Installs a subscriber for the directives `filter` on this thread.
pub fn install(filter: &str) -> Result<DefaultGuard, String> {
    let filter = EnvFilter::builder()
        .parse(filter)
        .map_err(|e| format!("bad RUST_LOG {filter:?}: {e}; {ACCEPTED}"))?;
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .finish();
    Ok(tracing::subscriber::set_default(subscriber))
}
