//! `ApiError`: every way a request can fail, mapped to a status and the stable error body
//! `{"error": code, "message": ..., "field": ...}`. Internal failures are logged with
//! their cause and answered with a generic body, never with details of the hub.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::AuthError,
    domain::{Rejection, RejectionKind},
    engine::EngineError,
};

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `table_occupied`.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault, when one is (e.g. `lines[0].quantity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Rejected(Rejection),
    #[error("{message}")]
    BadRequest {
        status: StatusCode,
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    Unauthorized(AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("too many attempts")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_field(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::BadRequest {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Rejected(rejection) => ApiError::Rejected(rejection),
            EngineError::Unavailable(message) => ApiError::Unavailable(message),
            EngineError::Internal(message) => ApiError::Internal(anyhow::anyhow!(message)),
            EngineError::Stopped => ApiError::Unavailable("the hub is shutting down".into()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Throttled { retry_after } => ApiError::TooManyAttempts {
                retry_after_seconds: retry_after.as_secs().max(1),
            },
            AuthError::Forbidden(permission) => {
                ApiError::Forbidden(format!("your role may not {}", permission.describe()))
            }
            AuthError::InvalidPin | AuthError::WeakPassword { .. } => ApiError::BadRequest {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: error.code(),
                message: error.to_string(),
                field: None,
            },
            AuthError::Internal(message) => ApiError::Internal(anyhow::anyhow!(message)),
            other => ApiError::Unauthorized(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = match self {
            ApiError::Rejected(rejection) => {
                let status = match rejection.kind {
                    RejectionKind::NotFound => StatusCode::NOT_FOUND,
                    RejectionKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                    RejectionKind::Conflict => StatusCode::CONFLICT,
                    RejectionKind::Forbidden => StatusCode::FORBIDDEN,
                };
                (
                    status,
                    rejection.code.as_str(),
                    rejection.message,
                    rejection.field,
                )
            }
            ApiError::BadRequest {
                status,
                code,
                message,
                field,
            } => (status, code, message, field),
            ApiError::Unauthorized(error) => (
                StatusCode::UNAUTHORIZED,
                error.code(),
                error.to_string(),
                None,
            ),
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, "forbidden", message, None),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
                None,
            ),
            ApiError::TooManyAttempts {
                retry_after_seconds,
            } => {
                let body = ErrorBody {
                    error: "too_many_attempts".into(),
                    message: format!(
                        "too many failed attempts; try again in {retry_after_seconds} s"
                    ),
                    field: None,
                };
                let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
                if let Ok(value) = retry_after_seconds.to_string().parse() {
                    response.headers_mut().insert("retry-after", value);
                }
                return response;
            }
            ApiError::Unavailable(message) => {
                tracing::warn!(%message, "answering 503");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the hub cannot store this right now; nothing was changed, retry with the same command_id".to_owned(),
                    None,
                )
            }
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong in the hub".to_owned(),
                    None,
                )
            }
        };
        let body = ErrorBody {
            error: code.to_owned(),
            message,
            field,
        };
        (status, Json(body)).into_response()
    }
}
