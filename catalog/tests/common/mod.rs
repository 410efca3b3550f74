//! The catalog's integration tests share the workspace's test kit (`toystore-testkit`).

pub use toystore_testkit::*;
