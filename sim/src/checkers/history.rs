//! Bounded record histories for evidence. A violation quotes the records
//! that prove it by their sequence numbers (their position in the run's
//! record stream); the report renders them once, with the run's names. A
//! long run must not make a checker's memory grow with it, so each history
//! keeps only its most recent records.

use std::collections::VecDeque;

/// A record's position in the run's record stream (0 for the first).
pub type Seq = u64;

/// How many records an instance's history keeps: enough for a request, its
/// saga and the writes around it, few enough to print.
pub const INSTANCE_HISTORY: usize = 48;

/// The most recent records of one thing (an instance, a saga).
#[derive(Clone, Debug)]
pub struct Lines {
    cap: usize,
    lines: VecDeque<Seq>,
}

impl Lines {
    pub fn new(cap: usize) -> Lines {
        Lines {
            cap,
            lines: VecDeque::new(),
        }
    }

    /// Remembers record `seq`.
    pub fn push(&mut self, seq: Seq) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
        }
        self.lines.push_back(seq);
    }

    /// The last `n` records, oldest first.
    pub fn last(&self, n: usize) -> Vec<Seq> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines.iter().skip(skip).copied().collect()
    }

    pub fn all(&self) -> Vec<Seq> {
        self.lines.iter().copied().collect()
    }
}

/// Appends `more` to `evidence`, skipping records already there, so that a
/// violation quoting a request and then the instance's history does not
/// print a record twice.
pub fn extend_unique(evidence: &mut Vec<Seq>, more: impl IntoIterator<Item = Seq>) {
    for seq in more {
        if !evidence.contains(&seq) {
            evidence.push(seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_most_recent_records() {
        let mut l = Lines::new(2);
        for s in [1, 2, 3] {
            l.push(s);
        }
        assert_eq!(l.all(), vec![2, 3]);
        assert_eq!(l.last(1), vec![3]);
        let mut ev = vec![2];
        extend_unique(&mut ev, l.all());
        assert_eq!(ev, vec![2, 3]);
    }
}
