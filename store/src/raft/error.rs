//! Turning the store's errors into openraft's [`StorageError`], with the subject (what was
//! being touched: vote, logs, one log entry, the state machine, a snapshot) and the verb (read,
//! write, delete) openraft reports. The whole cause chain is kept as text ([`AnyError`]).

use crate::StoreError;
use openraft::{AnyError, ErrorSubject, ErrorVerb, NodeId, StorageError, StorageIOError};

/// A storage error about `subject`, while doing `verb`, caused by `cause`.
pub(crate) fn storage_error<NID: NodeId>(
    subject: ErrorSubject<NID>,
    verb: ErrorVerb,
    cause: &StoreError,
) -> StorageError<NID> {
    StorageIOError::new(subject, verb, AnyError::new(cause)).into()
}

/// `Result<T, StoreError>` → `Result<T, StorageError>`.
// openraft's storage traits return its (large) `StorageError` by value; so do we.
#[allow(clippy::result_large_err)]
pub(crate) trait OrStorage<T> {
    /// Maps the error to a [`StorageError`] about `subject` while doing `verb`.
    fn or_storage<NID: NodeId>(
        self,
        subject: ErrorSubject<NID>,
        verb: ErrorVerb,
    ) -> Result<T, StorageError<NID>>;
}

impl<T> OrStorage<T> for Result<T, StoreError> {
    fn or_storage<NID: NodeId>(
        self,
        subject: ErrorSubject<NID>,
        verb: ErrorVerb,
    ) -> Result<T, StorageError<NID>> {
        self.map_err(|e| storage_error(subject, verb, &e))
    }
}
