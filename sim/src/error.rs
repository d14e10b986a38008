//! The library's one error type. Every failure a user can cause (a bad
//! flag value, a broken or missing scenario file, an unknown case, an
//! unreadable results file) is one of these, and its `Display` is one line
//! that says what is accepted; the binary prints it as `error: ...` and
//! exits 2 (design section 1).

use crate::scenario::ScenarioError;
use std::path::PathBuf;

/// What went wrong, in one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line value that does not parse (a seed, a range, a shard).
    #[error("{0}")]
    Usage(String),
    /// The built-in known-upstream list is broken (it does not parse, or
    /// excuses an intent checker in `fixed`; issue 8).
    #[error(transparent)]
    KnownUpstream(#[from] crate::known_upstream::LoadError),
    /// A scenario file that cannot be used.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// No scenario of that name in the folder.
    #[error("unknown scenario {name:?}; the scenarios are: {known}")]
    UnknownScenario {
        /// What the user asked for.
        name: String,
        /// The scenarios there are, comma-separated.
        known: String,
    },
    /// A scenario with cases asked for a case it does not have.
    #[error("scenario {scenario} has no case {case:?}; its cases are: {known}")]
    UnknownCase {
        /// The scenario.
        scenario: String,
        /// What the user asked for.
        case: String,
        /// The cases there are, comma-separated.
        known: String,
    },
    /// A scenario's timeline could not be turned into a plan.
    #[error("scenario {scenario}: {message}")]
    Plan {
        /// The scenario (and case).
        scenario: String,
        /// Why.
        message: String,
    },
    /// No scenario folder was named and none was found.
    #[error("no scenarios/ folder found in {searched} or their parents; name one with --scenarios DIR (or INTENT_SIM_SCENARIOS)")]
    NoScenarioFolder {
        /// The places searched.
        searched: String,
    },
    /// A file that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A results or regressions file whose line does not parse.
    #[error("{}:{line}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// `run --db --at`: the moment asked for is after the run's end.
    #[error("--at {at} is after the end of {run}, which ended at {ended} of virtual time; give --at from 0 up to that")]
    AtAfterEnd {
        /// The moment asked for (virtual time).
        at: model::ids::Millis,
        /// The run: scenario (and case), variant, seed.
        run: String,
        /// When the run ended (virtual time).
        ended: model::ids::Millis,
    },
    /// `RUST_LOG` does not parse.
    #[error("{0}")]
    Log(String),
}

/// The library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A usage error from a message.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
