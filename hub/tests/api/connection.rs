//! Owns how the hub treats TCP connections on its HTTP port, seen through raw sockets:
//! silent, slow-header and stalled connections are closed in bounded time, one address
//! cannot hold more than its share, a hub at its open-files limit still answers health,
//! logins and devices, and a request refused before its body was read leaves the
//! connection usable or says it will close. Only 127.0.0.x addresses are used.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::Instant,
};

use crate::{
    database::{Backend, TestDatabase},
    helpers::{Api, HubProcess, MANAGER_PIN, ProcessOptions, TestHub, WAITER_PIN},
    mqtt::{Device, fridge, provision},
};

/// A second loopback address: the hub sees it as another client.
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Opens a TCP connection to `to` from `from` (any port).
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the hub closes the connection; `Some(what it sent)` if that happened
/// within `within`, `None` if the connection was still open then.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// An API client whose connections come from `from`.
fn client_from(hub: SocketAddr, from: IpAddr) -> Api {
    let mut api = Api::new(format!("http://{hub}"));
    api.http = reqwest::Client::builder()
        .local_address(from)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    api
}

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one response with a `content-length` body; `Err` when the connection ends first.
async fn read_response(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
) -> Result<RawResponse, String> {
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Err(_) => return Err("no answer within 10 s".into()),
            Ok(Ok(0)) => return Err("the connection closed before an answer".into()),
            Ok(Err(e)) => return Err(format!("reading: {e}")),
            Ok(Ok(n)) => pending.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not a status line: {head}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    pending.drain(..head_end + 4);
    while pending.len() < length {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Err(_) => return Err("the body did not arrive within 10 s".into()),
            Ok(Ok(0)) => return Err("the connection closed inside the body".into()),
            Ok(Err(e)) => return Err(format!("reading the body: {e}")),
            Ok(Ok(n)) => pending.extend_from_slice(&buf[..n]),
        }
    }
    let body = pending.drain(..length).collect();
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

async fn sqlite_hub(configure: impl FnOnce(&mut hub::config::Settings)) -> (TestDatabase, TestHub) {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let hub = TestHub::start_with(&db, configure).await;
    (db, hub)
}

#[tokio::test]
async fn a_silent_or_idle_connection_is_closed_after_the_header_timeout() {
    let (_db, hub) = sqlite_hub(|s| s.http_header_timeout_seconds = 0.5).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(hub.address).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection that never sends a byte is closed"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the timeout"
    );

    // A keep-alive connection that answered a request gets the same time for the next one.
    let mut kept = TcpStream::connect(hub.address).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut kept, &mut Vec::new()).await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(!answer.says_close());
    assert!(
        closed_within(&mut kept, Duration::from_secs(5))
            .await
            .is_some(),
        "an idle keep-alive connection is closed"
    );
    hub.stop().await;
}

#[tokio::test]
async fn connections_that_send_their_headers_slowly_are_closed() {
    let (_db, hub) = sqlite_hub(|s| s.http_header_timeout_seconds = 0.5).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(hub.address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    // One byte of a header line every 100 ms, never finishing the head.
    let started = Instant::now();
    let mut open = slow.len();
    let mut closed = vec![false; slow.len()];
    while open > 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (stream, closed) in slow.iter_mut().zip(closed.iter_mut()) {
            if *closed {
                continue;
            }
            let mut buf = [0u8; 256];
            let ended =
                match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => true,
                    Ok(Ok(_)) | Err(_) => stream.write_all(b"a").await.is_err(),
                };
            if ended {
                *closed = true;
                open -= 1;
            }
        }
    }
    assert_eq!(open, 0, "every slow-header connection is closed within 5 s");
    // The hub still answers.
    hub.client().get("/healthz").await.expect(StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn a_request_whose_upload_stalls_is_closed_after_the_idle_timeout() {
    let (_db, hub) = sqlite_hub(|s| s.http_idle_timeout_seconds = 0.5).await;
    let mut stalled = TcpStream::connect(hub.address).await.unwrap();
    stalled
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"venue\": \"demo\", ",
        )
        .await
        .unwrap();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(5))
            .await
            .is_some(),
        "a request that stops sending its body is closed"
    );
    hub.stop().await;
}

