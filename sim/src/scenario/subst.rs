//! `${var}` substitution on the parsed tree, before deserializing, so any
//! field may take a case's var: a string that is exactly `${name}` becomes
//! the var's value (a number, a list, ...), and `${name}` inside a longer
//! string is replaced by its text. A `${name}` no var sets is an error, and
//! so is a var that nothing uses.

use super::locate::FieldPath;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use toml::de::DeValue;
use toml::Spanned;

type Problem = (FieldPath, String);

/// One case's vars, and which of them were used.
pub(crate) struct Vars<'v, 'a> {
    /// The case's name (`None`: the scenario has no cases).
    pub(crate) case: Option<&'v str>,
    pub(crate) values: &'v BTreeMap<String, Spanned<DeValue<'a>>>,
    pub(crate) used: BTreeSet<String>,
}

/// Whether `name` may name a var: letters, digits and `_`, not starting
/// with a digit.
pub(crate) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
                let s = s.to_string();
                let whole = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'));
                match whole.filter(|n| is_var_name(n)) {
                    Some(name) => {
                        *v = Spanned::new(
                            span,
                            self.value(name)
                                .map_err(|e| (path.clone(), e))?
                                .get_ref()
                                .clone(),
                        )
                    }
                    None => {
                        *v = Spanned::new(
                            span,
                            DeValue::String(Cow::Owned(
                                self.expand(&s).map_err(|e| (path.clone(), e))?,
                            )),
                        )
                    }
                }
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

    fn value(&mut self, name: &str) -> Result<&Spanned<DeValue<'a>>, String> {
        match self.values.get(name) {
            Some(v) => {
                self.used.insert(name.to_string());
                Ok(v)
            }
            None => Err(self.no_such_var(name)),
        }
    }

    /// Replaces every `${name}` in `s` with its var's text. Values are not
    /// expanded again.
    pub(crate) fn expand(&mut self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "unterminated `${{` in {s:?}: a var is written `${{name}}`"
                ));
            };
            let name = &after[..end];
            if !is_var_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a var name (letters, digits and `_`, not starting with a digit)"
                ));
            }
            match self.value(name)?.get_ref() {
                DeValue::String(v) => out.push_str(v),
                DeValue::Integer(i) => out.push_str(i.as_str()),
                DeValue::Boolean(b) => out.push_str(&b.to_string()),
                other => {
                    return Err(format!(
                        "var `{name}` is a {} and cannot be written inside a string",
                        other.type_str()
                    ))
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn no_such_var(&self, name: &str) -> String {
        let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
        let hint = super::names::did_you_mean(name, known.iter().copied());
        match self.case {
            None => format!("`${{{name}}}` names no var: this scenario has no [[case]] to set it"),
            Some(c) if known.is_empty() => {
                format!("`${{{name}}}` names no var: case `{c}` sets none")
            }
            Some(c) => format!(
                "`${{{name}}}` names no var{hint}: case `{c}` sets {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}
