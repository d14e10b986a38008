//! Found failures kept as regressions, in the spirit of proptest's
//! regression files: `sweep --save-failures FILE` appends each unexpected
//! run (scenario, case, variant, seed, what fired, build) to a TOML file;
//! the committed `regressions.toml` is replayed by `cargo test`. An entry
//! marked `open = true` is a known bug: it must still fail the same way
//! (when it stops failing, mark it fixed). Any other entry must now run as
//! its scenario expects.

use crate::catalog;
use crate::error::{Error, Result};
use crate::results::RunResult;
use crate::verdict::RunReport;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One saved failure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The scenario as a command line names it (a name or a path).
    pub scenario: String,
    /// The case, when the scenario has cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// legacy, omicron or fixed.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// What fired: a checker's name, or `crashed`, `diverged`, `hung`,
    /// `missing` (an expected checker did not fire); `unrecorded` for a
    /// fixed failure kept from before this file (its checker was not
    /// written down).
    pub checker: String,
    /// The build that found it (`git describe`).
    pub build: String,
    /// Still failing: replay expects the same failure.
    #[serde(default)]
    pub open: bool,
    /// Why it is kept, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegressionFile {
    #[serde(default)]
    regression: Vec<Entry>,
}

/// What a failed run is first known by.
fn what_fired(verdict: &str, violated: &[String]) -> String {
    match verdict {
        "violated" => violated
            .first()
            .cloned()
            .unwrap_or_else(|| "missing".into()),
        "held" => "missing".into(),
        other => other.to_string(),
    }
}

impl Entry {
    /// The entry an unexpected run is saved as (open: it fails today).
    pub fn of(r: &RunResult, build: &str) -> Entry {
        let violated: Vec<String> = r.violated.iter().map(|f| f.checker.clone()).collect();
        Entry {
            scenario: r.scenario.clone(),
            case: r.case.clone(),
            variant: r.variant.clone(),
            seed: r.seed,
            checker: what_fired(&r.verdict, &violated),
            build: build.to_string(),
            open: true,
            note: None,
        }
    }

    /// The command that reproduces it.
    pub fn repro(&self) -> String {
        crate::verdict::repro_command(
            &self.scenario,
            self.case.as_deref(),
            self.seed,
            &self.variant,
            "",
        )
    }

    /// Replays the entry. `Ok(None)` when it behaves as the entry says
    /// (open: fails the same way; fixed: runs as expected), else what it
    /// did instead.
    pub fn replay(&self) -> Result<Option<String>> {
        let s = catalog::find(&self.scenario)?;
        let variant = crate::cli::parse_variant(&self.variant)?;
        let (r, _) = catalog::run(&s, self.case.as_deref(), variant, self.seed)?;
        Ok(self.judge(&r))
    }

    fn judge(&self, r: &RunReport) -> Option<String> {
        let violated: Vec<String> = r.fired_new().into_iter().collect();
        let fired = r.verdict().name() == self.checker
            || violated.contains(&self.checker)
            || (self.checker == "missing" && r.mismatch().is_some());
        match (self.open, r.matches_expectation(), fired) {
            (true, false, true) | (false, true, _) => None,
            (true, _, _) => Some(format!(
                "open regression no longer fails with {} (verdict {}): mark it fixed (open = false) in regressions.toml",
                self.checker,
                r.verdict()
            )),
            (false, false, _) => Some(format!(
                "fixed regression fails again: {}",
                r.mismatch().unwrap_or_default()
            )),
        }
    }
}

/// Reads a regressions file (a missing file has no entries).
pub fn load(path: &Path) -> Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let file: RegressionFile = toml::from_str(&text).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        line: e
            .span()
            .map_or(1, |s| text[..s.start].matches('\n').count() + 1),
        message: format!(
            "{}; an entry is [[regression]] with scenario, variant, seed, checker, build (case, open, note optional)",
            e.message()
        ),
    })?;
    Ok(file.regression)
}

/// Checks before a sweep that `path` can take [`append`]'s entries: an
/// existing file must load, and the file must open for appending (it is
/// created empty if missing). Errors: the file's, as [`load`] and
/// [`append`] give them.
pub fn check_appendable(path: &Path) -> Result<()> {
    load(path)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| Error::io(path, e))
}

/// Appends entries to a regressions file (creating it), skipping any whose
/// (scenario, case, variant, seed) is already there.
pub fn append(path: &Path, entries: &[Entry]) -> Result<()> {
    let have = load(path)?;
    let key = |e: &Entry| {
        (
            e.scenario.clone(),
            e.case.clone(),
            e.variant.clone(),
            e.seed,
        )
    };
    let mut text = String::new();
    for e in entries {
        if have.iter().any(|h| key(h) == key(e)) {
            continue;
        }
        let one = RegressionFile {
            regression: vec![e.clone()],
        };
        text.push('\n');
        text.push_str(&toml::to_string(&one).expect("an entry serialises"));
    }
    if text.is_empty() {
        return Ok(());
    }
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
}
