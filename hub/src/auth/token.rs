//! Signed staff tokens: HS256 JWT access tokens (short, sent with every request) and
//! refresh tokens (one shift long, only exchanged for a new access token).
//! It owns the claim layout and the expiry rule; it does not know about HTTP headers,
//! revocation lists or the database.

use std::{collections::HashSet, fmt};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AuthError;
use crate::domain::{Role, StaffId, TenantId, VenueId};

/// Tolerated clock difference between the hub that signed a token and the one checking
/// it (several hubs may share one Postgres and one key).
pub const CLOCK_LEEWAY: Duration = Duration::seconds(30);

/// Who a logged-in staff member is, as known at login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub staff_id: StaffId,
    /// The venue the tokens act at.
    pub venue_id: VenueId,
    /// The venue whose staff list holds the member: the same as `venue_id`, unless an owner
    /// or a member given other venues acts at another venue of the tenant.
    pub home_venue_id: VenueId,
    pub tenant_id: TenantId,
    pub role: Role,
    /// Display name for the handheld header and receipts; not put in tokens.
    pub name: String,
}

/// Which of the two tokens this is. A refresh token must never authorise a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JWT payload. `iat` and `exp` are seconds since the Unix epoch, as JWT requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: StaffId,
    /// The venue the token acts at.
    pub venue: VenueId,
    /// The venue whose staff list holds `sub`, when it is not `venue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<VenueId>,
    pub tenant: TenantId,
    pub role: Role,
    pub kind: TokenKind,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token, so a later revocation list can name a single token.
    pub jti: Uuid,
}

impl Claims {
    /// The venue whose staff list holds the token's staff member.
    pub fn home_venue(&self) -> VenueId {
        self.home.unwrap_or(self.venue)
    }
}

/// How long each kind of token is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Short, because an access token cannot be revoked before it expires.
    pub access: Duration,
    /// One shift: a waiter logs in once and the handheld refreshes silently.
    pub refresh: Duration,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access: Duration::minutes(15),
            refresh: Duration::hours(12),
        }
    }
}

impl TokenLifetimes {
    pub fn of(&self, kind: TokenKind) -> Duration {
        match kind {
            TokenKind::Access => self.access,
            TokenKind::Refresh => self.refresh,
        }
    }
}

