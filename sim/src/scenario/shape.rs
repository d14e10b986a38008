//! A file writes a step's kind as whichever action key it sets
//! (`request = "stop"`, `fault = "crash"`, `wait = { state = ... }`), and a
//! condition's kind likewise. [`nest`] rewrites the parsed tree into the
//! externally tagged form the [`crate::plan`] enums derive (`{ action = {
//! request = {...} } }`), keeping every value's span so that serde's errors
//! still point into the file; [`to_toml`] writes a plan back, flat again.

use super::locate::{FieldPath, Problem};
use super::names::did_you_mean;
use crate::fault::{cut, Fault};
use crate::plan::{Action, Condition, Plan, PlanStep};
use std::borrow::Cow;
use std::ops::Range;
use strum::VariantNames;
use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

/// `a`, `b` or `c`.
fn keys(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// `{ <kind> = t }`, spanned at the kind's key.
fn tag<'a>(kind: Cow<'a, str>, span: Range<usize>, t: DeTable<'a>) -> DeTable<'a> {
    let value = Spanned::new(span.clone(), DeValue::Table(t));
    DeTable::from_iter([(Spanned::new(span, kind), value)])
}

/// Takes the table out of `t` and gives it back nested under the one kind
/// key of `kinds` it sets (`what`: how to say that it sets none).
fn nest_one<'a>(
    t: &mut DeTable<'a>,
    kinds: &[&'static str],
    path: &FieldPath,
    what: &str,
) -> Result<(&'static str, Range<usize>, DeTable<'a>), Problem> {
    let set: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| t.contains_key(*k))
        .collect();
    match set.as_slice() {
        [one] => Ok((one, t.get_key_value(*one).map_or(0..0, |(k, _)| k.span()), std::mem::take(t))),
        // A misspelt kind key (`reqest`) is named, with the kind it means.
        [] => Err(match t.keys().map(|k| (&**k.get_ref(), did_you_mean(k.get_ref(), kinds.iter().copied()))).find(|(_, hint)| !hint.is_empty()) {
            Some((k, hint)) => (path.key(k), format!("unknown field `{}`{hint} ({what}: expected one of {})", cut(k), keys(kinds))),
            None => (path.clone(), format!("{what}: expected one of {}", keys(kinds))),
        }),
        [first, second, ..] => Err((
            path.key(second),
            format!("this one also sets `{first}`: a step or condition does one thing; expected one of {}", keys(kinds)),
        )),
    }
}

fn condition(c: &mut Spanned<DeValue<'_>>, path: &FieldPath) -> Result<(), Problem> {
    if let DeValue::Table(t) = c.get_mut() {
        let (kind, span, inner) = nest_one(t, Condition::VARIANTS, path, "empty condition")?;
        *c = Spanned::new(span.clone(), DeValue::Table(tag(kind.into(), span, inner)));
    }
    Ok(())
}

/// Rewrites every step and `must_reach` condition of a file's tree.
pub(crate) fn nest(root: &mut DeTable<'_>) -> Result<(), Problem> {
    if let Some(DeValue::Array(steps)) = root.get_mut("step").map(Spanned::get_mut) {
        for (i, item) in steps.iter_mut().enumerate() {
            let path = FieldPath::step(i);
            let DeValue::Table(t) = item.get_mut() else {
                continue;
            };
            let at = t.remove_entry("at");
            let (kind, span, mut rest) = nest_one(t, Action::VARIANTS, &path, "no action")?;
            if kind == "fault" {
                let (_, name) = rest.remove_entry("fault").expect("the kind key is set");
                let DeValue::String(fault) = name.get_ref() else {
                    let message =
                        format!("expected a fault kind: one of {}", keys(Fault::VARIANTS));
                    return Err((path.key("fault"), message));
                };
                rest = tag(fault.clone(), name.span(), rest);
            }
            if let Some(c) = rest.get_mut("wait").filter(|_| kind == "wait") {
                condition(c, &path.key("wait"))?;
            }
            t.extend(at);
            let action = tag(kind.into(), span.clone(), rest);
            t.extend(tag("action".into(), span, action));
        }
    }
    if let Some(DeValue::Table(variants)) = root.get_mut("variants").map(Spanned::get_mut) {
        for (name, v) in variants.iter_mut() {
            let path = FieldPath::default().key("variants").key(name.get_ref());
            let DeValue::Table(v) = v.get_mut() else {
                continue;
            };
            if let Some(DeValue::Array(list)) = v.get_mut("must_reach").map(Spanned::get_mut) {
                for (j, c) in list.iter_mut().enumerate() {
                    condition(c, &path.key("must_reach").index(j))?;
                }
            }
        }
    }
    Ok(())
}

/// The plan as the text of a scenario file: the inverse of loading, so
/// that a drawn swarm plan or a shrunk one can be kept, read and run again
/// (`tests/roundtrip.rs`). A swarm plan's `[swarm]` knobs are dropped: its
/// steps are explicit.
pub fn to_toml(plan: &Plan) -> Result<String, String> {
    let plan = Plan {
        swarm: None,
        ..plan.clone()
    };
    let mut root = Table::try_from(&plan).map_err(|e| format!("cannot write the plan: {e}"))?;
    let steps = root.get_mut("step").and_then(Value::as_array_mut);
    steps
        .into_iter()
        .flatten()
        .filter_map(Value::as_table_mut)
        .for_each(flat);
    let variants = root.get_mut("variants").and_then(Value::as_table_mut);
    let variants = variants.into_iter().flatten();
    for list in variants.filter_map(|(_, v)| v.get_mut("must_reach")?.as_array_mut()) {
        for c in list.iter_mut() {
            *c = Value::Table(untag(Some(c.clone())).1);
        }
    }
    toml::to_string_pretty(&root).map_err(|e| format!("cannot write the plan: {e}"))
}

/// One step as a file writes it, as an inline table: the `plan:` lines of
/// a swarm trace, ready to paste into a scenario.
pub fn step_line(step: &PlanStep) -> String {
    match Table::try_from(step) {
        Ok(mut t) => {
            flat(&mut t);
            Value::Table(t).to_string()
        }
        Err(e) => format!("cannot write the step: {e}"),
    }
}

/// A step as serde writes it (`action = { <kind> = {...} }`), flat again.
fn flat(s: &mut Table) {
    let (kind, mut inner) = untag(s.remove("action"));
    if kind == "fault" {
        let (fault, fields) = untag(Some(Value::Table(std::mem::take(&mut inner))));
        s.insert("fault".into(), Value::String(fault));
        s.extend(fields);
    }
    if let Some(c) = inner.remove("wait") {
        s.insert("wait".into(), Value::Table(untag(Some(c)).1));
    }
    s.extend(inner);
}

/// An enum as serde writes it, `{ <tag> = { fields } }`: the tag and the
/// fields.
fn untag(v: Option<Value>) -> (String, Table) {
    let Some(Value::Table(t)) = v else {
        return Default::default();
    };
    match t.into_iter().next() {
        Some((tag, Value::Table(fields))) => (tag, fields),
        _ => Default::default(),
    }
}
