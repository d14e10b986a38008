//! `${var}` substitution: a case's vars are written into every string field
//! of the steps (and of the `must_reach` conditions), so several cases can
//! share one timeline. A `${name}` that no var sets is an error, and so is a
//! var that the timeline never uses.

use super::error::ScenarioError;
use super::locate::{FieldPath, Source};
use super::spec::{Case, Condition, Expect, ExpectByVariant, ExpectOne, Step, VariantExpectations};
use std::collections::BTreeSet;

/// The vars of one run (a case, or none), and which of them were used.
pub(crate) struct Vars<'a> {
    case: Option<&'a Case>,
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

impl<'a> Vars<'a> {
    pub(crate) fn new(case: Option<&'a Case>) -> Vars<'a> {
        Vars {
            case,
            used: BTreeSet::new(),
        }
    }

    /// Replaces every `${name}` in `s` with its var's value. Values are not
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
            match self.case.and_then(|c| c.vars.get(name)) {
                Some(value) => {
                    self.used.insert(name.to_string());
                    out.push_str(value);
                }
                None => return Err(self.no_such_var(name)),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn no_such_var(&self, name: &str) -> String {
        match self.case {
            None => format!("`${{{name}}}` names no var: this scenario has no [[case]] to set it"),
            Some(c) if c.vars.is_empty() => {
                format!("`${{{name}}}` names no var: case `{}` sets none", c.name)
            }
            Some(c) => {
                let vars: Vec<String> = c.vars.keys().map(|k| format!("`{k}`")).collect();
                format!(
                    "`${{{name}}}` names no var: case `{}` sets {}",
                    c.name,
                    vars.join(", ")
                )
            }
        }
    }
}

/// The steps with `vars` written in.
pub(crate) fn steps(
    src: &Source<'_>,
    vars: &mut Vars<'_>,
    steps: &[Step],
) -> Result<Vec<Step>, ScenarioError> {
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let path = FieldPath::step(i);
        let mut s = step.clone();
        string(src, vars, &mut s.instance, &path.key("instance"))?;
        string(src, vars, &mut s.host, &path.key("host"))?;
        string(src, vars, &mut s.peer, &path.key("peer"))?;
        string(src, vars, &mut s.point, &path.key("point"))?;
        if let Some(expect) = &mut s.expect {
            let path = path.key("expect");
            match expect {
                Expect::One(one) => expect_one(src, vars, one, &path)?,
                Expect::Any(any) => expect_list(src, vars, any, &path)?,
                Expect::ByVariant(table) => {
                    for (variant, e) in table.iter_mut() {
                        let path = path.key(variant);
                        match e {
                            ExpectByVariant::One(one) => expect_one(src, vars, one, &path)?,
                            ExpectByVariant::Any(any) => expect_list(src, vars, any, &path)?,
                        }
                    }
                }
            }
        }
        if let Some(cond) = &mut s.wait {
            condition(src, vars, cond, &path.key("wait"))?;
        }
        out.push(s);
    }
    Ok(out)
}

/// The per-variant expectations with `vars` written into their
/// `must_reach` conditions.
pub(crate) fn variants(
    src: &Source<'_>,
    vars: &mut Vars<'_>,
    variants: &VariantExpectations,
) -> Result<VariantExpectations, ScenarioError> {
    let mut out = variants.clone();
    for (variant, e) in out.iter_mut() {
        let path = FieldPath::root()
            .key("variants")
            .key(variant.name())
            .key("must_reach");
        for (j, cond) in e.must_reach.iter_mut().enumerate() {
            condition(src, vars, cond, &path.index(j))?;
        }
    }
    Ok(out)
}

fn string(
    src: &Source<'_>,
    vars: &mut Vars<'_>,
    value: &mut Option<String>,
    path: &FieldPath,
) -> Result<(), ScenarioError> {
    if let Some(s) = value {
        *s = vars.expand(s).map_err(|m| src.error(path, m))?;
    }
    Ok(())
}

fn expect_one(
    src: &Source<'_>,
    vars: &mut Vars<'_>,
    one: &mut ExpectOne,
    path: &FieldPath,
) -> Result<(), ScenarioError> {
    if let ExpectOne::Word(w) = one {
        *w = vars.expand(w).map_err(|m| src.error(path, m))?;
    }
    Ok(())
}

fn expect_list(
    src: &Source<'_>,
    vars: &mut Vars<'_>,
    list: &mut [ExpectOne],
    path: &FieldPath,
) -> Result<(), ScenarioError> {
    for (j, one) in list.iter_mut().enumerate() {
        expect_one(src, vars, one, &path.index(j))?;
    }
    Ok(())
}

fn condition(
    src: &Source<'_>,
    vars: &mut Vars<'_>,
    c: &mut Condition,
    path: &FieldPath,
) -> Result<(), ScenarioError> {
    string(src, vars, &mut c.instance, &path.key("instance"))?;
    string(src, vars, &mut c.state, &path.key("state"))?;
    string(src, vars, &mut c.vmm_state, &path.key("vmm_state"))?;
    string(src, vars, &mut c.point, &path.key("point"))?;
    string(src, vars, &mut c.host, &path.key("host"))?;
    string(src, vars, &mut c.trace, &path.key("trace"))?;
    Ok(())
}
