//! openraft's own storage test suite (`openraft::testing::Suite`) on the redb Raft storage:
//! every test of the suite runs on a fresh replica file in its own temporary directory, with
//! the test type configuration and the example purchase applier.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod raft_support;

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use raft_support::{Log, Machine, Orders, Purchases, TestConfig};
use tempfile::TempDir;
use toystore_store::raft::RaftStore;

/// Builds each suite test's storage on a new file; the directory lives as long as the test.
struct FreshFile;

impl StoreBuilder<TestConfig, Log, Machine, TempDir> for FreshFile {
    async fn build(&self) -> Result<(TempDir, Log, Machine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RaftStore::open(dir.path().join("replica.redb"), Orders).expect("open");
        Ok((dir, store.log_store(), store.state_machine(Purchases)))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    if let Err(e) = Suite::test_all(FreshFile) {
        panic!("openraft's storage suite failed: {e}");
    }
}
