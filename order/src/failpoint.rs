//! Failpoints: named places where a test can make the replica crash (abort, like a
//! SIGKILL) to prove that no acknowledged order is lost and no retry buys twice.
//!
//! Compiled in only with the `failpoints` feature; then `TOYSTORE_FAILPOINT=<name>` makes
//! [`hit`] abort the process at the place of that name. Without the feature, [`hit`] is
//! empty.

/// Aborts the process if the failpoint `name` is armed.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    if std::env::var("TOYSTORE_FAILPOINT").is_ok_and(|armed| armed == name) {
        tracing::error!(failpoint = name, "failpoint hit: aborting");
        std::process::abort();
    }
}

/// Does nothing: failpoints are not compiled in.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
