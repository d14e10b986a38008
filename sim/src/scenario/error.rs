//! The one error a broken scenario file gets: one line that names the file,
//! the line and column, the field, and what was expected; on a terminal
//! also a source excerpt, drawn by annotate-snippets.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A scenario file that cannot be used, and why. `Display` writes one line:
///
/// ```text
/// scenarios/foo.toml:12:1: step 3 field `host`: unknown host "nexus-7" (...)
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, as the caller named it.
    pub file: PathBuf,
    /// 1-based line and column (in characters) of the offending text, when known.
    pub position: Option<(usize, usize)>,
    /// Which field: `step 3 field `host``, `field `topology.nexus``, ...
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
    /// The file's text and the offending bytes, for [`ScenarioError::excerpt`].
    pub(crate) source: Option<Box<(Arc<str>, Range<usize>)>>,
}

impl ScenarioError {
    /// An error about the whole file (it cannot be read, or lacks steps).
    /// Whitespace runs in `message` become one space: the error is one line.
    pub fn file(file: &Path, message: impl Into<String>) -> ScenarioError {
        let message: String = message.into();
        ScenarioError {
            file: file.to_path_buf(),
            message: message.split_whitespace().collect::<Vec<_>>().join(" "),
            ..Default::default()
        }
    }

    /// An error at bytes `span` of `text`.
    pub(crate) fn at(
        file: &Path,
        text: &str,
        span: Range<usize>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let mut start = span.start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let before = &text[..start];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        let end = span.end.clamp(start, text.len());
        ScenarioError {
            position: Some((before.matches('\n').count() + 1, col)),
            field,
            source: Some(Box::new((text.into(), start..end))),
            ..ScenarioError::file(file, message)
        }
    }

    /// The error as annotate-snippets draws it: the one line as its title,
    /// then the file's lines around the offending text, marked. `None`
    /// when the position is unknown. `styled` adds the terminal's colours.
    pub fn excerpt(&self, styled: bool) -> Option<String> {
        use annotate_snippets::{Level, Renderer, Snippet};
        let (text, span) = self.source.as_deref()?;
        let origin = self.file.display().to_string();
        let label = self.field.as_deref().unwrap_or("here");
        let message = Level::Error.title(&self.message).snippet(
            Snippet::source(text)
                .origin(&origin)
                .fold(true)
                .annotation(Level::Error.span(span.clone()).label(label)),
        );
        let renderer = if styled {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let out = renderer.render(message).to_string();
        Some(out)
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}
