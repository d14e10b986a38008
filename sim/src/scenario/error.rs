//! The one error a broken scenario file gets: one line that names the file,
//! the line and column, the field, and what was expected.

use std::fmt;
use std::path::{Path, PathBuf};

/// A scenario file that cannot be used, and why. `Display` writes one line:
///
/// ```text
/// scenarios/foo.toml:12:1: step 3 field `host`: unknown host "nexus-7" (...)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, as the caller named it.
    pub file: PathBuf,
    /// 1-based line and column of the offending text, when known.
    pub position: Option<(usize, usize)>,
    /// Which field: `step 3 field `host``, `field `topology.nexus``, ...
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ScenarioError {
    /// An error about the whole file (it cannot be read, or lacks steps).
    pub fn file(file: &Path, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: file.to_path_buf(),
            position: None,
            field: None,
            message: one_line(&message.into()),
        }
    }

    /// An error about `field`, whose position is unknown.
    pub(crate) fn unplaced(
        file: &Path,
        field: Option<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: file.to_path_buf(),
            position: None,
            field,
            message: one_line(&message.into()),
        }
    }

    /// An error at byte `offset` of `text`.
    pub(crate) fn at(
        file: &Path,
        text: &str,
        offset: usize,
        field: Option<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: file.to_path_buf(),
            position: Some(line_col(text, offset)),
            field,
            message: one_line(&message.into()),
        }
    }

    /// The 1-based line of the error, when known.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
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

/// 1-based line and column (in characters) of byte `offset` in `text`.
/// An offset past the end or inside a character counts from the nearest
/// character boundary before it.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Messages are one line, whatever a library gave us.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // After the two-byte é: column 3.
        assert_eq!(line_col(text, 9), (2, 3));
        // Inside é, and past the end: no panic.
        assert_eq!(line_col(text, 8), (2, 2));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn display_is_one_line() {
        let e = ScenarioError::at(
            Path::new("scenarios/foo.toml"),
            "x\ny",
            2,
            Some("step 1 field `host`".into()),
            "bad\n  value",
        );
        assert_eq!(
            e.to_string(),
            "scenarios/foo.toml:2:1: step 1 field `host`: bad value"
        );
        let e = ScenarioError::file(Path::new("a.toml"), "cannot read");
        assert_eq!(e.to_string(), "a.toml: cannot read");
    }
}
