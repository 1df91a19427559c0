//! One WebSocket connection: authenticate (token in `Sec-WebSocket-Protocol` or a `hello`
//! frame), then serve subscriptions until the socket closes. The loop forwards the venue's
//! frame batches for the channels this socket opened, answers client frames, pings, and
//! protects the hub: oversized or malformed frames get `error` frames, floods are rate
//! limited, a socket that falls behind is resynced and one that stops reading is dropped.
//! A frame over the size limit ends the connection (the WebSocket library enforces it).
//! Closes are handshakes: a client's Close frame is answered with the same code, and when
//! the hub closes it sends a code and waits briefly for the client's answer.
//! The staff member's standing is re-read at every heartbeat and before every command.
//! Nothing here can slow the engine or another screen: fan-out is a broadcast channel.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::{
    extract::{
        State,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
    },
    http::HeaderMap,
    response::Response,
};
use futures_util::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use serde_json::json;
use tokio::sync::{broadcast::error::RecvError, mpsc};

use super::{
    Gateway,
    error::{ErrorCode, Refusal},
    live::{EPHEMERAL_QUEUE, EphemeralQueue, VenueLive},
    presence::ScreenPresence,
    projector::{Listening, Projector},
    protocol::{Channel, ClientFrame, ScreenCommand, close},
};
use crate::{
    auth::{Claims, TokenKind},
    domain::{Actor, Command, StationId},
    engine::{EngineError, Envelope, VenueHandle},
    state::AppState,
    view::kitchen as view,
};

/// The subprotocol a screen asks for; `bearer.<token>` may accompany it.
pub const SUBPROTOCOL: &str = "almahira.v1";

/// The socket's read buffer: a `subscribe`, `seen` or `command` frame is a few hundred bytes.
const READ_BUFFER_BYTES: usize = 1024;

/// Optional query of `GET /ws`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpgradeQuery {
    /// The screen's name for the journal and presence, e.g. `kds-grill-1`.
    pub device: Option<String>,
}

