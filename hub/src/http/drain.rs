//! Request bodies a handler did not read. A request refused from its headers alone (401,
//! 403, 404, 405, 413 …) leaves its body unread; hyper then gives up on the connection
//! after the answer without saying so (HTTP/1.1 has no other way to find the next request),
//! and a client that reuses it fails. This layer takes back a body the handler dropped
//! unread and reads the rest, bounded in bytes and time, so the connection stays usable;
//! when it cannot, the answer carries `Connection: close` and the client knows to open a
//! new one. It never reads a body a handler still holds, nor one the client will send only
//! after `100 Continue`.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use futures_util::StreamExt as _;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// Most unread bytes read to keep a connection: as much as a handler would have read.
const DRAIN_LIMIT: u64 = super::MAX_BODY_BYTES as u64;
/// How long the rest of a body may take to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Middleware: see the module documentation.
pub async fn settle_unread_body(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let waits_for_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let slot = Arc::new(Mutex::new(None));
    let request = request.map(|body| {
        Body::new(Reclaim {
            body: Some(body),
            slot: slot.clone(),
        })
    });
    let mut response = next.run(request).await;
    let unread = slot
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    let Some(unread) = unread else {
        return response;
    };
    let drained = !waits_for_continue
        && declared.is_none_or(|length| length <= DRAIN_LIMIT)
        && matches!(
            tokio::time::timeout(DRAIN_TIMEOUT, drain(unread)).await,
            Ok(true)
        );
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and discards the rest of a body; `true` if it ended within [`DRAIN_LIMIT`].
async fn drain(body: Body) -> bool {
    let mut stream = body.into_data_stream();
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                read += bytes.len() as u64;
                if read > DRAIN_LIMIT {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// The request body as the handler sees it. Dropped before its end, it leaves the rest in
/// `slot` for [`settle_unread_body`] instead of discarding it.
struct Reclaim {
    /// `None` once the body ended or failed: nothing is left to take back.
    body: Option<Body>,
    slot: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for Reclaim {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.body = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Reclaim {
    fn drop(&mut self) {
        if let Some(body) = self.body.take()
            && !body.is_end_stream()
        {
            *self
                .slot
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, routing::post};
    use tower::ServiceExt as _;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/refuse", post(|| async { "no" }))
            .route("/read", post(|body: String| async move { body }))
            .layer(axum::middleware::from_fn(settle_unread_body))
    }

    fn post_to(path: &str, body: Vec<u8>, expect_continue: bool) -> Request {
        let mut builder = Request::post(path).header(header::CONTENT_LENGTH, body.len());
        if expect_continue {
            builder = builder.header(header::EXPECT, "100-continue");
        }
        builder.body(Body::from(body)).unwrap()
    }

    async fn closes(request: Request) -> bool {
        let response = app().oneshot(request).await.unwrap();
        response.headers().get(header::CONNECTION).is_some()
    }

    #[tokio::test]
    async fn an_unread_body_within_the_limit_is_drained_and_the_connection_kept() {
        assert!(!closes(post_to("/refuse", vec![b'x'; 200 * 1024], false)).await);
    }

    #[tokio::test]
    async fn an_unread_body_over_the_limit_or_awaiting_continue_closes_the_connection() {
        assert!(closes(post_to("/refuse", vec![b'x'; 300 * 1024], false)).await);
        assert!(closes(post_to("/refuse", vec![b'x'; 10], true)).await);
    }

    #[tokio::test]
    async fn a_body_the_handler_read_is_left_alone() {
        assert!(!closes(post_to("/read", vec![b'x'; 300 * 1024], false)).await);
        assert!(!closes(post_to("/refuse", Vec::new(), false)).await);
    }
}
