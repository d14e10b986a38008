//! A Nexus host (`nexus-N`).

pub mod internal_api;
