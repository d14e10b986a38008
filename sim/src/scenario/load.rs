//! Loading scenario files: parse once into toml's spanned tree, then per
//! case write the vars in, nest steps and conditions into the plan enums'
//! form, deserialize the [`Plan`], and check what crosses fields. Every
//! problem is a [`ScenarioError`] naming file, line, column and field;
//! nothing a user writes makes the loader panic.

use super::error::ScenarioError;
use super::locate::{FieldPath, Source};
use super::names::{cut, is_case_name};
use super::subst::{is_var_name, Vars};
use super::{check, shape};
use crate::plan::Plan;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A checked scenario file: one plan per case.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's stem: what `cargo sim run <name>` takes.
    pub name: String,
    pub path: PathBuf,
    runs: Vec<ScenarioRun>,
    step_lines: Vec<usize>,
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

    /// The line of the `index`th (0-based) step in the file.
    pub fn step_line(&self, index: usize) -> Option<usize> {
        self.step_lines.get(index).copied()
    }

    /// Whether this is the swarm scenario (its plan is drawn from the seed).
    pub fn is_swarm(&self) -> bool {
        self.plan().is_swarm()
    }
}

/// Loads and checks one scenario file. Its name is the file's stem.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    // A missing file is `cannot read` (below); a folder is `not a file`.
    if path.exists() && !path.is_file() {
        return Err(ScenarioError::file(path, "not a file"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::file(path, format!("cannot read: {e}")))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    load_str(&name, path, &text)
}

/// A `[[case]]`: its name, its vars, and its own `[case.variants]`.
struct Case<'a> {
    name: String,
    vars: BTreeMap<String, Spanned<DeValue<'a>>>,
    variants: Option<DeTable<'a>>,
}

fn cases<'a>(src: &Source<'a>) -> Result<Vec<Case<'a>>, ScenarioError> {
    let Some(list) = src.root.get_ref().get("case") else {
        return Ok(Vec::new());
    };
    let DeValue::Array(list) = list.get_ref() else {
        return Err(src.error(&FieldPath::root().key("case"), "expected [[case]] tables"));
    };
    let mut out: Vec<Case<'a>> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = FieldPath::root().key("case").index(i);
        let DeValue::Table(t) = item.get_ref() else {
            return Err(src.error(&path, "expected a table with `name`, `vars` and `variants`"));
        };
        let mut case = Case {
            name: String::new(),
            vars: BTreeMap::new(),
            variants: None,
        };
        for (k, v) in t.iter() {
            let here = path.key(k.get_ref());
            match (k.get_ref().as_ref(), v.get_ref()) {
                ("name", DeValue::String(s)) if is_case_name(s) => case.name = s.to_string(),
                ("name", DeValue::String(s)) => {
                    return Err(src.error(&here, format!("{:?} is not a case name: expected letters, digits, '_', '-' and '.'", cut(s))))
                }
                ("vars", DeValue::Table(vars)) => {
                    for (var, value) in vars.iter() {
                        if !is_var_name(var.get_ref()) {
                            return Err(src.error(&here.key(var.get_ref()), format!("{:?} is not a var name: expected letters, digits and '_', not starting with a digit", cut(var.get_ref()))));
                        }
                        case.vars.insert(var.get_ref().to_string(), value.clone());
                    }
                }
                ("variants", DeValue::Table(v)) => case.variants = Some(v.clone()),
                (k, _) => {
                    return Err(src.error(&here, format!(
                        "{}: a case takes `name` (a string), `vars` (a table) and `variants` (a table)",
                        if matches!(k, "name" | "vars" | "variants") { "wrong type".to_string() } else { format!("unknown field `{}`{}", cut(k), super::names::did_you_mean(k, ["name", "vars", "variants"])) }
                    )))
                }
            }
        }
        if case.name.is_empty() {
            return Err(src.error(&path, "missing field `name`"));
        }
        if out.iter().any(|c| c.name == case.name) {
            return Err(src.error(
                &path.key("name"),
                format!("case {:?} is named twice", case.name),
            ));
        }
        out.push(case);
    }
    Ok(out)
}

