//! Bounded trace-line histories for evidence. A violation quotes the lines
//! that prove it; a long run must not make a checker's memory grow with it,
//! so each history keeps only its most recent lines.

use std::collections::VecDeque;

/// How many lines an instance's history keeps: enough for a request, its
/// saga and the writes around it, few enough to print.
pub const INSTANCE_HISTORY: usize = 48;

/// The most recent trace lines of one thing (an instance, a saga).
#[derive(Clone, Debug)]
pub struct Lines {
    cap: usize,
    lines: VecDeque<String>,
}

impl Lines {
    pub fn new(cap: usize) -> Lines {
        Lines {
            cap,
            lines: VecDeque::new(),
        }
    }

    pub fn push(&mut self, line: String) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines.iter().skip(skip).cloned().collect()
    }

    pub fn all(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// Appends `more` to `evidence`, skipping lines already there, so that a
/// violation quoting a request and then the instance's history does not
/// print a line twice.
pub fn extend_unique(evidence: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    for line in more {
        if !evidence.contains(&line) {
            evidence.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_most_recent_lines() {
        let mut l = Lines::new(2);
        for s in ["a", "b", "c"] {
            l.push(s.to_string());
        }
        assert_eq!(l.all(), vec!["b".to_string(), "c".to_string()]);
        assert_eq!(l.last(1), vec!["c".to_string()]);
        let mut ev = vec!["b".to_string()];
        extend_unique(&mut ev, l.all());
        assert_eq!(ev, vec!["b".to_string(), "c".to_string()]);
    }
}
