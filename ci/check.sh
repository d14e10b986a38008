#!/usr/bin/env bash
# What CI runs on a clean clone: formatting, lints, the README's test
# command (snapshots must be reviewed: INSTA_UPDATE=no), and a short run of
# the main job.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

echo "== cargo test (the README's test command)"
INSTA_UPDATE=no cargo test

echo "== the mutation matrix (test-only feature: every named bug is caught)"
cargo test -p intent-sim --features mutations --test mutations

echo "== cargo sim sweep --all (the main job, a short range)"
cargo sim sweep --all --seeds 0..${INTENT_SIM_CI_SWEEP_SEEDS:-200}
