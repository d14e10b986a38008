//! One seed decides everything. The root seed hands out labelled child
//! RNGs: each label is its own ChaCha stream, so a new draw in one place
//! (the plan, turmoil, a host) never reshuffles the others (omicron's
//! `typed-rng` tree does the same).

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The root of a run's randomness.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SeedTree {
    pub seed: u64,
}

/// FNV-1a: a stable hash of a label (std's hashers are randomly keyed).
fn label_hash(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl SeedTree {
    pub fn new(seed: u64) -> SeedTree {
        SeedTree { seed }
    }

    /// The RNG for `label`.
    pub fn child(&self, label: &str) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(label_hash(label));
        rng
    }

    /// A `u64` seed for `label` (for turmoil, and for a host's boot `n`).
    pub fn child_seed(&self, label: &str) -> u64 {
        self.child(label).next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_stable_and_independent() {
        let t = SeedTree::new(4711);
        assert_eq!(t.child_seed("plan"), SeedTree::new(4711).child_seed("plan"));
        assert_ne!(t.child_seed("plan"), t.child_seed("turmoil"));
        assert_ne!(t.child_seed("plan"), SeedTree::new(4712).child_seed("plan"));
    }
}
