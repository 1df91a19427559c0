//! Serves the router on a bound listener with hyper's HTTP/1 directly rather than through
//! `axum::serve`, which sets no timer (so hyper's header timeout never ran), no socket
//! options and no limits. Here every accepted socket gets TCP_NODELAY (screens' frames
//! must not wait for an acknowledgement of the previous one), a time limit for each request
//! head (which also ends silent and idle keep-alive connections), an idle limit while a
//! request is in progress, and the caps of [`super::admission`]; a failed `accept` (out of
//! file descriptors) pauses accepting instead of spinning; a stop lets requests in flight
//! finish. After a WebSocket upgrade the socket belongs to the gateway and its heartbeat:
//! only its admission ticket stays with it. Closing waits briefly for what a client still
//! sends, so the last answer is not lost to a reset.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::Request,
};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    time::{Instant, Sleep},
};
use tower::ServiceExt as _;

use super::admission::{Admission, Limits, Place, Refusal, Ticket};
use crate::{metrics::Metrics, telemetry::LogLimiter};

/// Every reason the hub closes a connection on its own, for pre-registering metric labels.
pub const CLOSE_REASONS: [&str; 3] = ["header_timeout", "idle_timeout", "evicted"];

/// The first pause after a failed accept; it doubles up to [`MAX_ACCEPT_PAUSE`].
const MIN_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// How long a closing connection keeps reading what its client still sends.
const LINGER: Duration = Duration::from_secs(2);

/// How the HTTP port treats connections.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Time to send a whole request head, from the connection's start or previous answer.
    pub header_timeout: Duration,
    /// Time a connection with a request in progress may move no bytes.
    pub idle_timeout: Duration,
    pub limits: Limits,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, tells
/// every connection to finish its request in progress and close, and returns when all
/// have (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let admission = Admission::new(&config.limits, metrics.clone());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .keep_alive(true);
    let shared = Arc::new(Shared {
        router,
        http,
        idle_timeout: config.idle_timeout,
        metrics,
        log: LogLimiter::default(),
    });
    let (stop, stopping) = watch::channel(false);
    // Every connection task holds a sender; `recv` ends when the last one is dropped.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let mut pause = MIN_ACCEPT_PAUSE;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                pause = MIN_ACCEPT_PAUSE;
                take(&shared, &admission, stream, peer, &stopping, &alive);
            }
            Err(error) if is_about_one_connection(&error) => {}
            Err(error) => {
                shared.metrics.http_accept_failed();
                if let Some(suppressed) = shared.log.allow_counting("accept") {
                    tracing::warn!(%error, suppressed, ?pause, "accepting an HTTP connection failed; pausing");
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = &mut shutdown => break,
                }
                pause = (pause * 2).min(MAX_ACCEPT_PAUSE);
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = all_done.recv().await;
}

/// What every connection task shares.
struct Shared {
    router: Router,
    http: http1::Builder,
    idle_timeout: Duration,
    metrics: Metrics,
    log: LogLimiter,
}

/// An error `accept` returns for one connection that went away before it was taken; the
/// next accept may succeed at once. Anything else (out of file descriptors, of memory)
/// would fail again immediately.
fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn take(
    shared: &Arc<Shared>,
    admission: &Arc<Admission>,
    stream: TcpStream,
    peer: SocketAddr,
    stopping: &watch::Receiver<bool>,
    alive: &mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    match admission.admit(peer.ip()) {
        Ok((ticket, place)) => {
            let task = Connection {
                shared: shared.clone(),
                admission: admission.clone(),
                place,
                peer,
                stopping: stopping.clone(),
                _alive: alive.clone(),
            };
            tokio::spawn(task.run(stream, ticket));
        }
        Err(refusal) => {
            shared.metrics.http_connection_refused(refusal.reason());
            if let Some(suppressed) = shared.log.allow_counting(refusal.reason()) {
                tracing::warn!(
                    %peer,
                    reason = refusal.reason(),
                    suppressed,
                    total = admission.total(),
                    "HTTP connection refused"
                );
            }
            // A fresh socket's send buffer is empty: this small answer goes out without
            // waiting, and the socket closes at once either way.
            let _ = stream.try_write(refusal_answer(refusal).as_bytes());
        }
    }
}

