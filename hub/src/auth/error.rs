//! [`AuthError`]: every way authentication or authorisation can fail, each with a stable
//! machine-readable `code()`. Mapping to HTTP statuses belongs to the HTTP adapter.

use std::time::Duration;

use super::{policy::Permission, token::TokenKind};

/// Why a login, a token or an action was refused. Messages are safe to show to a client:
/// they never say whether a username or PIN exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A PIN must be 4 to 8 ASCII digits.
    #[error("a PIN must be 4 to 8 digits")]
    InvalidPin,
    /// A password must have at least 8 characters.
    #[error("a password must have at least {min} characters")]
    WeakPassword { min: usize },
    /// Unknown user, wrong PIN or wrong password: deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The token is valid but its staff member was deactivated (or removed) since.
    #[error("this staff member is no longer active")]
    StaffInactive,
    /// The token names a venue other than the staff member's own, and they may no longer
    /// act there (the owner took the venue back, or the role changed).
    #[error("this staff member may no longer act at this venue")]
    VenueNotAllowed,
    /// Too many failed logins for this venue or address; try again later.
    #[error("too many failed attempts, retry in {} s", retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    /// The token was valid once but its lifetime has passed.
    #[error("token expired")]
    TokenExpired,
    /// Malformed token, bad signature, wrong algorithm or unreadable claims.
    #[error("invalid token")]
    InvalidToken,
    /// A refresh token used as an access token or the other way round.
    #[error("expected an {expected} token, got a {found} token")]
    WrongTokenKind {
        expected: TokenKind,
        found: TokenKind,
    },
    /// The caller is authenticated but their role does not grant this permission.
    #[error("your role may not {}", .0.describe())]
    Forbidden(Permission),
    /// Hashing or token signing failed: a bug or resource problem, never the caller's fault.
    #[error("internal authentication error: {0}")]
    Internal(String),
}

impl AuthError {
    /// Stable identifier clients switch on; never change an existing one.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidPin => "invalid_pin",
            AuthError::WeakPassword { .. } => "weak_password",
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::StaffInactive => "staff_inactive",
            AuthError::VenueNotAllowed => "venue_not_allowed",
            AuthError::Throttled { .. } => "too_many_attempts",
            AuthError::TokenExpired => "token_expired",
            AuthError::InvalidToken => "invalid_token",
            AuthError::WrongTokenKind { .. } => "wrong_token_kind",
            AuthError::Forbidden(_) => "forbidden",
            AuthError::Internal(_) => "internal",
        }
    }
}
