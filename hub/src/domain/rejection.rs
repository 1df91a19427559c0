//! Business refusals. Each carries a stable `code` that user interfaces switch on and the
//! HTTP adapter maps to a status: codes are part of the public protocol, never rename one.

use std::fmt;

/// How a refusal should be understood by a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionKind {
    /// Something referenced does not exist in this venue.
    NotFound,
    /// The command itself is malformed or out of range, whatever the state.
    Invalid,
    /// The command is valid but the current state does not allow it.
    Conflict,
    /// The actor's role may not do this in this situation.
    Forbidden,
}

/// A command the domain refused, with a stable code and a human message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub code: &'static str,
    pub message: String,
    /// The input field at fault, when one is (e.g. `lines[0].quantity`).
    pub field: Option<String>,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn not_found(code: &'static str, what: impl fmt::Display) -> Self {
        Self {
            kind: RejectionKind::NotFound,
            code,
            message: format!("{what} was not found"),
            field: None,
        }
    }

    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind: RejectionKind::Invalid,
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Conflict,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Forbidden,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Prefixes the field with the position of the input it came from (`lines[2].`).
    pub fn within(mut self, prefix: impl fmt::Display) -> Self {
        self.field = Some(match self.field {
            Some(field) => format!("{prefix}.{field}"),
            None => prefix.to_string(),
        });
        self
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Rejection {}
