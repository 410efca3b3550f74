//! The toystore tools: how people run, load, evaluate, break and inspect the store.
//!
//! - [`cluster`]: a whole store as real processes (used by `up`, `eval`, `chaos` and the
//!   black-box tests);
//! - [`node`]: running one service by name (the `tools catalog|order|frontend` subcommands
//!   that [`cluster`] starts);
//! - [`up`]: `tools up`.

pub mod cluster;
pub mod node;
pub mod up;