#[tokio::test]
async fn one_address_over_its_cap_is_refused_while_other_clients_are_served() {
    let (_db, hub) = sqlite_hub(|s| {
        s.http_max_connections_per_address = 8;
        s.http_header_timeout_seconds = 30.0;
    })
    .await;
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from(local, hub.address).await);
    }
    for _ in 0..4 {
        let mut over = connect_from(local, hub.address).await;
        let answer = closed_within(&mut over, Duration::from_secs(5))
            .await
            .expect("a connection over the cap is closed at once");
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.is_empty()
                || (text.starts_with("HTTP/1.1 503") && text.contains("too_many_connections")),
            "refused with 503 too_many_connections (or closed): {text}"
        );
    }
    // Another client is served meanwhile: health and a login.
    let other = client_from(hub.address, OTHER_CLIENT);
    other.get("/healthz").await.expect(StatusCode::OK);
    other.login(WAITER_PIN).await;
    let metrics = other.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    let metrics = hub.state.metrics.encode();
    assert!(
        metrics.contains("hub_http_connections_refused_total{reason=\"per_address\"} 4"),
        "{metrics}"
    );
    // Once its connections close, the address is served again.
    drop(held);
    let again = client_from(hub.address, local);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match again.try_send(reqwest::Method::GET, "/healthz", None).await {
            Ok(reply) if reply.status == StatusCode::OK => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("the address is not served again: {other:?}"),
        }
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_hub_at_its_open_files_limit_still_answers_health_logins_and_devices() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let process = HubProcess::start_with(
        &db,
        ProcessOptions {
            mqtt: true,
            open_files_limit: Some(256),
            args: vec!["--http-header-timeout-seconds=60".into()],
        },
    )
    .await;
    let manager = process.client().login(MANAGER_PIN).await;
    let credentials = provision(&manager, fridge("walk-in", 5, 60)).await;

    // More idle sockets than the hub has file descriptors.
    let mut idle = Vec::new();
    for _ in 0..300 {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(process.address))
            .await
        {
            Ok(Ok(stream)) => idle.push(stream),
            Ok(Err(error)) => panic!("connecting: {error}"),
            Err(_) => panic!("connect timed out: the listen backlog is full"),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = process.client();
    client.get("/healthz").await.expect(StatusCode::OK);
    client.get("/readyz").await.expect(StatusCode::OK);
    let waiter = client.login(WAITER_PIN).await;
    waiter.get("/api/v1/floor").await.expect(StatusCode::OK);
    let device = Device::connect(process.mqtt.unwrap(), &credentials, "walk-in-1", false)
        .await
        .expect("the device connects");
    device.disconnect().await;
    // The hub made room by closing idle sockets and never ran out of file descriptors.
    let metrics = reqwest::get(format!("http://{}/metrics", process.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |family: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(family))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("{family} missing from /metrics"))
    };
    assert!(value("hub_http_connections_closed_total{reason=\"evicted\"}") > 0.0);
    assert_eq!(value("hub_http_accept_errors_total"), 0.0);
    assert!(value("hub_http_connections") < 256.0);
    drop(idle);
}

/// 100 rounds on keep-alive connections: a request refused with 401 before its 200 KB body
/// was read, then an ordinary request on the same connection.
#[tokio::test]
async fn a_refused_request_with_a_large_body_leaves_its_connection_usable_or_says_close() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let body = format!(
        "{{\"command_id\": \"{}\", \"note\": \"{}\"}}",
        uuid::Uuid::new_v4(),
        "x".repeat(200 * 1024)
    );
    let refused = format!(
        "POST /api/v1/orders HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let follow_up = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n";
    let mut stream = TcpStream::connect(hub.address).await.unwrap();
    let mut pending = Vec::new();
    let mut failures = Vec::new();
    let mut announced_closes = 0;
    for round in 0..100 {
        let sent = stream.write_all(refused.as_bytes()).await;
        let answer = match sent {
            Ok(()) => read_response(&mut stream, &mut pending).await,
            Err(e) => Err(format!("writing the refused request: {e}")),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                failures.push(format!("round {round}: {e}"));
                stream = TcpStream::connect(hub.address).await.unwrap();
                pending.clear();
                continue;
            }
        };
        assert_eq!(
            answer.status,
            401,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        if answer.says_close() {
            announced_closes += 1;
            stream = TcpStream::connect(hub.address).await.unwrap();
            pending.clear();
            continue;
        }
        let next = match stream.write_all(follow_up).await {
            Ok(()) => read_response(&mut stream, &mut pending).await,
            Err(e) => Err(format!("writing the follow-up: {e}")),
        };
        match next {
            Ok(answer) if answer.status == 200 => {}
            Ok(answer) => failures.push(format!("round {round}: follow-up got {}", answer.status)),
            Err(e) => {
                failures.push(format!("round {round}: follow-up failed: {e}"));
                stream = TcpStream::connect(hub.address).await.unwrap();
                pending.clear();
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 100 rounds failed without a `Connection: close` ({announced_closes} announced): {failures:#?}",
        failures.len()
    );
    hub.stop().await;
}
