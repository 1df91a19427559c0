//! Request extractors that turn every kind of bad input into a clear `ApiError`: JSON bodies
//! (wrong content type, syntax, a field of the wrong type, oversize), path and query
//! parameters, and the bearer token that identifies the caller.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Query, Request},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::{
    auth::{Claims, Permission, TokenKind},
    domain::Actor,
    engine::VenueHandle,
    state::AppState,
};

/// A JSON body parsed with the path of the offending field on error.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/json") || ct.contains("+json")
            });
        if !is_json {
            return Err(ApiError::BadRequest {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "send the body as JSON with Content-Type: application/json".into(),
                field: None,
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BadRequest {
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                        code: "payload_too_large",
                        message: "the request body is larger than the hub accepts".into(),
                        field: None,
                    }
                } else {
                    ApiError::bad_request("unreadable_body", rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the field at fault (`lines[0].quantity`) when the shape is wrong.
/// A whole number written with a fraction (`2.0`) is the integer it spells, as JSON Schema
/// (and so the API document) counts it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = (path != ".").then_some(path);
        ApiError::BadRequest {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message: error.into_inner().to_string(),
            field,
        }
    })
}

/// Largest magnitude up to which every whole `f64` is exactly the integer it spells.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// Rewrites every number with a zero fraction (`2.0`, `-3e2`) as an integer, so a field of
/// integer type accepts it; a field of fractional type takes either spelling anyway.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) if number.is_f64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() <= EXACT_INTEGERS
            {
                // Whole and in range by the checks above, so the cast is exact.
                *number = (float as i64).into();
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// Path parameters; a malformed id is a 400, not a routing miss.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))
    }
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))
    }
}

/// The authenticated caller: a valid access token for a venue this hub serves.
pub struct Caller {
    pub claims: Claims,
    pub venue: VenueHandle,
    /// The device the request came from (`X-Device` header), recorded in the journal.
    pub device: Option<String>,
}

impl Caller {
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        crate::auth::require(self.claims.role, permission).map_err(ApiError::from)
    }

    pub fn actor(&self) -> Actor {
        Actor::staff(self.claims.sub, self.claims.role, self.device.clone())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(crate::auth::AuthError::InvalidToken))?;
        let mut claims = state
            .tokens
            .verify(token, TokenKind::Access, chrono::Utc::now())?;
        crate::auth::authorize(&state.engine, &mut claims)?;
        let venue = state
            .engine
            .venue(claims.venue)
            .ok_or(ApiError::Unauthorized(crate::auth::AuthError::InvalidToken))?;
        let device = parts
            .headers
            .get("x-device")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(64).collect::<String>())
            .filter(|v| !v.trim().is_empty())
            .or_else(|| Some("http".to_owned()));
        Ok(Caller {
            claims,
            venue,
            device,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: panicking is how a test fails"
    )]

    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Line {
        quantity: u16,
        price: f64,
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_an_integer() {
        let line: Line = parse_json(br#"{"quantity": 2.0, "price": 3}"#).unwrap();
        assert_eq!(
            line,
            Line {
                quantity: 2,
                price: 3.0
            }
        );
        let error = parse_json::<Line>(br#"{"quantity": 2.5, "price": 3}"#).unwrap_err();
        assert!(
            matches!(error, ApiError::BadRequest { code: "invalid_field", field: Some(ref f), .. } if f == "quantity")
        );
        assert!(matches!(
            parse_json::<Line>(br#"{"quantity": 2} x"#).unwrap_err(),
            ApiError::BadRequest {
                code: "invalid_json",
                ..
            }
        ));
    }
}
