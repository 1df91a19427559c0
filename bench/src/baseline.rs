//! The bare-socket limit for the `screens` benchmark: a minimal broadcast server written
//! directly on tokio-tungstenite that greets, answers `subscribe` with an empty snapshot and
//! then pushes a recorded sequence of frames to every socket on their channel, at the pace
//! they were recorded, with `at` restamped to the moment each frame is sent.
//! It must stay minimal: no auth, no sequencing, no persistence, no projection; it is what
//! fan-out costs on this machine with nothing else in the way. Serves 127.0.0.1 only.

use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::broadcast,
    task::JoinHandle,
};
use tokio_tungstenite::tungstenite::{
    Message, Utf8Bytes,
    handshake::server::{ErrorResponse, Request, Response},
    http::HeaderValue,
};

use crate::screen::{Recorded, SUBPROTOCOL};

/// Frames a slow socket may fall behind before it misses some (they are then counted
/// as missing by the clients, as on the hub).
const FANOUT_CAPACITY: usize = 4096;

/// One frame to push on one channel at an offset from the start of the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub offset: Duration,
    pub channel: String,
    pub text: String,
}

/// Merges what each channel's recording screen received into one timeline, earliest first;
/// frames of a channel keep their order.
pub fn schedule(recordings: Vec<(String, Vec<Recorded>)>) -> Vec<Scheduled> {
    let mut timeline: Vec<Scheduled> = recordings
        .into_iter()
        .flat_map(|(channel, frames)| {
            frames.into_iter().map(move |frame| Scheduled {
                offset: frame.offset,
                channel: channel.clone(),
                text: frame.text,
            })
        })
        .collect();
    // Stable: equal offsets keep the recording order within a channel.
    timeline.sort_by_key(|frame| frame.offset);
    timeline
}

/// `text` with its `at` replaced by `now`, as the hub formats it; `None` for non-JSON.
pub fn restamp(text: &str, now: DateTime<Utc>) -> Option<String> {
    let mut frame: Value = serde_json::from_str(text).ok()?;
    frame.as_object_mut()?.insert(
        "at".to_owned(),
        json!(now.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    );
    Some(frame.to_string())
}

/// The bare server, accepting on 127.0.0.1 until dropped.
pub struct BareServer {
    address: SocketAddr,
    channels: HashMap<String, broadcast::Sender<Utf8Bytes>>,
    accepting: JoinHandle<()>,
}

impl BareServer {
    /// Binds a free port on 127.0.0.1 and serves `channels`.
    pub async fn start(channels: &[String]) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the baseline server")?;
        let address = listener.local_addr().context("the baseline's address")?;
        let channels: HashMap<String, broadcast::Sender<Utf8Bytes>> = channels
            .iter()
            .map(|name| (name.clone(), broadcast::channel(FANOUT_CAPACITY).0))
            .collect();
        let accepting = tokio::spawn(accept(listener, channels.clone()));
        Ok(Self {
            address,
            channels,
            accepting,
        })
    }

    /// `ws://127.0.0.1:<port>/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    /// Pushes `timeline` at its pace from now; returns the replay's start.
    pub async fn replay(&self, timeline: &[Scheduled]) -> Instant {
        let started = Instant::now();
        let start = tokio::time::Instant::from_std(started);
        for frame in timeline {
            tokio::time::sleep_until(start + frame.offset).await;
            let (Some(sender), Some(text)) = (
                self.channels.get(&frame.channel),
                restamp(&frame.text, Utc::now()),
            ) else {
                continue;
            };
            // No subscriber is not an error: the clients count what they miss.
            let _ = sender.send(Utf8Bytes::from(text));
        }
        started
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        // Dropping the accept task drops its connection tasks with it.
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, channels: HashMap<String, broadcast::Sender<Utf8Bytes>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream, channels.clone()));
                }
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Answers the screen's subprotocol like the hub does, so the same client works on both.
#[allow(
    clippy::result_large_err,
    reason = "the signature is tungstenite's handshake callback"
)]
fn choose_subprotocol(
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let asked = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim() == SUBPROTOCOL);
    if asked {
        response.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    Ok(response)
}

async fn serve(stream: TcpStream, channels: HashMap<String, broadcast::Sender<Utf8Bytes>>) {
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, choose_subprotocol).await
    else {
        return;
    };
    let welcome = json!({"type": "welcome", "protocol": SUBPROTOCOL});
    if socket
        .send(Message::text(welcome.to_string()))
        .await
        .is_err()
    {
        return;
    }
    let mut feed: Option<broadcast::Receiver<Utf8Bytes>> = None;
    loop {
        let next = async {
            match &mut feed {
                Some(feed) => feed.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = next => match frame {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                    if frame["type"] != "subscribe" {
                        continue;
                    }
                    let channel = frame["channel"].as_str().unwrap_or_default();
                    if let Some(sender) = channels.get(channel) {
                        feed = Some(sender.subscribe());
                    }
                    let snapshot = json!({"type": "snapshot", "channel": channel, "seq": null});
                    if socket.send(Message::text(snapshot.to_string())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(millis: u64, text: &str) -> Recorded {
        Recorded {
            offset: Duration::from_millis(millis),
            text: text.to_owned(),
        }
    }

    #[test]
    fn the_timeline_interleaves_channels_by_arrival_and_keeps_each_channels_order() {
        let timeline = schedule(vec![
            (
                "kds:grill".to_owned(),
                vec![recorded(10, "g1"), recorded(30, "g2")],
            ),
            (
                "expo".to_owned(),
                vec![recorded(10, "e1"), recorded(20, "e2")],
            ),
        ]);
        let order: Vec<&str> = timeline.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(order, ["g1", "e1", "e2", "g2"]);
        assert_eq!(timeline[2].channel, "expo");
    }

    #[test]
    fn restamping_replaces_only_at() {
        let now = "2025-01-01T10:00:00.123456Z"
            .parse::<DateTime<Utc>>()
            .unwrap();
        let text =
            r#"{"type":"event","seq":7,"prev":5,"at":"2020-01-01T00:00:00Z","data":{"x":1}}"#;
        let frame: Value = serde_json::from_str(&restamp(text, now).unwrap()).unwrap();
        assert_eq!(frame["at"], "2025-01-01T10:00:00.123456Z");
        assert_eq!(frame["seq"], 7);
        assert_eq!(frame["prev"], 5);
        assert_eq!(frame["data"]["x"], 1);
        assert_eq!(restamp("not json", now), None);
    }
}
