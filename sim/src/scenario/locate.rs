//! Where a field is in the file. The typed plan carries no positions, so a
//! problem found across fields names its field by path (`step`, 3rd item,
//! `host`), found again in toml's spanned tree; a span that toml's
//! deserializer reports is turned back into a path the same way.

use super::error::ScenarioError;
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One segment of a field's path: a key, or a 0-based position in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// The path of a field from the document's root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Seg>);

/// A problem found in one field, and what is wrong with it.
pub(crate) type Problem = (FieldPath, String);

impl FieldPath {
    /// The `i`th (0-based) `[[step]]`.
    pub(crate) fn step(i: usize) -> FieldPath {
        FieldPath::default().key("step").index(i)
    }

    pub(crate) fn key(&self, key: &str) -> FieldPath {
        FieldPath([&self.0[..], &[Seg::Key(key.to_string())]].concat())
    }

    pub(crate) fn index(&self, i: usize) -> FieldPath {
        FieldPath([&self.0[..], &[Seg::Index(i)]].concat())
    }

    /// How an error names the field: `step 3 field `host``, `instance 2
    /// field `name``, `field `variants.legacy.must_reach[1].state``. Every
    /// count starts at 1.
    pub(crate) fn render(&self) -> Option<String> {
        let (head, rest) = match self.0.as_slice() {
            [] => return None,
            [Seg::Key(t), Seg::Index(i), rest @ ..]
                if matches!(t.as_str(), "step" | "instance" | "case") =>
            {
                (format!("{t} {}", i + 1), rest)
            }
            all => (String::new(), all),
        };
        let tail: String = (rest.iter().enumerate())
            .map(|(n, seg)| match seg {
                Seg::Key(k) if n == 0 => crate::fault::cut(k),
                Seg::Key(k) => format!(".{}", crate::fault::cut(k)),
                Seg::Index(i) => format!("[{}]", i + 1),
            })
            .collect();
        Some(match (head.is_empty(), tail.is_empty()) {
            (_, true) => head,
            (true, false) => format!("field `{tail}`"),
            (false, false) => format!("{head} field `{tail}`"),
        })
    }
}

/// A scenario file's text, its spanned document tree, and every field in
/// it: each key, list item and value, parents first, with its path, the
/// span that names it (a key's own, or the item's) and its value's span.
pub(crate) struct Source<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
    pub(crate) root: Spanned<DeTable<'a>>,
    fields: Vec<(FieldPath, Range<usize>, Range<usize>)>,
}

impl<'a> Source<'a> {
    /// Parses the TOML; a syntax error is reported at its position.
    pub(crate) fn parse(file: &'a Path, text: &'a str) -> Result<Source<'a>, ScenarioError> {
        let root = DeTable::parse(text).map_err(|e| {
            let message = format!("invalid TOML: {}", e.message());
            ScenarioError::at(file, text, e.span().unwrap_or(0..0), None, message)
        })?;
        let tree = DeValue::Table(root.get_ref().clone());
        let fields = list(&tree, &FieldPath::default());
        Ok(Source {
            file,
            text,
            root,
            fields,
        })
    }

    /// An error at `path`'s position, naming `path`.
    pub(crate) fn error(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
        self.error_at(path, path.render(), message.into())
    }

    /// An error at `path`'s position (or the nearest enclosing field that
    /// exists): a key's own span when the path ends in a key, an item's when
    /// it ends in a position. It names `field`.
    pub(crate) fn error_at(
        &self,
        path: &FieldPath,
        field: Option<String>,
        message: String,
    ) -> ScenarioError {
        let segs = &path.0;
        let found = (1..=segs.len()).rev().find_map(|n| self.field(&segs[..n]));
        match found {
            Some((_, span, _)) => {
                ScenarioError::at(self.file, self.text, span.clone(), field, message)
            }
            None => ScenarioError {
                field,
                ..ScenarioError::file(self.file, message)
            },
        }
    }

    /// An error of toml's deserializer in the same form as ours: at the
    /// field of the smallest key or value whose span holds the error's
    /// (named by `field`; on a tie the deeper), with "did you mean" where
    /// one applies. The root's span is empty, at the start: an error there
    /// (a missing top-level field) is about the whole file.
    pub(crate) fn serde_error(
        &self,
        e: &toml::de::Error,
        field: impl Fn(&FieldPath) -> Option<String>,
    ) -> ScenarioError {
        let message = super::names::suggest(&plain_types(e.message()));
        let Some(span) = e.span() else {
            return ScenarioError::file(self.file, message);
        };
        let mut best = (usize::MAX, FieldPath::default());
        let fields = if span == self.root.span() {
            &[][..]
        } else {
            &self.fields
        };
        for (path, name, value) in fields {
            for c in [value, name] {
                if c.start <= span.start && span.end <= c.end && c.len() <= best.0 {
                    best = (c.len(), path.clone());
                }
            }
        }
        ScenarioError::at(self.file, self.text, span, field(&best.1), message)
    }

    /// The raw text of the value at `path` (empty when not found).
    pub(crate) fn value_text(&self, path: &FieldPath) -> &'a str {
        let found = self.field(&path.0).map(|(_, _, value)| value.clone());
        found.and_then(|v| self.text.get(v)).unwrap_or_default()
    }

    fn field(&self, path: &[Seg]) -> Option<&(FieldPath, Range<usize>, Range<usize>)> {
        self.fields.iter().find(|(p, ..)| p.0 == path)
    }
}

/// Every key, item and value under `v` (at `path`), parents first.
fn list(v: &DeValue<'_>, path: &FieldPath) -> Vec<(FieldPath, Range<usize>, Range<usize>)> {
    let children: Vec<(FieldPath, Range<usize>, &Spanned<DeValue<'_>>)> = match v {
        DeValue::Table(t) => (t.iter())
            .map(|(k, v)| (path.key(k.get_ref()), k.span(), v))
            .collect(),
        DeValue::Array(a) => (a.iter().enumerate())
            .map(|(i, v)| (path.index(i), v.span(), v))
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (here, name, v) in children {
        out.push((here.clone(), name, v.span()));
        out.extend(list(v.get_ref(), &here));
    }
    out
}

/// serde names Rust types (`expected u64`); say what they accept.
fn plain_types(message: &str) -> String {
    let plain = [("expected u64", "expected a non-negative whole number")];
    for (rust, plain) in plain {
        if let Some(head) = message.strip_suffix(rust) {
            return format!("{head}{plain}");
        }
    }
    message.to_string()
}
