//! Where a field is in the file. The typed spec carries no positions, so the
//! file is also parsed into toml's spanned document tree; a field is found
//! there by its path (`step`, 3rd item, `host`), and a span that toml's
//! deserializer reports is turned back into a path.

use super::error::ScenarioError;
use std::fmt::Write as _;
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

impl FieldPath {
    pub(crate) fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// The `i`th (0-based) `[[step]]`.
    pub(crate) fn step(i: usize) -> FieldPath {
        FieldPath::root().key("step").index(i)
    }

    pub(crate) fn key(&self, key: &str) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    pub(crate) fn index(&self, i: usize) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// How an error names the field: `step 3 field `host``,
    /// `instance 2 field `name``, `field `variants.legacy.must_reach[1].state``.
    /// Every count starts at 1.
    pub(crate) fn render(&self) -> Option<String> {
        let (mut out, rest) = match self.0.as_slice() {
            [] => return None,
            [Seg::Key(table), Seg::Index(i), rest @ ..]
                if matches!(table.as_str(), "step" | "instance" | "case") =>
            {
                (format!("{table} {}", i + 1), rest)
            }
            all => (String::new(), all),
        };
        if rest.is_empty() {
            return Some(out);
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("field `");
        for (n, seg) in rest.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => out.push_str(k),
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{}]", i + 1);
                }
            }
        }
        out.push('`');
        Some(out)
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
        match DeTable::parse(text) {
            Ok(root) => Ok(Source { file, text, root }),
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                Err(ScenarioError::at(
                    file,
                    text,
                    offset,
                    None,
                    format!("invalid TOML: {}", e.message()),
                ))
            }
        }
    }

    /// An error at `path`'s position, naming `path`.
    pub(crate) fn error(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
        self.error_at(path, path.render(), message)
    }

    /// An error at `path`'s position (or the nearest enclosing field found),
    /// naming `field`.
    pub(crate) fn error_at(
        &self,
        path: &FieldPath,
        field: Option<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        match self.span(path) {
            Some(span) => ScenarioError::at(self.file, self.text, span.start, field, message),
            None => ScenarioError::unplaced(self.file, field, message),
        }
    }

    /// Maps an error of toml's deserializer to the same form as ours: the
    /// field whose span holds the error's, and the message with a "did you
    /// mean" where one applies.
    pub(crate) fn serde_error(
        &self,
        e: &toml::de::Error,
    ) -> (Option<Range<usize>>, FieldPath, String) {
        let message = super::names::suggest(&plain_types(e.message()));
        match e.span() {
            Some(span) => (Some(span.clone()), self.path_at(&span), message),
            None => (None, FieldPath::root(), message),
        }
    }

    /// Where `path` is: a key's own span when the path ends in a key (its
    /// line is the field's line), an item's span when it ends in a position.
    /// Falls back to the nearest enclosing field that exists.
    pub(crate) fn span(&self, path: &FieldPath) -> Option<Range<usize>> {
        self.lookup(path).into_iter().last().map(|(span, _)| span)
    }

    /// The raw text of the value at `path` (empty when not found).
    pub(crate) fn value_text(&self, path: &FieldPath) -> &'a str {
        let found = self.lookup(path);
        if found.len() != path.0.len() {
            return "";
        }
        found
            .last()
            .and_then(|(_, v)| self.text.get(v.span()))
            .unwrap_or_default()
    }

    /// Follows `path` as far as it exists: for each segment found, the
    /// span that names it (the key, or the item) and its value.
    fn lookup<'s>(&'s self, path: &FieldPath) -> Vec<(Range<usize>, &'s Spanned<DeValue<'a>>)> {
        let mut found: Vec<(Range<usize>, &'s Spanned<DeValue<'a>>)> = Vec::new();
        for seg in &path.0 {
            let here = found.last().map(|(_, v)| v.get_ref());
            let next = match (seg, here) {
                (Seg::Key(k), None) => find_key(self.root.get_ref(), k),
                (Seg::Key(k), Some(DeValue::Table(t))) => find_key(t, k),
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

    /// The path of the smallest key or value whose span holds `span`.
    pub(crate) fn path_at(&self, span: &Range<usize>) -> FieldPath {
        // The root's span is empty, at the start: an error there (a missing
        // top-level field) is about the whole file, not its first table.
        if *span == self.root.span() {
            return FieldPath::root();
        }
        let mut best: Option<(usize, FieldPath)> = None;
        walk_table(self.root.get_ref(), &FieldPath::root(), span, &mut best);
        best.map(|(_, p)| p).unwrap_or_default()
    }
}

/// serde names Rust types (`expected u64`); say what they accept.
fn plain_types(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, plain) in [
        ("expected u64", "expected a non-negative whole number"),
        ("expected u16", "expected a whole number 0..=65535"),
        ("expected u8", "expected a whole number 0..=255"),
    ] {
        if let Some(head) = m.strip_suffix(rust) {
            m = format!("{head}{plain}");
        }
    }
    m
}

fn find_key<'t, 'a>(
    t: &'t DeTable<'a>,
    k: &str,
) -> Option<(Range<usize>, &'t Spanned<DeValue<'a>>)> {
    t.iter()
        .find(|(key, _)| key.get_ref() == k)
        .map(|(key, v)| (key.span(), v))
}

fn holds(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn consider(
    candidate: &Range<usize>,
    path: &FieldPath,
    span: &Range<usize>,
    best: &mut Option<(usize, FieldPath)>,
) {
    if !holds(candidate, span) {
        return;
    }
    let len = candidate.end - candidate.start;
    // Smaller wins; on a tie the deeper path (visited later) wins.
    if best.as_ref().is_none_or(|(l, _)| len <= *l) {
        *best = Some((len, path.clone()));
    }
}

// Tables' spans are their headers only (`[[step]]`), so nothing is pruned:
// every key and value is considered.
fn walk_table(
    t: &DeTable<'_>,
    path: &FieldPath,
    span: &Range<usize>,
    best: &mut Option<(usize, FieldPath)>,
) {
    for (key, value) in t.iter() {
        let here = path.key(key.get_ref());
        consider(&value.span(), &here, span, best);
        consider(&key.span(), &here, span, best);
        walk_value(value.get_ref(), &here, span, best);
    }
}

fn walk_value(
    v: &DeValue<'_>,
    path: &FieldPath,
    span: &Range<usize>,
    best: &mut Option<(usize, FieldPath)>,
) {
    match v {
        DeValue::Table(t) => walk_table(t, path, span, best),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let here = path.index(i);
                consider(&item.span(), &here, span, best);
                walk_value(item.get_ref(), &here, span, best);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_with_counts_from_one() {
        assert_eq!(FieldPath::root().render(), None);
        assert_eq!(
            FieldPath::step(2).key("host").render().as_deref(),
            Some("step 3 field `host`")
        );
        assert_eq!(FieldPath::step(0).render().as_deref(), Some("step 1"));
        assert_eq!(
            FieldPath::step(0)
                .key("wait")
                .key("state")
                .render()
                .as_deref(),
            Some("step 1 field `wait.state`")
        );
        assert_eq!(
            FieldPath::root()
                .key("variants")
                .key("fixed")
                .key("must_reach")
                .index(0)
                .key("state")
                .render()
                .as_deref(),
            Some("field `variants.fixed.must_reach[1].state`")
        );
    }

    #[test]
    fn spans_and_paths_round_trip() {
        let text = "a = 1\n[[step]]\nhost = \"x\"\n[[step]]\nwait = { point = \"p\" }\n";
        let src = Source::parse(Path::new("t.toml"), text).unwrap();
        let host = FieldPath::step(0).key("host");
        let span = src.span(&host).unwrap();
        assert_eq!(&text[span.clone()], "host");
        assert_eq!(src.path_at(&span), host);
        let point = FieldPath::step(1).key("wait").key("point");
        let span = src.span(&point).unwrap();
        assert_eq!(&text[span], "point");
        assert_eq!(src.value_text(&point), "\"p\"");
        // A missing field falls back to the nearest enclosing one.
        let span = src.span(&FieldPath::step(1).key("nope")).unwrap();
        assert_eq!(&text[span], "[[step]]");
    }
}
