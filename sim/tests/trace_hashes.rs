//! Speed levers must not change what a seed does: this test hashes the
//! full trace (every record, rendered) and the verdict of swarm seeds in
//! every variant and compares them with `fixtures/trace-hashes.txt`, a
//! list generated before the levers (issue 11).
//!
//! A lever (a notification instead of a busy-wait, a turmoil patch) must
//! leave every hash as it is. A change to the model or to what a seed
//! draws changes them on purpose: regenerate the list in the same commit
//! and say why there:
//!
//! ```text
//! INTENT_SIM_BLESS_HASHES=1 cargo test -p intent-sim --test trace_hashes
//! ```

use intent_sim::catalog;
use intent_sim::trace;
use intent_sim::verdict::RunReport;
use model::variant::Variant;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Swarm seeds hashed per variant.
const SEEDS: u64 = 24;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace-hashes.txt")
}

/// FNV-1a, 64 bits: stable across Rust releases (std's hashers are not
/// promised to be), so the committed list stays valid.
fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

fn hash(r: &RunReport) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    for record in &r.records {
        fnv1a(&mut h, trace::render(record, &r.names).as_bytes());
        fnv1a(&mut h, b"\n");
    }
    fnv1a(&mut h, r.verdict().name().as_bytes());
    fnv1a(&mut h, &r.ended_at.0.to_le_bytes());
    h
}

/// One line per (variant, seed): `variant seed hash records`.
fn current() -> String {
    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::new();
    for variant in Variant::ALL {
        for seed in 0..SEEDS {
            let (r, _) = catalog::run(&s, None, variant, seed).unwrap_or_else(|e| panic!("{e}"));
            writeln!(
                out,
                "{variant} {seed} {:016x} {}",
                hash(&r),
                r.records.len()
            )
            .expect("writing to a String");
        }
    }
    out
}

#[test]
fn traces_match_the_committed_hashes() {
    let now = current();
    if std::env::var_os("INTENT_SIM_BLESS_HASHES").is_some() {
        std::fs::write(fixture(), &now).expect("write the hash list");
        return;
    }
    let want = std::fs::read_to_string(fixture()).expect("the committed hash list");
    let diffs: Vec<String> = want
        .lines()
        .zip(now.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  committed {a}\n  now       {b}"))
        .collect();
    assert!(
        diffs.is_empty() && want.lines().count() == now.lines().count(),
        "{} swarm traces differ from tests/fixtures/trace-hashes.txt (a speed lever must change none; \
         a model change regenerates the list, see the module doc):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