/// `GET /ws`: upgrades to the screen protocol.
#[utoipa::path(
    get, path = "/ws", tag = "live",
    description = "Upgrades to the WebSocket screen protocol `almahira.v1` (docs/websocket.md). The access token travels as the subprotocol `bearer.<token>` or in a first `hello` frame, so the upgrade itself needs none.",
    params(UpgradeQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request (missing `Connection: upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Key` or version 13)", content_type = "text/plain", body = String),
        (status = 426, description = "The connection cannot be upgraded", content_type = "text/plain", body = String),
    )
)]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<UpgradeQuery>,
    socket: WebSocketUpgrade,
) -> Response {
    let token = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix("bearer."))
        .map(str::to_owned);
    let limit = state.gateway.config().max_frame_bytes;
    // Screens send small frames and receive frames of a few KiB: the library's default
    // 128 KiB read and write buffers per socket would dominate the hub's memory at
    // hundreds of screens, and buy nothing. The read buffer is allocated (and filled) up
    // front, so it is kept to what a screen's frames need; a larger frame grows it for
    // that frame (up to the frame limit).
    socket
        .protocols([SUBPROTOCOL])
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(16 * 1024)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move { serve(socket, state, token, query.device).await })
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// Why a connection ends.
enum End {
    /// The transport failed or writes stalled: nothing more can be sent.
    Lost,
    /// The client sent a Close frame; the library queued the echo, which must be flushed.
    ClosedByClient,
    /// The hub closes with this code and reason.
    Close(u16, &'static str),
}

/// How long a close handshake may take: the hub's Close frame going out, or the client's
/// answer to it coming back.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

struct Subscription {
    from_seq: u64,
    station: Option<StationId>,
    /// Keeps the projector building this channel; dropped when the subscription ends.
    _listening: Listening,
}

/// A token bucket: `rate` per second, bursts of `2 x rate`.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate * 2.0,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Connection {
    id: u64,
    state: AppState,
    gateway: Gateway,
    projector: Projector,
    venue: VenueHandle,
    claims: Claims,
    device: Option<String>,
    subs: HashMap<Channel, Subscription>,
    /// Where ephemeral frames of the open channels come from (see [`super::live`]).
    live: std::sync::Arc<VenueLive>,
    ephemeral: std::sync::Arc<EphemeralQueue>,
    last_heard: Instant,
    frames: Bucket,
    commands: Bucket,
    /// Refused frames in the current minute; a client that keeps being refused is closed.
    refused: u32,
    refused_since: Instant,
    last_refusal_notice: Option<Instant>,
    lag_resyncs: Vec<Instant>,
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    header_token: Option<String>,
    query_device: Option<String>,
) {
    let (mut sink, mut stream) = socket.split();
    let gateway = state.gateway.clone();
    let config = gateway.config().clone();

    // Authenticate: the upgrade header's token, or a `hello` frame in time.
    const NO_HELLO: End = End::Close(
        close::UNAUTHORIZED,
        "the first frame must be hello with a token",
    );
    let (token, device) = match header_token {
        Some(token) => (token, query_device),
        None => match tokio::time::timeout(config.hello_timeout, stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str::<ClientFrame>(&text) {
                Ok(ClientFrame::Hello { token, device }) => (token, device.or(query_device)),
                _ => return finish(&mut sink, &mut stream, NO_HELLO).await,
            },
            Ok(Some(Ok(Message::Close(_)))) => {
                return finish(&mut sink, &mut stream, End::ClosedByClient).await;
            }
            Ok(Some(Ok(_))) => return finish(&mut sink, &mut stream, NO_HELLO).await,
            Ok(_) => return,
            Err(_) => {
                let end = End::Close(close::TIMEOUT, "no hello in time");
                return finish(&mut sink, &mut stream, end).await;
            }
        },
    };
    let verified = state
        .tokens
        .verify(&token, TokenKind::Access, chrono::Utc::now())
        .and_then(|mut claims| {
            // The staff member's standing now, not when the token was issued.
            crate::auth::authorize(&state.engine, &mut claims)?;
            Ok(claims)
        });
    let claims = match verified {
        Ok(claims) => claims,
        Err(error) => {
            let reason = match error.code() {
                "token_expired" => "token expired",
                "wrong_token_kind" => "not an access token",
                "staff_inactive" => "staff member no longer active",
                "venue_not_allowed" => "no longer allowed at this venue",
                _ => "invalid token",
            };
            return finish(
                &mut sink,
                &mut stream,
                End::Close(close::UNAUTHORIZED, reason),
            )
            .await;
        }
    };
    let Some(venue) = state.engine.venue(claims.venue) else {
        let end = End::Close(close::UNAUTHORIZED, "unknown venue");
        return finish(&mut sink, &mut stream, end).await;
    };
    let claims_venue = claims.venue;
    let Ok(projector) = gateway.projector(claims.venue).await else {
        let end = End::Close(close::GOING_AWAY, "venue unavailable");
        return finish(&mut sink, &mut stream, end).await;
    };
    let device = device.map(|d| d.chars().take(64).collect::<String>());
    let mut receiver = projector.receiver();
    let ephemeral = EphemeralQueue::new(EPHEMERAL_QUEUE);
    let mut connection = Connection {
        id: gateway.presence().next_id(),
        state: state.clone(),
        gateway: gateway.clone(),
        projector,
        venue,
        claims,
        device,
        subs: HashMap::new(),
        live: gateway.live(claims_venue),
        ephemeral,
        last_heard: Instant::now(),
        frames: Bucket::new(config.commands_per_second * 5),
        commands: Bucket::new(config.commands_per_second),
        refused: 0,
        refused_since: Instant::now(),
        last_refusal_notice: None,
        lag_resyncs: Vec::new(),
    };
    let now = chrono::Utc::now();
    gateway.presence().upsert(ScreenPresence {
        connection: connection.id,
        venue_id: connection.claims.venue,
        device: connection.device.clone(),
        staff_id: connection.claims.sub,
        role: connection.claims.role,
        channels: Vec::new(),
        connected_at: now,
        last_heard_at: now,
        seen_seq: None,
        lag: None,
    });
    let welcome = json!({
        "type": "welcome",
        "protocol": SUBPROTOCOL,
        "venue": {"id": connection.claims.venue, "slug": connection.venue.slug()},
        "staff": {"id": connection.claims.sub, "role": connection.claims.role},
        "connection": connection.id,
        "seq": connection.projector.seq(),
        "heartbeat_seconds": config.heartbeat_interval.as_secs_f64(),
    });
    let end = match send(&mut sink, welcome.to_string().into(), config.write_timeout).await {
        Ok(()) => connection.run(&mut sink, &mut stream, &mut receiver).await,
        Err(end) => end,
    };
    for channel in connection.subs.keys() {
        connection.live.unlisten(&channel.name(), connection.id);
    }
    connection.ephemeral.close();
    // Its channels need not be built for this socket any more (before the close handshake).
    connection.subs.clear();
    gateway.presence().remove(connection.id);
    finish(&mut sink, &mut stream, end).await;
}

