//! The known-upstream list (`known-upstream.toml` at the repository root):
//! behaviours a faithful model reproduces in every variant that are not
//! about intent, each with its omicron source or issue. A violation on it
//! is reported as known, not new. No entry may excuse
//! `no_unintended_restart`, `start_intent_honored` or
//! `auto_restart_respects_policy` in `fixed`; the loader refuses one.

use crate::checkers::Violation;
use model::variant::Variant;
use serde::Deserialize;

const FILE: &str = include_str!("../../known-upstream.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownUpstream {
    #[serde(rename = "entry")]
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub checker: String,
    /// The violation's mechanism (the part of its signature after `/`), or
    /// how it ends: checkers that name what kind of request was left
    /// unhonored begin the mechanism with it ("stop leaves a VMM present,
    /// ..."), and an entry names the part that says why.
    pub mechanism: String,
    /// The omicron source or issue.
    pub reference: String,
    pub variants: Vec<String>,
    /// The scenario that shows it.
    pub scenario: String,
    pub why: String,
}

/// Checkers that no entry may excuse in `fixed`.
const NEVER_EXCUSED_IN_FIXED: [&str; 3] = [
    "no_unintended_restart",
    "start_intent_honored",
    "auto_restart_respects_policy",
];

/// The committed list. It is part of the binary; a broken list is a bug
/// caught by this crate's tests.
pub fn list() -> KnownUpstream {
    let list: KnownUpstream = toml::from_str(FILE).expect("known-upstream.toml parses");
    for e in &list.entries {
        assert!(
            !(e.variants.iter().any(|v| v == "fixed")
                && NEVER_EXCUSED_IN_FIXED.contains(&e.checker.as_str())),
            "known-upstream.toml may not excuse {} in fixed",
            e.checker
        );
    }
    list
}

/// Splits violations into (known, new).
pub fn split(violations: Vec<Violation>, variant: Variant) -> (Vec<Violation>, Vec<Violation>) {
    let list = list();
    violations.into_iter().partition(|v| {
        list.entries.iter().any(|e| {
            e.checker == v.checker
                && v.mechanism.ends_with(&e.mechanism)
                && e.variants.iter().any(|x| x == variant.name())
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_loads_and_never_excuses_intent_checkers_in_fixed() {
        let list = super::list();
        assert!(!list.entries.is_empty());
    }
}
