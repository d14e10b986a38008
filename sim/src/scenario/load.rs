//! Loading scenario files: parse, check, and expand cases into runs.
//!
//! Every problem is a [`ScenarioError`] whose one line names the file, the
//! line and column, the field, and what was expected; nothing a user writes
//! makes the loader panic.

use super::error::ScenarioError;
use super::locate::{FieldPath, Source};
use super::spec::{ScenarioSpec, Step, VariantExpectations};
use super::subst::{self, Vars};
use super::validate::{self, Ctx};
use std::path::{Path, PathBuf};

/// A checked scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's stem: what `cargo sim run <name>` takes.
    pub name: String,
    pub path: PathBuf,
    /// The file as written (before any case's vars are substituted).
    pub spec: ScenarioSpec,
    runs: Vec<ScenarioRun>,
    step_lines: Vec<Option<usize>>,
}

/// One run of a scenario: its timeline with one case's vars written in (or
/// the timeline as written, when the scenario has no cases).
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioRun {
    /// The case's name; `None` when the scenario has no cases.
    pub case: Option<String>,
    pub steps: Vec<Step>,
    /// The per-variant expectations, with the case's vars written into
    /// `must_reach` conditions.
    pub variants: VariantExpectations,
}

impl Scenario {
    /// One run per case, in file order; one run when there are no cases.
    /// (The swarm scenario has one run with no steps.)
    pub fn runs(&self) -> Vec<ScenarioRun> {
        self.runs.clone()
    }

    /// The line of the `index`th (0-based) step in the file, to point a
    /// reader at the step a run diverged on.
    pub fn step_line(&self, index: usize) -> Option<usize> {
        self.step_lines.get(index).copied().flatten()
    }

    /// Whether this is the swarm scenario (its plan is drawn from the seed).
    pub fn is_swarm(&self) -> bool {
        self.spec.swarm.is_some()
    }
}

/// Loads and checks one scenario file. Its name is the file's stem.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::file(path, format!("cannot read: {e}")))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    load_str(&name, path, &text)
}

/// Loads and checks a scenario from `text`; `path` names it in messages.
pub fn load_str(name: &str, path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source::parse(path, text)?;
    let spec: ScenarioSpec = toml::from_str(text).map_err(|e| src.serde_error(&e))?;
    validate::spec(&src, &spec)?;

    let mut runs = Vec::new();
    if spec.cases.is_empty() {
        runs.push(expand(&src, &spec, None)?);
    } else {
        for (i, case) in spec.cases.iter().enumerate() {
            let mut vars = Vars::new(Some(case));
            let run = expand_with(&src, &spec, Some(&case.name), &mut vars)?;
            if let Some(unused) = case.vars.keys().find(|v| !vars.used.contains(*v)) {
                let path = FieldPath::root()
                    .key("case")
                    .index(i)
                    .key("vars")
                    .key(unused);
                return Err(src.error(
                    &path,
                    format!("var `{unused}` is never used: no step writes `${{{unused}}}`"),
                ));
            }
            runs.push(run);
        }
    }

    let step_lines = (0..spec.steps.len())
        .map(|i| {
            src.span(&FieldPath::step(i))
                .map(|s| super::error::line_col(text, s.start).0)
        })
        .collect();
    Ok(Scenario {
        name: name.to_string(),
        path: path.to_path_buf(),
        spec,
        runs,
        step_lines,
    })
}

fn expand(
    src: &Source<'_>,
    spec: &ScenarioSpec,
    case: Option<&str>,
) -> Result<ScenarioRun, ScenarioError> {
    expand_with(src, spec, case, &mut Vars::new(None))
}

fn expand_with(
    src: &Source<'_>,
    spec: &ScenarioSpec,
    case: Option<&str>,
    vars: &mut Vars<'_>,
) -> Result<ScenarioRun, ScenarioError> {
    let steps = subst::steps(src, vars, &spec.steps)?;
    let variants = subst::variants(src, vars, &spec.variants)?;
    let ctx = Ctx { src, case };
    validate::run(&ctx, spec, &steps, &variants)?;
    Ok(ScenarioRun {
        case: case.map(str::to_string),
        steps,
        variants,
    })
}

/// Loads every `*.toml` in `dir`, sorted by file name. The first broken
/// file is the error.
pub fn discover(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ScenarioError::file(dir, format!("cannot read folder: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| ScenarioError::file(dir, format!("cannot read folder: {e}")))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| load_file(p)).collect()
}
