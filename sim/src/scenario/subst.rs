//! `${var}` substitution on the parsed tree, before deserializing, so any
//! field may take a case's var: a string that is exactly `${name}` becomes
//! the var's value (a number, a list, ...), and `${name}` inside a longer
//! string is replaced by its text. A `${name}` no var sets is an error, and
//! so is a var that nothing uses (`load`).

use super::locate::{FieldPath, Problem};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use toml::de::DeValue;
use toml::Spanned;

/// One case's vars, and which of them were used.
pub(crate) struct Vars<'v, 'a> {
    /// The case's name (`None`: the scenario has no cases).
    pub(crate) case: Option<&'v str>,
    pub(crate) values: BTreeMap<String, DeValue<'a>>,
    pub(crate) used: BTreeSet<String>,
}

/// Whether `name` may name a var: letters, digits and `_`, not starting
/// with a digit.
pub(crate) fn is_var_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl<'a> Vars<'_, 'a> {
    /// Substitutes every string under `v` (whose path is `path`).
    pub(crate) fn walk(
        &mut self,
        v: &mut Spanned<DeValue<'a>>,
        path: &FieldPath,
    ) -> Result<(), Problem> {
        let span = v.span();
        match v.get_mut() {
            DeValue::String(s) if s.contains("${") => {
                let new = self.expand(s);
                *v = Spanned::new(span, new.map_err(|e| (path.clone(), e))?);
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.walk(item, &path.index(i))?;
                }
            }
            DeValue::Table(t) => {
                for (k, item) in t.iter_mut() {
                    self.walk(item, &path.key(k.get_ref()))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn value(&mut self, name: &str) -> Result<&DeValue<'a>, String> {
        if !self.values.contains_key(name) {
            let known: Vec<String> = self.values.keys().map(|k| format!("`{k}`")).collect();
            let hint = super::names::did_you_mean(name, self.values.keys().map(String::as_str));
            let sets = match self.case {
                None => "this scenario has no [[case]] to set it".to_string(),
                Some(c) if known.is_empty() => format!("case `{c}` sets none"),
                Some(c) => format!("case `{c}` sets {}", known.join(", ")),
            };
            let name = crate::fault::cut(name);
            return Err(format!("`${{{name}}}` names no var{hint}: {sets}"));
        }
        self.used.insert(name.to_string());
        Ok(&self.values[name])
    }

    /// `s` with every `${name}` replaced by its var's text, or the var's
    /// value itself when `s` is exactly `${name}`. Values are not expanded
    /// again.
    fn expand(&mut self, s: &str) -> Result<DeValue<'a>, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some((name, after)) = rest[start + 2..].split_once('}') else {
                let s = crate::fault::cut(s);
                let message = format!("unterminated `${{` in {s:?}: a var is written `${{name}}`");
                return Err(message);
            };
            if !is_var_name(name) {
                let name = crate::fault::cut(name);
                return Err(format!("`${{{name}}}` is not a var name (letters, digits and `_`, not starting with a digit)"));
            }
            match self.value(name)? {
                v if s.len() == name.len() + 3 => return Ok(v.clone()),
                DeValue::String(v) => out.push_str(v),
                DeValue::Integer(i) => out.push_str(i.as_str()),
                DeValue::Boolean(b) => out.push_str(&b.to_string()),
                other => {
                    let kind = other.type_str();
                    return Err(format!(
                        "var `{name}` is a {kind} and cannot be written inside a string"
                    ));
                }
            }
            rest = after;
        }
        out.push_str(rest);
        Ok(DeValue::String(Cow::Owned(out)))
    }
}
