//! Owns the test side of the screen protocol: a real WebSocket client (tokio-tungstenite)
//! that connects to a hub's `/ws`, authenticates, subscribes and reads typed frames.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue, protocol::CloseFrame},
};

use crate::helpers::{Api, TestHub};

/// How long a test waits for a frame that should come.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Screen {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames that arrived while waiting for a command's answer, read next.
    backlog: std::collections::VecDeque<Value>,
    /// Highest `seq` seen in any frame.
    pub last_seq: u64,
}

/// What reading a socket produced.
#[derive(Debug)]
pub enum Read {
    Frame(Value),
    Closed(Option<CloseFrame>),
}

impl Screen {
    /// Connects with the token in `Sec-WebSocket-Protocol`, as browsers do.
    pub async fn connect(hub: &TestHub, api: &Api) -> Self {
        let mut request = format!("ws://{}/ws", hub.address)
            .into_client_request()
            .unwrap();
        let protocols = format!("almahira.v1, bearer.{}", api.token.as_deref().unwrap());
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols).unwrap(),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "almahira.v1");
        let mut screen = Self {
            socket,
            backlog: Default::default(),
            last_seq: 0,
        };
        let welcome = screen.next().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        screen
    }

    /// Connects without a token; the first frame must then be `hello`.
    pub async fn connect_bare(hub: &TestHub) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", hub.address))
            .await
            .unwrap();
        Self {
            socket,
            backlog: Default::default(),
            last_seq: 0,
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.unwrap();
    }

    /// The next frame or the close, whichever comes; panics after `PATIENCE`.
    pub async fn read(&mut self) -> Read {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("a frame within the patience window");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    if let Some(seq) = frame["seq"].as_u64() {
                        self.last_seq = self.last_seq.max(seq);
                    }
                    return Read::Frame(frame);
                }
                Some(Ok(Message::Close(frame))) => return Read::Closed(frame),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Read::Closed(None),
            }
        }
    }

    /// The next frame that is not a ping.
    pub async fn next(&mut self) -> Value {
        if let Some(frame) = self.backlog.pop_front() {
            return frame;
        }
        loop {
            match self.read().await {
                Read::Frame(frame) if frame["type"] == "ping" => continue,
                Read::Frame(frame) => return frame,
                Read::Closed(close) => panic!("socket closed: {close:?}"),
            }
        }
    }

    /// Reads until a frame matches; frames before it are returned too, in order.
    pub async fn until(&mut self, matches: impl Fn(&Value) -> bool) -> (Vec<Value>, Value) {
        let mut skipped = Vec::new();
        loop {
            let frame = self.next().await;
            if matches(&frame) {
                return (skipped, frame);
            }
            skipped.push(frame);
        }
    }

    /// The next `event` frame of a kind on a channel.
    pub async fn event(&mut self, channel: &str, kind: &str) -> Value {
        self.until(|f| f["type"] == "event" && f["channel"] == channel && f["kind"] == kind)
            .await
            .1
    }

    /// Subscribes and returns the opening frame (`snapshot` or `resumed`).
    pub async fn subscribe(&mut self, channel: &str, since: Option<u64>) -> Value {
        self.send(json!({"type": "subscribe", "channel": channel, "since": since}))
            .await;
        self.next().await
    }

    /// Sends a command and waits for its answer; frames arriving meanwhile stay readable.
    pub async fn command(&mut self, id: &str, command: Value) -> Value {
        self.send(json!({"type": "command", "id": id, "command": command}))
            .await;
        let mut kept = Vec::new();
        loop {
            let frame = self.next().await;
            if (frame["type"] == "ack" || frame["type"] == "error") && frame["id"] == id {
                self.backlog.extend(kept);
                return frame;
            }
            kept.push(frame);
        }
    }

    /// Expects the socket to close with `code`.
    pub async fn expect_close(&mut self, code: u16) -> String {
        loop {
            match self.read().await {
                Read::Frame(_) => continue,
                Read::Closed(Some(frame)) => {
                    assert_eq!(u16::from(frame.code), code, "closed with {frame:?}");
                    return frame.reason.to_string();
                }
                Read::Closed(None) => panic!("closed without a close frame, expected {code}"),
            }
        }
    }

    /// Asserts nothing but pings arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(frame["type"], "ping", "unexpected frame {frame}");
                }
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// Closes with `code` and waits for the hub's answer: `Ok` with the close frame it sent
    /// back, `Err` if the connection ended without one (what a browser reports as 1006).
    pub async fn close_handshake(mut self, code: u16, reason: &str) -> Result<CloseFrame, String> {
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.into(),
        };
        self.socket
            .close(Some(frame))
            .await
            .map_err(|e| format!("sending close: {e}"))?;
        loop {
            match tokio::time::timeout(PATIENCE, self.socket.next()).await {
                Err(_) => return Err("no answer within the patience window".into()),
                Ok(Some(Ok(Message::Close(Some(frame))))) => return Ok(frame),
                Ok(Some(Ok(Message::Close(None)))) => {
                    return Err("a close frame without a code".into());
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(error))) => return Err(error.to_string()),
                Ok(None) => return Err("the connection ended without a close frame".into()),
            }
        }
    }
}