/// The hub's signing key and token lifetimes. Cheap to clone; one per hub, in `AppState`.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetimes: TokenLifetimes,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("TokenKeys")
            .field("lifetimes", &self.lifetimes)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// HS256 keys from a shared secret, with the default lifetimes.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // jsonwebtoken checks `exp` against the system clock; we compare against the
        // `now` we are given instead, so tests and replays control time.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = HashSet::new();
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetimes: TokenLifetimes::default(),
        }
    }

    pub fn with_lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    pub fn lifetimes(&self) -> TokenLifetimes {
        self.lifetimes
    }

    /// Signs a token of `kind` for `identity`, valid from `now` for the kind's lifetime.
    pub fn issue(
        &self,
        identity: &Identity,
        kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let claims = Claims {
            sub: identity.staff_id,
            venue: identity.venue_id,
            home: (identity.home_venue_id != identity.venue_id).then_some(identity.home_venue_id),
            tenant: identity.tenant_id,
            role: identity.role,
            kind,
            iat: now.timestamp(),
            exp: (now + self.lifetimes.of(kind)).timestamp(),
            jti: Uuid::new_v4(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("signing token: {e}")))
    }

    /// Checks signature, kind and expiry (in that order) and returns the claims.
    pub fn verify(
        &self,
        token: &str,
        expected_kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<Claims, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                // Unreachable while `validate_exp` is off, but keep the mapping honest.
                ErrorKind::ExpiredSignature => AuthError::TokenExpired,
                _ => AuthError::InvalidToken,
            })?
            .claims;
        if claims.kind != expected_kind {
            return Err(AuthError::WrongTokenKind {
                expected: expected_kind,
                found: claims.kind,
            });
        }
        if now.timestamp() > claims.exp.saturating_add(CLOCK_LEEWAY.num_seconds()) {
            return Err(AuthError::TokenExpired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn identity() -> Identity {
        Identity {
            staff_id: StaffId(Uuid::from_u128(11)),
            venue_id: VenueId(Uuid::from_u128(22)),
            home_venue_id: VenueId(Uuid::from_u128(22)),
            tenant_id: TenantId(Uuid::from_u128(33)),
            role: Role::Waiter,
            name: "Sari".into(),
        }
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn an_issued_access_token_verifies_with_its_claims() {
        let keys = TokenKeys::new(b"secret");
        let token = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        let claims = keys.verify(&token, TokenKind::Access, noon()).unwrap();
        assert_eq!(claims.sub, identity().staff_id);
        assert_eq!(claims.venue, identity().venue_id);
        assert_eq!(claims.tenant, identity().tenant_id);
        assert_eq!(claims.role, Role::Waiter);
        assert_eq!(claims.kind, TokenKind::Access);
        assert_eq!(claims.exp - claims.iat, 15 * 60);
    }

    #[test]
    fn the_kind_is_serialised_in_lowercase() {
        assert_eq!(
            serde_json::to_string(&TokenKind::Refresh).unwrap(),
            "\"refresh\""
        );
        assert_eq!(
            serde_json::to_string(&TokenKind::Access).unwrap(),
            "\"access\""
        );
    }

    #[test]
    fn every_token_gets_its_own_id() {
        let keys = TokenKeys::new(b"secret");
        let a = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        let b = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        let ja = keys.verify(&a, TokenKind::Access, noon()).unwrap().jti;
        let jb = keys.verify(&b, TokenKind::Access, noon()).unwrap().jti;
        assert_ne!(ja, jb);
    }

    #[test]
    fn an_access_token_expires_after_fifteen_minutes_plus_leeway() {
        let keys = TokenKeys::new(b"secret");
        let token = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        let last_valid = noon() + Duration::minutes(15) + CLOCK_LEEWAY;
        assert!(keys.verify(&token, TokenKind::Access, last_valid).is_ok());
        let err = keys
            .verify(&token, TokenKind::Access, last_valid + Duration::seconds(1))
            .unwrap_err();
        assert_eq!(err.code(), "token_expired");
    }

    #[test]
    fn a_refresh_token_lasts_a_shift() {
        let keys = TokenKeys::new(b"secret");
        let token = keys.issue(&identity(), TokenKind::Refresh, noon()).unwrap();
        assert!(
            keys.verify(&token, TokenKind::Refresh, noon() + Duration::hours(11))
                .is_ok()
        );
        let err = keys
            .verify(&token, TokenKind::Refresh, noon() + Duration::hours(13))
            .unwrap_err();
        assert!(matches!(err, AuthError::TokenExpired));
    }

    #[test]
    fn lifetimes_are_configurable() {
        let keys = TokenKeys::new(b"secret").with_lifetimes(TokenLifetimes {
            access: Duration::minutes(1),
            refresh: Duration::minutes(2),
        });
        let token = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        let claims = keys.verify(&token, TokenKind::Access, noon()).unwrap();
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn a_refresh_token_cannot_be_used_as_an_access_token() {
        let keys = TokenKeys::new(b"secret");
        let token = keys.issue(&identity(), TokenKind::Refresh, noon()).unwrap();
        let err = keys.verify(&token, TokenKind::Access, noon()).unwrap_err();
        assert_eq!(err.code(), "wrong_token_kind");
        let access = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        let err = keys
            .verify(&access, TokenKind::Refresh, noon())
            .unwrap_err();
        assert_eq!(err.code(), "wrong_token_kind");
    }

    #[test]
    fn a_token_signed_with_another_key_is_invalid() {
        let token = TokenKeys::new(b"other hub")
            .issue(&identity(), TokenKind::Access, noon())
            .unwrap();
        let err = TokenKeys::new(b"secret")
            .verify(&token, TokenKind::Access, noon())
            .unwrap_err();
        assert_eq!(err.code(), "invalid_token");
    }

    #[test]
    fn garbage_and_tampered_tokens_are_invalid() {
        let keys = TokenKeys::new(b"secret");
        for bad in ["", "abc", "a.b.c"] {
            assert_eq!(
                keys.verify(bad, TokenKind::Access, noon())
                    .unwrap_err()
                    .code(),
                "invalid_token"
            );
        }
        let token = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        // Swap the payload for one claiming the owner role, keeping the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = keys
            .issue(
                &Identity {
                    role: Role::Owner,
                    ..identity()
                },
                TokenKind::Access,
                noon(),
            )
            .unwrap();
        let forged_payload = forged.split('.').nth(1).unwrap().to_owned();
        parts[1] = &forged_payload;
        let tampered = parts.join(".");
        assert_eq!(
            keys.verify(&tampered, TokenKind::Access, noon())
                .unwrap_err()
                .code(),
            "invalid_token"
        );
    }

    #[test]
    fn an_unsigned_token_is_rejected() {
        let keys = TokenKeys::new(b"secret");
        let token = keys.issue(&identity(), TokenKind::Access, noon()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(
            keys.verify(&none, TokenKind::Access, noon())
                .unwrap_err()
                .code(),
            "invalid_token"
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let text = format!("{:?}", TokenKeys::new(b"super-secret-key"));
        assert!(!text.contains("super-secret-key"));
    }
}
