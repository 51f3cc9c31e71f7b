//! The older, untyped failure (an exit code, a code and a message), still used by
//! [`crate::import`] until it moves to a typed error enum of its own. It converts from every
//! typed client error (keeping its class, code and message) and into [`Error::Legacy`], so
//! `?` works across the boundary in both directions. New code returns [`Error`].

use crate::error::{Class, Error};
use crate::{EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE};

/// A failed step: its exit code, a stable short code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Process exit code.
    pub exit: u8,
    /// Stable short code (e.g. `digest-mismatch`).
    pub code: String,
    /// Human message.
    pub message: String,
}

impl Failure {
    /// A failure with an exit code, code and message.
    pub fn new(exit: u8, code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A usage or policy error (exit 2).
    pub fn usage(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure::new(EXIT_USAGE, code, message)
    }

    /// A verification failure (exit 1).
    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure::new(EXIT_FAILED, code, message)
    }

    /// The class its exit code stands for.
    pub fn class(&self) -> Class {
        match self.exit {
            EXIT_USAGE => Class::Usage,
            EXIT_UNAVAILABLE => Class::Unavailable,
            _ => Class::Failed,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        if let Error::Legacy(f) = e {
            return f;
        }
        Failure::new(e.exit_code(), e.code(), e.to_string())
    }
}

macro_rules! via_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Failure {
                Failure::from(Error::from(e))
            }
        }
    )*};
}

via_error!(
    crate::registry::RegistryError,
    crate::remote::RemoteError,
    crate::credentials::CredentialError,
    crate::state::StateError,
    crate::error::InputError,
    crate::error::ConfigError,
    crate::error::KeyError,
    crate::error::LogAnswerError,
    crate::error::PublishError,
    taglog_proofs::verify::VerifyError
);
