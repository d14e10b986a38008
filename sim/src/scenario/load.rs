//! Loading scenario files: parse once into toml's spanned tree, then per
//! case write the vars in, nest steps and conditions into the plan enums'
//! form, deserialize the [`Plan`], and check what crosses fields. Every
//! problem is a [`ScenarioError`] naming file, line, column and field;
//! nothing a user writes makes the loader panic.

use super::error::ScenarioError;
use super::locate::{FieldPath, Source};
use super::names::is_case_name;
use super::subst::{is_var_name, Vars};
use super::{check, shape};
use crate::fault::cut;
use crate::plan::Plan;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

/// A checked scenario file: one plan per case.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's stem: what `cargo sim run <name>` takes.
    pub name: String,
    pub path: PathBuf,
    runs: Vec<ScenarioRun>,
}

/// One run of a scenario: a case's plan (or the plan, with no cases).
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioRun {
    /// The case's name; `None` when the scenario has no cases.
    pub case: Option<String>,
    pub plan: Plan,
}

impl Scenario {
    /// One run per case, in file order; one run when there are no cases.
    pub fn runs(&self) -> &[ScenarioRun] {
        &self.runs
    }

    /// The first run's plan (the file with its first case's vars).
    pub fn plan(&self) -> &Plan {
        &self.runs[0].plan
    }
}

/// A `[[case]]`: `name`, `vars` (each used by some field) and its own
/// `[case.variants]` (whole variants that replace the file's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default, rename = "vars")]
    _vars: BTreeMap<String, IgnoredAny>,
    #[serde(default, rename = "variants")]
    _variants: Option<BTreeMap<String, IgnoredAny>>,
}

/// Loads and checks one scenario file. Its name is the file's stem.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    // A missing file is `cannot read` (below); a folder is `not a file`.
    if path.exists() && !path.is_file() {
        return Err(ScenarioError::file(path, "not a file"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::file(path, format!("cannot read: {e}")))?;
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    load_str(&name, path, &text)
}

/// Loads and checks a scenario from `text`; `path` names it in messages.
pub fn load_str(name: &str, path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source::parse(path, text)?;
    let root = src.root.get_ref();
    let cases: Vec<Case> = match root.get("case") {
        Some(list) => Vec::deserialize(ValueDeserializer::from(list.clone()))
            .map_err(|e| src.serde_error(&e, FieldPath::render))?,
        None => Vec::new(),
    };
    // A file without cases runs once, as if it had one unnamed case.
    let all: Vec<Option<&Case>> = match cases.is_empty() {
        true => vec![None],
        false => cases.iter().map(Some).collect(),
    };
    let mut runs = Vec::new();
    for (i, case) in all.into_iter().enumerate() {
        let path = FieldPath::default().key("case").index(i);
        let case = case.map(|c| c.name.as_str());
        if let Some(c) = case.filter(|c| !is_case_name(c)) {
            let message = format!(
                "{:?} is not a case name: expected letters, digits, '_', '-' and '.'",
                cut(c)
            );
            return Err(src.error(&path.key("name"), message));
        }
        if let Some(c) = case.filter(|c| cases[..i].iter().any(|d| d.name == *c)) {
            return Err(src.error(&path.key("name"), format!("case {c:?} is named twice")));
        }
        let mut values = BTreeMap::new();
        for (k, v) in case_table(root, i, "vars").into_iter().flatten() {
            if !is_var_name(k.get_ref()) {
                let message = format!("{:?} is not a var name: expected letters, digits and '_', not starting with a digit", cut(k.get_ref()));
                return Err(src.error(&path.key("vars").key(k.get_ref()), message));
            }
            values.insert(k.get_ref().to_string(), v.get_ref().clone());
        }
        let used = Default::default();
        let mut vars = Vars { case, values, used };
        let full = case.map_or(name.to_string(), |c| format!("{name}/{c}"));
        let plan = one_plan(&src, full, &mut vars, case_table(root, i, "variants"))?;
        if let Some(unused) = vars.values.keys().find(|v| !vars.used.contains(*v)) {
            let (path, unused) = (path.key("vars").key(unused), cut(unused));
            let message = format!("var `{unused}` is never used: no field writes `${{{unused}}}`");
            return Err(src.error(&path, message));
        }
        runs.push(ScenarioRun {
            case: case.map(str::to_string),
            plan,
        });
    }
    Ok(Scenario {
        name: name.to_string(),
        path: path.to_path_buf(),
        runs,
    })
}

/// The raw table `key` of the `i`th case.
fn case_table<'t, 'a>(root: &'t DeTable<'a>, i: usize, key: &str) -> Option<&'t DeTable<'a>> {
    let item = root.get("case")?.get_ref().get(i)?.get_ref().get(key)?;
    item.get_ref().as_table()
}

/// One case's plan; `vars` records the vars it used.
fn one_plan<'a>(
    src: &Source<'a>,
    name: String,
    vars: &mut Vars<'_, 'a>,
    case_variants: Option<&DeTable<'a>>,
) -> Result<Plan, ScenarioError> {
    let mut tree = src.root.clone();
    let root = tree.get_mut();
    root.remove("case");
    if let (Some(mine), Some(DeValue::Table(all))) = (
        case_variants,
        root.get_mut("variants").map(Spanned::get_mut),
    ) {
        all.extend(mine.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    // A field whose raw text uses a var names the case whose value was wrong.
    let case = vars.case;
    let field = |path: &FieldPath| match (path.render(), case) {
        (Some(f), Some(c)) if src.value_text(path).contains("${") => {
            Some(format!("{f} (case `{c}`)"))
        }
        (f, _) => f,
    };
    let placed = |(path, message): (FieldPath, String)| src.error_at(&path, field(&path), message);
    for (k, v) in root
        .iter_mut()
        .filter(|(k, _)| k.get_ref() != "description")
    {
        vars.walk(v, &FieldPath::default().key(k.get_ref()))
            .map_err(placed)?;
    }
    shape::nest(root).map_err(placed)?;
    let mut plan = Plan::deserialize(toml::de::Deserializer::from(tree))
        .map_err(|e| src.serde_error(&e, field))?;
    plan.name = name;
    check::plan(&plan).map_err(placed)?;
    Ok(plan)
}

/// Every `*.toml` file in `dir`, sorted by name, each loaded or broken: one
/// broken file does not stop the others. A `*.toml` that is not a file is
/// reported as broken too.
pub fn discover(dir: &Path) -> Result<Vec<Result<Scenario, ScenarioError>>, ScenarioError> {
    let entries = std::fs::read_dir(dir).and_then(|d| d.map(|e| Ok(e?.path())).collect());
    let mut paths: Vec<PathBuf> =
        entries.map_err(|e| ScenarioError::file(dir, format!("cannot read folder: {e}")))?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    paths.sort();
    Ok(paths.iter().map(|p| load_file(p)).collect())
}