/// `503 too_many_connections`, written before the request is read.
fn refusal_answer(refusal: Refusal) -> String {
    let body = serde_json::json!({"error": "too_many_connections", "message": refusal.message()})
        .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         connection: close\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One admitted connection while it speaks HTTP.
struct Connection {
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    place: Arc<Place>,
    peer: SocketAddr,
    stopping: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, ticket: Ticket) {
        let activity = Arc::new(Activity::new());
        let socket = Socket {
            stream,
            activity: activity.clone(),
            linger: None,
            _ticket: ticket,
        };
        let (router, place, peer) = (self.shared.router.clone(), self.place.clone(), self.peer);
        let service = service_fn(move |mut request: Request<Incoming>| {
            place.busy();
            request.extensions_mut().insert(ConnectInfo(peer));
            let answering = router.clone().oneshot(request.map(Body::new));
            let place = place.clone();
            async move {
                let response = match answering.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|body| Body::new(Answer { body, place })))
            }
        });
        let connection = self
            .shared
            .http
            .serve_connection(TokioIo::new(socket), service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let idle_timeout = self.shared.idle_timeout;
        let mut check_idle_at = activity.last() + idle_timeout;
        let mut stopping = *self.stopping.borrow();
        if stopping {
            connection.as_mut().graceful_shutdown();
        }
        let closed_for = loop {
            tokio::select! {
                ended = connection.as_mut() => break match ended {
                    Err(error) if error.is_timeout() => Some("header_timeout"),
                    Err(error) => {
                        tracing::debug!(%error, peer = %self.peer, "HTTP connection ended");
                        None
                    }
                    Ok(()) => None,
                },
                () = self.place.evicted() => break Some("evicted"),
                () = tokio::time::sleep_until(check_idle_at) => {
                    // Between requests the header timeout applies; this is for one in progress.
                    let quiet_until = activity.last() + idle_timeout;
                    if quiet_until > Instant::now() {
                        check_idle_at = quiet_until;
                    } else if self.place.is_busy() {
                        break Some("idle_timeout");
                    } else {
                        check_idle_at = Instant::now() + idle_timeout;
                    }
                }
                // hyper closes an idle connection at once and others after their answer.
                _ = self.stopping.changed(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        };
        if let Some(reason) = closed_for {
            self.shared.metrics.http_connection_closed(reason);
        }
        self.admission.leave(&self.place);
    }
}

/// When a connection last moved a byte, in milliseconds after its start.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// The accepted socket as hyper (and, after an upgrade, the WebSocket) uses it: notes
/// activity, holds the admission ticket for as long as it is open, and lingers on close.
struct Socket {
    stream: TcpStream,
    activity: Arc<Activity>,
    linger: Option<Pin<Box<Sleep>>>,
    _ticket: Ticket,
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        read
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Sends FIN, then reads and discards what the client still sends until it closes too
    /// or [`LINGER`] passes. Closing a socket with unread bytes sends a reset, and a client
    /// that is still uploading a body the hub refused would lose the answer to it.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            this.linger = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        let mut discard = [0u8; 2048];
        loop {
            if let Some(linger) = this.linger.as_mut()
                && linger.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut discard);
            match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A response body that marks its connection idle once hyper is done with it.
struct Answer {
    body: Body,
    place: Arc<Place>,
}

impl HttpBody for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.place.idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_complete_503_that_closes() {
        let answer = refusal_answer(Refusal::PerAddress);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "too_many_connections");
    }

    #[test]
    fn only_errors_about_one_connection_are_retried_at_once() {
        assert!(is_about_one_connection(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        // EMFILE: retrying at once would spin.
        assert!(!is_about_one_connection(&io::Error::from_raw_os_error(24)));
    }
}
