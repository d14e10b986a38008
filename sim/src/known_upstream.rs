//! The known-upstream list (`known-upstream.toml` at the repository root):
//! behaviours a faithful model reproduces in every variant that are not
//! about intent, each with its omicron source or issue. A violation on it
//! is reported as known, not new. No entry may excuse an intent checker
//! (`stop_intent_honored`, `start_intent_honored`, `no_unintended_restart`,
//! `no_orphan_vmm`, `auto_restart_respects_policy`) in `fixed`: `fixed` is
//! the variant that must keep the user's intent, so a known omicron
//! mechanism that breaks it there is a gap `fixed` must close, not excuse.
//! The loader refuses such an entry (issue 8).

use crate::checkers::Violation;
use model::variant::Variant;
use serde::Deserialize;
use std::fmt;
use std::sync::OnceLock;

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

/// Checkers that no entry may excuse in `fixed`: the intent checkers.
pub const NEVER_EXCUSED_IN_FIXED: [&str; 5] = [
    "stop_intent_honored",
    "start_intent_honored",
    "no_unintended_restart",
    "no_orphan_vmm",
    "auto_restart_respects_policy",
];

/// Why a known-upstream list was refused.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LoadError {
    /// The TOML does not parse into entries (the parser's message).
    Parse(String),
    /// Entry `index` (from 1, in file order) excuses an intent checker in
    /// `fixed`.
    ExcusesIntentInFixed {
        index: usize,
        checker: String,
        mechanism: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Parse(m) => write!(f, "known-upstream.toml: {m}"),
            LoadError::ExcusesIntentInFixed {
                index,
                checker,
                mechanism,
            } => write!(
                f,
                "known-upstream.toml entry {index} ({checker}/{mechanism}): may not list \"fixed\" \
                 in variants: {checker} is an intent checker, and fixed must honor intent \
                 (never excused in fixed: {})",
                NEVER_EXCUSED_IN_FIXED.join(", ")
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Parses a known-upstream list and refuses one that excuses an intent
/// checker in `fixed`.
pub fn parse(text: &str) -> Result<KnownUpstream, LoadError> {
    let list: KnownUpstream = toml::from_str(text).map_err(|e| LoadError::Parse(e.to_string()))?;
    for (i, e) in list.entries.iter().enumerate() {
        if e.variants.iter().any(|v| v == "fixed")
            && NEVER_EXCUSED_IN_FIXED.contains(&e.checker.as_str())
        {
            return Err(LoadError::ExcusesIntentInFixed {
                index: i + 1,
                checker: e.checker.clone(),
                mechanism: e.mechanism.clone(),
            });
        }
    }
    Ok(list)
}

/// The committed list, parsed once. It is part of the binary (edited, it
/// takes a rebuild): `cargo sim` calls this before any command, so a
/// broken list is one `error:` line and exit 2, not a panic in every run.
///
/// # Errors
/// The list does not parse, or excuses an intent checker in `fixed`.
pub fn load() -> Result<&'static KnownUpstream, LoadError> {
    static LIST: OnceLock<Result<KnownUpstream, LoadError>> = OnceLock::new();
    LIST.get_or_init(|| parse(FILE))
        .as_ref()
        .map_err(Clone::clone)
}

/// The committed list, for a run. Panics on a broken list: `cargo sim`
/// has refused to start with one ([`load`]), and this crate's tests load
/// it.
pub fn list() -> &'static KnownUpstream {
    load().unwrap_or_else(|e| panic!("{e}"))
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
    use super::*;

    #[test]
    fn the_list_loads_and_never_excuses_intent_checkers_in_fixed() {
        let list = super::list();
        assert!(!list.entries.is_empty());
    }

    fn entry(checker: &str, variants: &str) -> String {
        format!(
            "[[entry]]\nchecker = \"resources_released\"\nmechanism = \"x\"\nreference = \"r\"\n\
             variants = [\"omicron\"]\nscenario = \"s\"\nwhy = \"w\"\n\n\
             [[entry]]\nchecker = \"{checker}\"\nmechanism = \"leaves a VMM present\"\n\
             reference = \"r\"\nvariants = {variants}\nscenario = \"s\"\nwhy = \"w\"\n"
        )
    }

    /// An entry excusing stop_intent_honored (or any intent checker) in
    /// fixed is refused with a message naming the entry and the rule.
    #[test]
    fn an_entry_excusing_an_intent_checker_in_fixed_is_refused() {
        for checker in NEVER_EXCUSED_IN_FIXED {
            let err = parse(&entry(checker, "[\"omicron\", \"fixed\"]")).unwrap_err();
            assert_eq!(
                err,
                LoadError::ExcusesIntentInFixed {
                    index: 2,
                    checker: checker.to_string(),
                    mechanism: "leaves a VMM present".to_string()
                }
            );
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!(
                    "known-upstream.toml entry 2 ({checker}/leaves a VMM present): may not list \"fixed\""
                )),
                "{msg}"
            );
        }
        // The same entry for omicron alone loads.
        let ok = parse(&entry("stop_intent_honored", "[\"omicron\", \"legacy\"]")).unwrap();
        assert_eq!(ok.entries.len(), 2);
    }
}