/// Ends the connection as `end` says: nothing more for a lost one; the queued echo for a
/// client's Close; the hub's own Close frame, then the client's answer (or the timeout),
/// so the client sees a clean close with a code instead of a reset (1006).
async fn finish(sink: &mut Sink, stream: &mut Stream, end: End) {
    match end {
        End::Lost => {}
        End::ClosedByClient => {
            // The library answers a Close by queueing the echo; closing the sink sends it.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
        }
        End::Close(code, reason) => {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let sent = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame))));
            if matches!(sent.await, Ok(Ok(()))) {
                let answered = async {
                    while let Some(Ok(message)) = stream.next().await {
                        if let Message::Close(_) = message {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, answered).await;
            }
        }
    }
}

async fn send(sink: &mut Sink, text: Utf8Bytes, timeout: Duration) -> Result<(), End> {
    match tokio::time::timeout(timeout, sink.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Lost),
        // The screen stopped reading: a close frame would not get through either.
        Err(_) => Err(End::Lost),
    }
}

async fn send_all(sink: &mut Sink, texts: Vec<Utf8Bytes>, timeout: Duration) -> Result<(), End> {
    let write = async {
        for text in texts {
            sink.feed(Message::Text(text)).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(End::Lost),
    }
}

fn error_frame(id: Option<&str>, code: &str, message: &str) -> Utf8Bytes {
    json!({"type": "error", "id": id, "code": code, "message": message})
        .to_string()
        .into()
}

/// Answers to screen commands, which run on their own tasks. The queue is made on the
/// first command: most screens only watch, and an idle socket should cost little.
#[derive(Default)]
struct Replies {
    queue: Option<(mpsc::Sender<Utf8Bytes>, mpsc::Receiver<Utf8Bytes>)>,
}

impl Replies {
    /// Commands a screen may have in flight before their answers wait for room.
    const IN_FLIGHT: usize = 64;

    fn sender(&mut self) -> mpsc::Sender<Utf8Bytes> {
        self.queue
            .get_or_insert_with(|| mpsc::channel(Self::IN_FLIGHT))
            .0
            .clone()
    }

    /// The next answer; never ready before the first command.
    async fn next(&mut self) -> Option<Utf8Bytes> {
        match &mut self.queue {
            Some((_, answers)) => answers.recv().await,
            None => std::future::pending().await,
        }
    }
}

impl Connection {
    async fn run(
        &mut self,
        sink: &mut Sink,
        stream: &mut Stream,
        receiver: &mut tokio::sync::broadcast::Receiver<
            std::sync::Arc<super::projector::FrameBatch>,
        >,
    ) -> End {
        let config = self.gateway.config().clone();
        let ephemeral = self.ephemeral.clone();
        let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
        heartbeat.reset();
        let mut stopping = self.gateway.stopping();
        let mut replies = Replies::default();
        loop {
            let outcome = tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(message)) => {
                        self.last_heard = Instant::now();
                        // Boxed: the idle connection's future stays small, the rare paths
                        // take their memory only while they run.
                        Box::pin(self.on_message(message, sink, &mut replies)).await
                    }
                    _ => Err(End::Lost),
                },
                batch = receiver.recv() => Box::pin(self.on_batch(batch, sink)).await,
                frame = ephemeral.next() => send(sink, frame, config.write_timeout).await,
                Some(reply) = replies.next() => send(sink, reply, config.write_timeout).await,
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > config.heartbeat_timeout {
                        Err(End::Close(close::TIMEOUT, "no answer to pings"))
                    } else {
                        let heard = chrono::Utc::now()
                            - chrono::Duration::from_std(self.last_heard.elapsed()).unwrap_or_default();
                        self.gateway.presence().update(self.id, |p| p.last_heard_at = heard);
                        match self.recheck_standing(sink).await {
                            Ok(()) => {
                                let ping = json!({"type": "ping", "seq": self.projector.seq()});
                                send(sink, ping.to_string().into(), config.write_timeout).await
                            }
                            Err(end) => Err(end),
                        }
                    }
                }
                _ = stopping.changed() => Err(End::Close(close::GOING_AWAY, "hub shutting down")),
            };
            if let Err(end) = outcome {
                return end;
            }
        }
    }

    async fn on_batch(
        &mut self,
        batch: Result<std::sync::Arc<super::projector::FrameBatch>, RecvError>,
        sink: &mut Sink,
    ) -> Result<(), End> {
        let timeout = self.gateway.config().write_timeout;
        match batch {
            Ok(batch) if batch.resync => self.resync_all(sink, "hub_rebuilt").await,
            Ok(batch) => {
                let texts: Vec<Utf8Bytes> = batch
                    .frames
                    .iter()
                    .filter(|frame| {
                        self.subs
                            .get(&frame.channel)
                            .is_some_and(|sub| batch.seq > sub.from_seq)
                    })
                    .map(|frame| frame.text.clone())
                    .collect();
                if texts.is_empty() {
                    return Ok(());
                }
                send_all(sink, texts, timeout).await
            }
            Err(RecvError::Lagged(_)) => {
                // Too far behind to replay: fresh snapshots, and a limit on how often.
                let now = Instant::now();
                self.lag_resyncs
                    .retain(|at| now.duration_since(*at) < Duration::from_secs(60));
                self.lag_resyncs.push(now);
                if self.lag_resyncs.len() > 3 {
                    return Err(End::Close(close::TOO_SLOW, "cannot keep up with the venue"));
                }
                self.resync_all(sink, "lagged").await
            }
            Err(RecvError::Closed) => Err(End::Close(close::GOING_AWAY, "venue stopped")),
        }
    }

    async fn resync_all(&mut self, sink: &mut Sink, reason: &str) -> Result<(), End> {
        let mut texts = Vec::new();
        for (channel, sub) in &mut self.subs {
            if let Some((text, seq)) = self.projector.resync(channel, reason) {
                sub.from_seq = seq;
                texts.push(text);
            }
        }
        send_all(sink, texts, self.gateway.config().write_timeout).await
    }

    /// Refuses a subscription, naming the channel so the client knows which one failed.
    async fn refuse_channel(
        &mut self,
        sink: &mut Sink,
        channel: &str,
        code: ErrorCode,
        message: &str,
    ) -> Result<(), End> {
        let frame = json!({"type": "error", "id": null, "channel": channel, "code": code.as_str(), "message": message});
        self.refused += 1;
        send(
            sink,
            frame.to_string().into(),
            self.gateway.config().write_timeout,
        )
        .await
    }

    /// The staff member's standing may have changed since the token was issued: a
    /// deactivated member is disconnected, a changed role loses channels it no longer allows.
    async fn recheck_standing(&mut self, sink: &mut Sink) -> Result<(), End> {
        let mut now = self.claims.clone();
        crate::auth::authorize(&self.state.engine, &mut now).map_err(|error| {
            End::Close(
                close::UNAUTHORIZED,
                if matches!(error, crate::auth::AuthError::VenueNotAllowed) {
                    "no longer allowed at this venue"
                } else {
                    "staff member no longer active"
                },
            )
        })?;
        let role = now.role;
        if role == self.claims.role {
            return Ok(());
        }
        self.claims.role = role;
        let (me, timeout) = (self.claims.sub, self.gateway.config().write_timeout);
        let lost: Vec<Channel> = self
            .subs
            .keys()
            .filter(|channel| !channel.allows(role, me))
            .cloned()
            .collect();
        for channel in lost {
            self.subs.remove(&channel);
            self.live.unlisten(&channel.name(), self.id);
            let frame =
                json!({"type": "unsubscribed", "channel": channel, "reason": "role_changed"});
            send(sink, frame.to_string().into(), timeout).await?;
        }
        self.note_channels();
        Ok(())
    }

    /// Answers a refused frame, but at most once a second so a flood is not echoed.
    async fn refuse(
        &mut self,
        sink: &mut Sink,
        id: Option<&str>,
        code: ErrorCode,
        message: &str,
    ) -> Result<(), End> {
        if self.refused_since.elapsed() > Duration::from_secs(60) {
            self.refused = 0;
            self.refused_since = Instant::now();
        }
        self.refused += 1;
        if self.refused > 1000 {
            return Err(End::Close(close::FLOODING, "too many refused frames"));
        }
        let now = Instant::now();
        if code == ErrorCode::RateLimited
            && self
                .last_refusal_notice
                .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return Ok(());
        }
        self.last_refusal_notice = Some(now);
        send(
            sink,
            error_frame(id, code.as_str(), message),
            self.gateway.config().write_timeout,
        )
        .await
    }

    async fn on_message(
        &mut self,
        message: Message,
        sink: &mut Sink,
        replies: &mut Replies,
    ) -> Result<(), End> {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self
                    .refuse(
                        sink,
                        None,
                        ErrorCode::BinaryNotSupported,
                        "send JSON text frames",
                    )
                    .await;
            }
            Message::Close(_) => return Err(End::ClosedByClient),
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
        };
        if !self.frames.take() {
            return self
                .refuse(
                    sink,
                    None,
                    ErrorCode::RateLimited,
                    "too many frames; slow down",
                )
                .await;
        }
        let frame = match serde_json::from_str::<ClientFrame>(&text) {
            Ok(frame) => frame,
            Err(error) => {
                let code = if error.is_syntax() || error.is_eof() {
                    ErrorCode::InvalidJson
                } else {
                    ErrorCode::InvalidFrame
                };
                return self.refuse(sink, None, code, &error.to_string()).await;
            }
        };
        let timeout = self.gateway.config().write_timeout;
        match frame {
            ClientFrame::Hello { .. } => {
                self.refuse(
                    sink,
                    None,
                    ErrorCode::AlreadyAuthenticated,
                    "hello is only the first frame",
                )
                .await
            }
            ClientFrame::Pong { .. } => Ok(()),
            ClientFrame::Subscribe { channel, since } => {
                let Some(parsed) = Channel::parse(&channel, self.claims.sub) else {
                    let message = format!("no channel named {channel:?}");
                    return self
                        .refuse_channel(sink, &channel, ErrorCode::UnknownChannel, &message)
                        .await;
                };
                if !parsed.allows(self.claims.role, self.claims.sub) {
                    let message = format!(
                        "a {} may not open {}",
                        self.claims.role.as_str(),
                        parsed.name()
                    );
                    return self
                        .refuse_channel(sink, &channel, ErrorCode::ForbiddenChannel, &message)
                        .await;
                }
                // Listen before the snapshot is taken, so no ephemeral frame falls between.
                let name = parsed.name();
                self.live.listen(&name, self.id, self.ephemeral.clone());
                match self.projector.open(&parsed, since) {
                    Ok(opened) => {
                        self.subs.insert(
                            parsed,
                            Subscription {
                                from_seq: opened.from_seq,
                                station: opened.station,
                                _listening: opened.listening,
                            },
                        );
                        self.note_channels();
                        send_all(sink, opened.frames, timeout).await
                    }
                    Err((code, message)) => {
                        if !self.subs.contains_key(&parsed) {
                            self.live.unlisten(&name, self.id);
                        }
                        self.refuse_channel(sink, &channel, code, &message).await
                    }
                }
            }
            ClientFrame::Unsubscribe { channel } => {
                let parsed = Channel::parse(&channel, self.claims.sub);
                let name = parsed.as_ref().map_or(channel, Channel::name);
                if let Some(parsed) = &parsed {
                    self.subs.remove(parsed);
                }
                self.live.unlisten(&name, self.id);
                self.note_channels();
                send(
                    sink,
                    json!({"type": "unsubscribed", "channel": name})
                        .to_string()
                        .into(),
                    timeout,
                )
                .await
            }
            ClientFrame::Seen { seq } => {
                // A screen can only have rendered what exists: a `seen` ahead of the venue
                // would confirm tickets not yet fired and silence their delivery alerts.
                let newest = self.projector.seq();
                if seq > newest {
                    let message = format!("seq {seq} is ahead of the venue, which is at {newest}");
                    return self
                        .refuse(sink, None, ErrorCode::SeenAhead, &message)
                        .await;
                }
                let stations: Vec<StationId> =
                    self.subs.values().filter_map(|s| s.station).collect();
                if !stations.is_empty() {
                    self.projector.seen(&stations, seq);
                }
                self.gateway.presence().update(self.id, |p| {
                    p.seen_seq = Some(p.seen_seq.map_or(seq, |old| old.max(seq)));
                    p.last_heard_at = chrono::Utc::now();
                });
                Ok(())
            }
            ClientFrame::Command { id, command } => {
                self.recheck_standing(sink).await?;
                let id_text = id.to_string();
                if !self.commands.take() {
                    return self
                        .refuse(
                            sink,
                            Some(&id_text),
                            ErrorCode::RateLimited,
                            "too many commands; slow down",
                        )
                        .await;
                }
                if !crate::auth::allows(self.claims.role, command.permission()) {
                    let message = format!("a {} may not do that", self.claims.role.as_str());
                    return self
                        .refuse(sink, Some(&id_text), ErrorCode::Forbidden, &message)
                        .await;
                }
                let venue = self.venue.clone();
                let actor = Actor::staff(
                    self.claims.sub,
                    self.claims.role,
                    self.device.clone().or_else(|| Some("ws".into())),
                );
                let replies = replies.sender();
                tokio::spawn(async move {
                    let reply = match execute(&venue, id, actor, command).await {
                        Ok(outcome) => json!({
                            "type": "ack",
                            "id": id_text,
                            "seq": outcome.last_seq,
                            "replayed": outcome.replayed,
                        })
                        .to_string()
                        .into(),
                        Err((code, message)) => {
                            error_frame(Some(&id_text), code.as_str(), &message)
                        }
                    };
                    let _ = replies.send(reply).await;
                });
                Ok(())
            }
        }
    }

    fn note_channels(&self) {
        let channels: Vec<String> = self.subs.keys().map(Channel::name).collect();
        self.gateway
            .presence()
            .update(self.id, |p| p.channels = channels);
    }
}

