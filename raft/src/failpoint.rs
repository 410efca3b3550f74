//! Failpoints: named places where a test can make the replica crash (abort, like a
//! SIGKILL) to prove that no acknowledged order is lost and no retry buys twice.
//!
//! Compiled in only with the `failpoints` feature. Then `TOYSTORE_FAILPOINT=<name>` makes
//! [`hit`] abort the process every time it reaches the place of that name, and
//! `TOYSTORE_FAILPOINT=<name>@<file>` only the first time any process armed with the same
//! file reaches it (the file is created atomically; whoever creates it crashes). Without
//! the feature, [`hit`] is empty.

/// Aborts the process if the failpoint `name` is armed.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    let Ok(armed) = std::env::var("TOYSTORE_FAILPOINT") else {
        return;
    };
    let (armed_name, once) = match armed.split_once('@') {
        Some((n, file)) => (n, Some(file)),
        None => (armed.as_str(), None),
    };
    if armed_name != name {
        return;
    }
    if let Some(file) = once {
        let first = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(file)
            .is_ok();
        if !first {
            return;
        }
    }
    tracing::error!(failpoint = name, "failpoint hit: aborting");
    std::process::abort();
}

/// Does nothing: failpoints are not compiled in.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
