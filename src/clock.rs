//! Virtual time for timestamps. Never the wall clock: `std::time` is not
//! simulated, and a timestamp that differs between runs breaks determinism.

use crate::ids::Millis;

/// Virtual milliseconds since the simulation began, as this host sees them.
pub fn now() -> Millis {
    Millis(turmoil::elapsed().as_millis() as u64)
}
