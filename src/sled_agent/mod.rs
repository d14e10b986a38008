//! A sled agent host (`sled-N`).

pub mod api;