/// Turns a screen command into a domain command and runs it, like an HTTP command.
async fn execute(
    venue: &VenueHandle,
    id: uuid::Uuid,
    actor: Actor,
    command: ScreenCommand,
) -> Result<crate::engine::Outcome, (Refusal, String)> {
    let station_key = match &command {
        ScreenCommand::StartTicket { station, .. }
        | ScreenCommand::BumpTicket { station, .. }
        | ScreenCommand::BumpLine { station, .. }
        | ScreenCommand::RecallLast { station }
        | ScreenCommand::RecallTicket { station, .. } => Some(station.clone()),
        ScreenCommand::ServeReady { .. }
        | ScreenCommand::MarkServed { .. }
        | ScreenCommand::AcknowledgeService { .. } => None,
    };
    let lookup = station_key.clone();
    let (station, last_bumped) = venue
        .read(move |v| {
            let station = lookup
                .as_deref()
                .and_then(|key| view::station_by_key(v, key))
                .map(|s| s.id);
            let last = station.and_then(|s| v.last_bumped(s));
            (station, last)
        })
        .await
        .map_err(|e| (ErrorCode::Unavailable.into(), e.to_string()))?;
    let station_id = match (&station_key, station) {
        (Some(key), None) => {
            return Err((
                ErrorCode::StationNotFound.into(),
                format!("no station with key {key:?}"),
            ));
        }
        (_, station) => station,
    };
    let station = || {
        station_id.ok_or_else(|| {
            (
                Refusal::Hub(ErrorCode::StationNotFound),
                "no station".to_owned(),
            )
        })
    };
    let command = match command {
        ScreenCommand::StartTicket { order_id, .. } => Command::StartTicket {
            order_id,
            station_id: station()?,
        },
        ScreenCommand::BumpTicket { order_id, .. } => Command::BumpTicket {
            order_id,
            station_id: station()?,
        },
        ScreenCommand::BumpLine {
            order_id, line_id, ..
        } => Command::MarkLinesReady {
            order_id,
            line_ids: vec![line_id],
            station_id: Some(station()?),
        },
        ScreenCommand::RecallLast { .. } => Command::RecallTicket {
            order_id: last_bumped.ok_or_else(|| {
                (
                    Refusal::Hub(ErrorCode::NothingToRecall),
                    "this station has no bumped ticket to recall".to_owned(),
                )
            })?,
            station_id: station()?,
        },
        ScreenCommand::RecallTicket { order_id, .. } => Command::RecallTicket {
            order_id,
            station_id: station()?,
        },
        ScreenCommand::ServeReady { order_id } => Command::ServeReady { order_id },
        ScreenCommand::MarkServed { order_id, line_ids } => {
            Command::ServeLines { order_id, line_ids }
        }
        ScreenCommand::AcknowledgeService { table_id } => {
            Command::AcknowledgeServiceRequest { table_id }
        }
    };
    venue
        .execute(Envelope {
            command_id: id,
            actor,
            command,
        })
        .await
        .map_err(|error| match error {
            EngineError::Rejected(rejection) => (
                Refusal::Rejected(rejection.code.as_str()),
                rejection.message,
            ),
            EngineError::Unavailable(_) | EngineError::Internal(_) => (
                ErrorCode::Unavailable.into(),
                "the hub cannot store this right now; retry with the same id".into(),
            ),
            EngineError::Stopped => (
                ErrorCode::Unavailable.into(),
                "the hub is shutting down".into(),
            ),
        })
}