/// Loads and checks a scenario from `text`; `path` names it in messages.
pub fn load_str(name: &str, path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source::parse(path, text)?;
    let cases = cases(&src)?;
    let mut runs = Vec::new();
    if cases.is_empty() {
        let none = BTreeMap::new();
        let vars = Vars {
            case: None,
            values: &none,
            used: Default::default(),
        };
        runs.push(ScenarioRun {
            case: None,
            plan: one_plan(&src, name, vars, None)?.0,
        });
    }
    for (i, case) in cases.iter().enumerate() {
        let vars = Vars {
            case: Some(&case.name),
            values: &case.vars,
            used: Default::default(),
        };
        let plan = one_plan(
            &src,
            &format!("{name}/{}", case.name),
            vars,
            case.variants.as_ref(),
        )?;
        runs.push(ScenarioRun {
            case: Some(case.name.clone()),
            plan: plan.0,
        });
        if let Some(unused) = case.vars.keys().find(|v| !plan.1.contains(*v)) {
            let path = FieldPath::root()
                .key("case")
                .index(i)
                .key("vars")
                .key(unused);
            return Err(src.error(
                &path,
                format!("var `{unused}` is never used: no field writes `${{{unused}}}`"),
            ));
        }
    }
    let step_lines = match src.root.get_ref().get("step").map(Spanned::get_ref) {
        Some(DeValue::Array(a)) => a
            .iter()
            .map(|s| super::error::line_col(text, s.span().start).0)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Scenario {
        name: name.to_string(),
        path: path.to_path_buf(),
        runs,
        step_lines,
    })
}

/// One case's plan, and the vars it used.
fn one_plan<'a>(
    src: &Source<'a>,
    name: &str,
    mut vars: Vars<'_, 'a>,
    case_variants: Option<&DeTable<'a>>,
) -> Result<(Plan, std::collections::BTreeSet<String>), ScenarioError> {
    let mut tree = src.root.clone();
    let root = tree.get_mut();
    root.remove("case");
    if let (Some(mine), Some(DeValue::Table(all))) = (
        case_variants,
        root.get_mut("variants").map(Spanned::get_mut),
    ) {
        for (k, v) in mine.iter() {
            all.insert(k.clone(), v.clone());
        }
    }
    let case = vars.case;
    // A field whose raw text uses a var names the case whose value was wrong.
    let field = |path: &FieldPath| match (path.render(), case) {
        (Some(f), Some(c)) if src.value_text(path).contains("${") => {
            Some(format!("{f} (case `{c}`)"))
        }
        (f, _) => f,
    };
    let placed = |(path, message): (FieldPath, String)| src.error_at(&path, field(&path), message);
    for (k, v) in root.iter_mut() {
        if k.get_ref() != "description" {
            vars.walk(v, &FieldPath::root().key(k.get_ref()))
                .map_err(placed)?;
        }
    }
    shape::nest(root).map_err(placed)?;
    let mut plan = Plan::deserialize(toml::de::Deserializer::from(tree)).map_err(|e| {
        let (span, path, message) = src.serde_error(&e);
        match span {
            Some(span) => ScenarioError::at(src.file, src.text, span.start, field(&path), message),
            None => ScenarioError::file(src.file, message),
        }
    })?;
    plan.name = name.to_string();
    check::plan(&plan).map_err(placed)?;
    Ok((plan, vars.used))
}

/// Every `*.toml` file in `dir`, sorted by name, each loaded or broken: one
/// broken file does not stop the others. A `*.toml` that is not a file is
/// reported as broken too.
pub fn discover(dir: &Path) -> Result<Vec<Result<Scenario, ScenarioError>>, ScenarioError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ScenarioError::file(dir, format!("cannot read folder: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| ScenarioError::file(dir, format!("cannot read folder: {e}")))?
            .path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths.iter().map(|p| load_file(p)).collect())
}
