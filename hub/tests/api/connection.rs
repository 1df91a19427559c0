//! Owns how the hub treats TCP connections on its HTTP port, seen through raw sockets:
//! a request refused before its body was read leaves the connection usable or says it
//! will close. Only 127.0.0.x addresses are used.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    database::{Backend, TestDatabase},
    helpers::TestHub,
};

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
