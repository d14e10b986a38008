//! The `fixed` intent reconciler's per-instance start backoff: omicron's
//! `backoff` style (`common/src/backoff.rs`). Its own module, below both
//! the reconciler that uses it and the Nexus context that keeps it in
//! memory, so neither names the other.

use crate::ids::{InstanceId, Millis, SledId};
use std::collections::BTreeMap;
use std::time::Duration;

/// When the reconciler may next start one instance, after its starts
/// failed `failures` times in a row.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Backoff {
    pub failures: u32,
    pub not_before: Millis,
    /// The sled the last failed start could not reach; the next start
    /// places the instance elsewhere if any other sled has room (fixed
    /// branch 10, `Variant::reconciler_retry_avoids_unreachable_sled`).
    pub avoid: Option<SledId>,
}

/// Each instance's start backoff.
pub type Backoffs = BTreeMap<InstanceId, Backoff>;

/// The wait after `failures` failed starts in a row (`failures >= 1`):
/// twice the period, doubling, capped at `max`.
pub fn backoff_wait(period: Duration, max: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (period * 2 * 2u32.pow(doublings)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_twice_the_period_to_its_cap() {
        let p = Duration::from_secs(30);
        let max = Duration::from_secs(480);
        let waits: Vec<u64> = (1..=6).map(|f| backoff_wait(p, max, f).as_secs()).collect();
        assert_eq!(waits, vec![60, 120, 240, 480, 480, 480]);
        assert_eq!(backoff_wait(p, max, u32::MAX).as_secs(), 480);
    }
}
