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
                Seg::Key(k) if n == 0 => k.clone(),
                Seg::Key(k) => format!(".{k}"),
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

/// A scenario file's text and its spanned document tree.
pub(crate) struct Source<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
    pub(crate) root: Spanned<DeTable<'a>>,
}

impl<'a> Source<'a> {
    /// Parses the TOML; a syntax error is reported at its position.
    pub(crate) fn parse(file: &'a Path, text: &'a str) -> Result<Source<'a>, ScenarioError> {
        let root = DeTable::parse(text).map_err(|e| {
            let message = format!("invalid TOML: {}", e.message());
            ScenarioError::at(file, text, e.span().unwrap_or(0..0), None, message)
        })?;
        Ok(Source { file, text, root })
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
        match self.lookup(path).last() {
            Some((span, _)) => {
                ScenarioError::at(self.file, self.text, span.clone(), field, message)
            }
            None => ScenarioError {
                field,
                ..ScenarioError::file(self.file, message)
            },
        }
    }

    /// An error of toml's deserializer in the same form as ours: at the
    /// field whose span holds the error's (named by `field`), with "did you
    /// mean" where one applies.
    pub(crate) fn serde_error(
        &self,
        e: &toml::de::Error,
        field: impl Fn(&FieldPath) -> Option<String>,
    ) -> ScenarioError {
        let message = super::names::suggest(&plain_types(e.message()));
        match e.span() {
            Some(span) => {
                let path = self.path_at(&span);
                ScenarioError::at(self.file, self.text, span, field(&path), message)
            }
            None => ScenarioError::file(self.file, message),
        }
    }

    /// The raw text of the value at `path` (empty when not found).
    pub(crate) fn value_text(&self, path: &FieldPath) -> &'a str {
        match self.lookup(path) {
            found if found.len() == path.0.len() => found
                .last()
                .and_then(|(_, v)| self.text.get(v.span()))
                .unwrap_or_default(),
            _ => "",
        }
    }

    /// Follows `path` as far as it exists: for each segment found, the
    /// span that names it (the key, or the item) and its value.
    fn lookup<'s>(&'s self, path: &FieldPath) -> Vec<(Range<usize>, &'s Spanned<DeValue<'a>>)> {
        let mut found: Vec<(Range<usize>, &'s Spanned<DeValue<'a>>)> = Vec::new();
        for seg in &path.0 {
            let next = match (seg, found.last().map(|(_, v)| v.get_ref())) {
                (Seg::Key(k), None) => key(self.root.get_ref(), k),
                (Seg::Key(k), Some(DeValue::Table(t))) => key(t, k),
                (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i).map(|v| (v.span(), v)),
                _ => None,
            };
            match next {
                Some(n) => found.push(n),
                None => break,
            }
        }
        found
    }

    /// The path of the smallest key or value whose span holds `span`. The
    /// root's span is empty, at the start: an error there (a missing
    /// top-level field) is about the whole file.
    fn path_at(&self, span: &Range<usize>) -> FieldPath {
        let mut best = (usize::MAX, FieldPath::default());
        if *span != self.root.span() {
            let root = DeValue::Table(self.root.get_ref().clone());
            walk(&root, &FieldPath::default(), span, &mut best);
        }
        best.1
    }
}

fn key<'t, 'a>(t: &'t DeTable<'a>, k: &str) -> Option<(Range<usize>, &'t Spanned<DeValue<'a>>)> {
    t.get_key_value(k).map(|(k, v)| (k.span(), v))
}

/// Visits every key, item and value under `v` (tables' own spans are their
/// headers only, so nothing is pruned). Smaller wins; on a tie the deeper
/// path, visited later.
fn walk(v: &DeValue<'_>, path: &FieldPath, span: &Range<usize>, best: &mut (usize, FieldPath)) {
    let children: Vec<(FieldPath, Vec<Range<usize>>, &DeValue<'_>)> = match v {
        DeValue::Table(t) => (t.iter())
            .map(|(k, v)| (path.key(k.get_ref()), vec![v.span(), k.span()], v.get_ref()))
            .collect(),
        DeValue::Array(a) => (a.iter().enumerate())
            .map(|(i, v)| (path.index(i), vec![v.span()], v.get_ref()))
            .collect(),
        _ => Vec::new(),
    };
    for (here, candidates, v) in children {
        for c in candidates {
            if c.start <= span.start && span.end <= c.end && c.len() <= best.0 {
                *best = (c.len(), here.clone());
            }
        }
        walk(v, &here, span, best);
    }
}

/// serde names Rust types (`expected u64`); say what they accept.
fn plain_types(message: &str) -> String {
    let plain = [
        ("expected u64", "expected a non-negative whole number"),
        ("expected u16", "expected a whole number 0..=65535"),
        ("expected u8", "expected a whole number 0..=255"),
    ];
    for (rust, plain) in plain {
        if let Some(head) = message.strip_suffix(rust) {
            return format!("{head}{plain}");
        }
    }
    message.to_string()
}
