//! One measuring screen: a tokio-tungstenite client that speaks just enough of the screen
//! protocol (token in `Sec-WebSocket-Protocol`, `welcome`, `subscribe`, `snapshot`, `pong`)
//! to hold one channel open and time every `event` frame against the `at` it carries.
//! The same client is used against the hub and the bare-socket baseline, so both rows pay
//! the same client-side costs. It never asserts; what went wrong is counted and reported.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::watch};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue},
};

use crate::latency::Latencies;

/// The subprotocol screens ask for, with `bearer.<token>` beside it.
pub const SUBPROTOCOL: &str = "almahira.v1";
/// How long connecting, `welcome` and the `snapshot` may take before the screen gives up.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a closing handshake may take at the end of a run.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected screen subscribed to one channel.
pub struct Screen {
    socket: Socket,
    channel: String,
}

/// An `event` frame as a recording screen saw it, for the baseline to replay.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it arrived, from the start of the load.
    pub offset: Duration,
    pub text: String,
}

/// What one screen measured while listening.
#[derive(Debug, Default)]
pub struct Listened {
    pub channel: String,
    /// `event` frames received.
    pub events: u64,
    /// Receive wall-clock time minus the frame's `at`, per `event` frame.
    pub latencies: Latencies,
    /// Frames whose `prev` was not the `seq` of the event before it on this socket.
    pub gaps: u64,
    /// `snapshot` frames after the first: the server resynced this screen.
    pub resyncs: u64,
    /// `event` frames without a readable `at`.
    pub unstamped: u64,
    /// When the last `event` frame arrived.
    pub last_event: Option<Instant>,
    /// Every `event` frame, when this screen records its channel.
    pub recorded: Option<Vec<Recorded>>,
    /// Why the socket ended before it was told to stop, if it did.
    pub ended_early: Option<String>,
}

impl Screen {
    /// Connects to `url` (`ws://host:port/ws`), waits for `welcome`, subscribes to
    /// `channel` and waits for its `snapshot`.
    pub async fn open(url: &str, token: &str, channel: &str) -> anyhow::Result<Self> {
        tokio::time::timeout(OPEN_TIMEOUT, Self::open_now(url, token, channel))
            .await
            .with_context(|| format!("opening {channel} took over {OPEN_TIMEOUT:?}"))?
    }

    async fn open_now(url: &str, token: &str, channel: &str) -> anyhow::Result<Self> {
        let mut request = url
            .into_client_request()
            .context("building the upgrade request")?;
        let protocols = HeaderValue::from_str(&format!("{SUBPROTOCOL}, bearer.{token}"))
            .context("the token does not fit in a header")?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let mut screen = Self {
            socket,
            channel: channel.to_owned(),
        };
        let welcome = screen.next_frame().await?;
        if welcome["type"] != "welcome" {
            bail!("the first frame was not welcome: {welcome}");
        }
        let subscribe = json!({"type": "subscribe", "channel": channel, "since": null});
        screen
            .socket
            .send(Message::text(subscribe.to_string()))
            .await
            .context("subscribing")?;
        let opening = screen.next_frame().await?;
        if opening["type"] != "snapshot" {
            bail!("subscribing to {channel} answered {opening}");
        }
        Ok(screen)
    }

    /// The channel this screen subscribed to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The next text frame that is not a ping (pings are answered).
    pub async fn next_frame(&mut self) -> anyhow::Result<Value> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value =
                        serde_json::from_str(&text).context("a frame that is not JSON")?;
                    if frame["type"] == "ping" {
                        self.pong().await?;
                        continue;
                    }
                    return Ok(frame);
                }
                Some(Ok(Message::Close(close))) => bail!("the server closed the socket: {close:?}"),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error).context("reading the socket"),
                None => bail!("the socket ended"),
            }
        }
    }

    async fn pong(&mut self) -> anyhow::Result<()> {
        self.socket
            .send(Message::text(json!({"type": "pong"}).to_string()))
            .await
            .context("answering a ping")
    }

    /// Reads until `stop` turns true, timing each `event` frame; with `record`, keeps every
    /// event frame with its arrival offset from `epoch`. Closes the socket at the end.
    pub async fn listen(
        mut self,
        epoch: Instant,
        record: bool,
        mut stop: watch::Receiver<bool>,
    ) -> Listened {
        let mut listened = Listened {
            channel: self.channel.clone(),
            recorded: record.then(Vec::new),
            ..Listened::default()
        };
        let mut last_seq: Option<u64> = None;
        loop {
            let message = tokio::select! {
                message = self.socket.next() => message,
                _ = stop.wait_for(|stop| *stop) => break,
            };
            let (received_at, received) = (Utc::now(), Instant::now());
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(close))) => {
                    listened.ended_early = Some(format!("closed by the server: {close:?}"));
                    return listened;
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => {
                    listened.ended_early = Some(format!("socket error: {error}"));
                    return listened;
                }
                None => {
                    listened.ended_early = Some("the socket ended".to_owned());
                    return listened;
                }
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                listened.unstamped += 1;
                continue;
            };
            match frame["type"].as_str() {
                Some("ping") => {
                    if let Err(error) = self.pong().await {
                        listened.ended_early = Some(format!("{error:#}"));
                        return listened;
                    }
                }
                Some("snapshot") => {
                    listened.resyncs += 1;
                    last_seq = frame["seq"].as_u64();
                }
                Some("event") => {
                    listened.events += 1;
                    listened.last_event = Some(received);
                    match frame_latency(&frame, received_at) {
                        Some(latency) => listened.latencies.record(latency),
                        None => listened.unstamped += 1,
                    }
                    let seq = frame["seq"].as_u64();
                    if let Some(last) = last_seq
                        && frame["prev"].as_u64() != Some(last)
                    {
                        listened.gaps += 1;
                    }
                    last_seq = seq;
                    if let Some(recorded) = &mut listened.recorded {
                        recorded.push(Recorded {
                            offset: received.saturating_duration_since(epoch),
                            text: text.to_string(),
                        });
                    }
                }
                _ => {}
            }
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.socket.close(None)).await;
        listened
    }
}

