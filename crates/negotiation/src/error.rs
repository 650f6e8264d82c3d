//! Errors that mean the driver broke the contract.
//!
//! Failures of the stack or of the network are not errors of the API: they
//! are inputs the machine recovers from and reports as events.

use thiserror::Error;

/// A completion was reported that does not match what the core asked for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// A completion arrived while no stack operation was outstanding.
    #[error("no stack operation is outstanding")]
    NoOperationOutstanding,
    /// A created description was reported for an operation that creates none.
    #[error("a description was reported but the outstanding operation is {0:?}")]
    UnexpectedDescription(crate::OperationKind),
    /// Plain completion was reported for `create_offer`/`create_answer`,
    /// which must report the description they created.
    #[error("the outstanding {0:?} must report the description it created")]
    MissingDescription(crate::OperationKind),
}
