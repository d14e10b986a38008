//! intent-sim's harness.
