//! A file writes a step's kind as whichever action key it sets
//! (`request = "stop"`, `fault = "crash"`, `wait = { state = ... }`), and a
//! condition's kind likewise. [`nest`] rewrites the parsed tree into the
//! externally tagged form the [`crate::plan`] enums derive (`{ action = {
//! request = {...} } }`), keeping every value's span so that serde's errors
//! still point into the file; [`flatten`] is its inverse, for writing a plan
//! back as a file.

use super::locate::FieldPath;
use crate::fault::Fault;
use crate::plan::{Action, Condition};
use std::borrow::Cow;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

type Problem = (FieldPath, String);

fn keys(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// The one kind key of `t` among `kinds`.
fn kind_of(
    t: &DeTable<'_>,
    kinds: &[&'static str],
    path: &FieldPath,
    what: &str,
) -> Result<&'static str, Problem> {
    let set: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| t.contains_key(*k))
        .collect();
    match set.as_slice() {
        [one] => Ok(one),
        [] => Err((path.clone(), format!("{what}: expected one of {}", keys(kinds)))),
        [first, second, ..] => Err((
            path.key(second),
            format!("this one also sets `{first}`: a step or condition does one thing; expected one of {}", keys(kinds)),
        )),
    }
}

fn key(k: &'static str, span: std::ops::Range<usize>) -> Spanned<Cow<'static, str>> {
    Spanned::new(span, Cow::Borrowed(k))
}

/// `{ <kind> = t }`, spanned at the kind's key.
fn tag<'a>(kind: Spanned<Cow<'a, str>>, t: DeTable<'a>) -> Spanned<DeValue<'a>> {
    let span = kind.span();
    let mut outer = DeTable::new();
    outer.insert(kind, Spanned::new(span.clone(), DeValue::Table(t)));
    Spanned::new(span, DeValue::Table(outer))
}

fn key_span(t: &DeTable<'_>, k: &str) -> std::ops::Range<usize> {
    t.get_key_value(k).map_or(0..0, |(k, _)| k.span())
}

/// Rewrites every step and condition of a file's tree.
pub(crate) fn nest(root: &mut DeTable<'_>) -> Result<(), Problem> {
    if let Some(DeValue::Array(steps)) = root.get_mut("step").map(Spanned::get_mut) {
        for (i, item) in steps.iter_mut().enumerate() {
            if let DeValue::Table(t) = item.get_mut() {
                step(t, &FieldPath::step(i))?;
            }
        }
    }
    if let Some(DeValue::Table(variants)) = root.get_mut("variants").map(Spanned::get_mut) {
        for (name, v) in variants.iter_mut() {
            let path = FieldPath::root().key("variants").key(name.get_ref());
            if let DeValue::Table(v) = v.get_mut() {
                if let Some(DeValue::Array(list)) = v.get_mut("must_reach").map(Spanned::get_mut) {
                    for (j, c) in list.iter_mut().enumerate() {
                        condition(c, &path.key("must_reach").index(j))?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn step(t: &mut DeTable<'_>, path: &FieldPath) -> Result<(), Problem> {
    let kind = kind_of(t, &Action::KEYS, path, "no action")?;
    let span = key_span(t, kind);
    let at = t.remove_entry("at");
    let mut rest = std::mem::take(t);
    if kind == "fault" {
        let (fkey, fvalue) = rest.remove_entry("fault").expect("the kind key is set");
        let DeValue::String(name) = fvalue.get_ref() else {
            return Err((
                path.key("fault"),
                format!("expected a fault kind: one of {}", keys(&Fault::KINDS)),
            ));
        };
        let name = Spanned::new(fvalue.span(), name.clone());
        let _ = fkey;
        rest = match tag(name, rest).into_inner() {
            DeValue::Table(t) => t,
            _ => unreachable!("tag makes a table"),
        };
    }
    if kind == "wait" {
        if let Some(c) = rest.get_mut("wait") {
            condition(c, &path.key("wait"))?;
        }
    }
    let action = tag(key(kind, span.clone()), rest);
    if let Some((k, v)) = at {
        t.insert(k, v);
    }
    t.insert(key("action", span), action);
    Ok(())
}

fn condition(c: &mut Spanned<DeValue<'_>>, path: &FieldPath) -> Result<(), Problem> {
    let DeValue::Table(t) = c.get_mut() else {
        return Ok(());
    };
    let kind = kind_of(t, &Condition::KEYS, path, "empty condition")?;
    let span = key_span(t, kind);
    let inner = std::mem::take(t);
    *c = tag(key(kind, span), inner);
    Ok(())
}

/// The file form of a serialized plan: steps and conditions flat again.
pub(crate) fn flatten(root: &mut toml::Table) {
    if let Some(toml::Value::Array(steps)) = root.get_mut("step") {
        for s in steps.iter_mut().filter_map(toml::Value::as_table_mut) {
            let Some(toml::Value::Table(action)) = s.remove("action") else {
                continue;
            };
            for (kind, inner) in action {
                let toml::Value::Table(mut inner) = inner else {
                    continue;
                };
                if kind == "fault" {
                    for (fkind, fields) in std::mem::take(&mut inner) {
                        s.insert("fault".into(), toml::Value::String(fkind));
                        if let toml::Value::Table(fields) = fields {
                            s.extend(fields);
                        }
                    }
                }
                if let Some(c) = inner.get_mut("wait") {
                    flatten_condition(c);
                }
                s.extend(inner);
            }
        }
    }
    if let Some(toml::Value::Table(variants)) = root.get_mut("variants") {
        for (_, v) in variants.iter_mut() {
            let Some(v) = v.as_table_mut() else { continue };
            if let Some(toml::Value::Array(list)) = v.get_mut("must_reach") {
                list.iter_mut().for_each(flatten_condition);
            }
        }
    }
}

fn flatten_condition(c: &mut toml::Value) {
    if let toml::Value::Table(t) = c {
        if let Some((_, inner)) = t.iter().next() {
            *c = inner.clone();
        }
    }
}
