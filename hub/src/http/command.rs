//! Running a domain command from a handler: check the permission, send it to the venue's
//! actor with its idempotency id, and read the resulting view in the same actor turn.
//! A retry of an accepted `command_id` answers with the current view and the
//! `Idempotent-Replayed: true` header, never a second change.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use uuid::Uuid;

use super::{error::ApiError, extract::Caller};
use crate::{
    auth::Permission,
    domain::{Command, Venue},
    engine::{EngineError, Envelope, Outcome},
};

/// A command's answer: the view it produced, with the status and replay marker.
pub struct Executed<T> {
    pub status: StatusCode,
    pub view: T,
    pub outcome: Outcome,
}

impl<T: Serialize> IntoResponse for Executed<T> {
    fn into_response(self) -> Response {
        let status = if self.outcome.replayed && self.status == StatusCode::CREATED {
            StatusCode::OK
        } else {
            self.status
        };
        let mut response = (status, Json(self.view)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            "idempotent-replayed",
            if self.outcome.replayed {
                axum::http::HeaderValue::from_static("true")
            } else {
                axum::http::HeaderValue::from_static("false")
            },
        );
        if let Ok(seq) = self.outcome.last_seq.to_string().parse() {
            headers.insert("x-venue-seq", seq);
        }
        response
    }
}

/// Executes `command` for the caller and reads `view` from the state it left.
/// A `view` that finds nothing (the entity is gone) answers 404.
pub async fn run<T, F>(
    caller: &Caller,
    permission: Permission,
    command_id: Uuid,
    command: Command,
    status: StatusCode,
    view: F,
) -> Result<Executed<T>, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&Venue) -> Option<T> + Send + 'static,
{
    caller.require(permission)?;
    let envelope = Envelope {
        command_id,
        actor: caller.actor(),
        command,
    };
    let (view, outcome) = caller
        .venue
        .execute_and_read(envelope, move |venue, outcome| {
            let outcome = outcome?;
            Ok::<_, EngineError>((view(venue), outcome))
        })
        .await?;
    let view = view.ok_or(ApiError::NotFound("the changed entity"))?;
    Ok(Executed {
        status,
        view,
        outcome,
    })
}

/// Refuses to update what this venue does not have, with `code` (`table_not_found`...): a
/// PUT never creates, so no id another venue uses (or an invented one) becomes an entity
/// here. Creating is a POST, whose id the client may choose.
pub async fn require_existing<F>(
    caller: &Caller,
    code: crate::domain::RejectionCode,
    id: Uuid,
    exists: F,
) -> Result<(), ApiError>
where
    F: FnOnce(&Venue) -> bool + Send + 'static,
{
    if caller.venue.read(exists).await? {
        Ok(())
    } else {
        Err(ApiError::Rejected(crate::domain::Rejection::not_found(
            code, id,
        )))
    }
}