/// What a screen listening for sequence numbers saw ([`Screen::listen_arrivals`]).
#[derive(Debug, Default)]
pub struct Arrivals {
    /// `(seq, microseconds from the epoch)` of every `event` frame; consecutive frames of
    /// one `seq` keep only the last arrival, which is the one that counts.
    pub arrivals: Vec<(u64, u64)>,
    /// `snapshot` frames after the first: the server resynced this screen.
    pub resyncs: u64,
    /// Why the socket ended before it was told to stop, if it did.
    pub ended_early: Option<String>,
}

/// The envelope fields [`Screen::listen_arrivals`] reads; `data` is skipped, not built.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    seq: Option<u64>,
}

impl Screen {
    /// Reads until `stop` turns true, noting when each `event` frame's `seq` arrived (from
    /// `epoch`), without building the frame's JSON. Closes the socket at the end.
    pub async fn listen_arrivals(
        mut self,
        epoch: Instant,
        mut stop: watch::Receiver<bool>,
    ) -> Arrivals {
        let mut seen = Arrivals::default();
        loop {
            let message = tokio::select! {
                message = self.socket.next() => message,
                _ = stop.wait_for(|stop| *stop) => break,
            };
            let received = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(close))) => {
                    seen.ended_early = Some(format!("closed by the server: {close:?}"));
                    return seen;
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => {
                    seen.ended_early = Some(format!("socket error: {error}"));
                    return seen;
                }
                None => {
                    seen.ended_early = Some("the socket ended".to_owned());
                    return seen;
                }
            };
            let Ok(frame) = serde_json::from_str::<Envelope<'_>>(&text) else {
                continue;
            };
            match (frame.kind.as_ref(), frame.seq) {
                ("event", Some(seq)) => match seen.arrivals.last_mut() {
                    Some(last) if last.0 == seq => last.1 = received,
                    _ => seen.arrivals.push((seq, received)),
                },
                ("snapshot", _) => seen.resyncs += 1,
                ("ping", _) => {
                    if let Err(error) = self.pong().await {
                        seen.ended_early = Some(format!("{error:#}"));
                        return seen;
                    }
                }
                _ => {}
            }
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.socket.close(None)).await;
        seen
    }
}

/// `received - frame.at`, or `None` when the frame has no RFC 3339 `at`. A frame stamped
/// after it arrived (clock steps) counts as zero rather than being dropped.
pub fn frame_latency(frame: &Value, received: DateTime<Utc>) -> Option<Duration> {
    let at = DateTime::parse_from_rfc3339(frame["at"].as_str()?).ok()?;
    Some(
        (received - at.with_timezone(&Utc))
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_the_receive_time_minus_the_frames_at() {
        let frame = json!({"type": "event", "at": "2025-01-01T10:00:00.250+00:00"});
        let received = "2025-01-01T10:00:00.300Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            frame_latency(&frame, received),
            Some(Duration::from_millis(50))
        );
    }

    #[test]
    fn a_frame_from_the_future_counts_as_instant_and_one_without_at_is_not_timed() {
        let received = "2025-01-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let ahead = json!({"at": "2025-01-01T10:00:01Z"});
        assert_eq!(frame_latency(&ahead, received), Some(Duration::ZERO));
        assert_eq!(frame_latency(&json!({"seq": 3}), received), None);
        assert_eq!(frame_latency(&json!({"at": "soon"}), received), None);
    }
}
