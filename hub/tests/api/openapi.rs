//! Owns the promise that the OpenAPI document is true and stays true: every route the hub
//! serves is documented and every documented operation is served, the document is served
//! as built, and Schemathesis, driving the real hub from the document alone, finds no
//! answer the document does not describe, no refusal of what it allows and no acceptance
//! of what it forbids. The Schemathesis configuration (and every exclusion, with its
//! reason) is `hub/tests/schemathesis/schemathesis.toml`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{collections::BTreeSet, path::Path, process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{database::TestDatabase, helpers::TestHub};

/// The owner of the demo venue, who may do everything the API offers.
const OWNER: (&str, &str) = ("owner", "almahira-demo");

/// How to install the pinned Schemathesis, for the failure message.
const INSTALL: &str = "python3 -m pip install -r hub/tests/schemathesis/requirements.txt";

/// Test cases per operation and phase; `SCHEMATHESIS_MAX_EXAMPLES` overrides it.
const MAX_EXAMPLES: u32 = 20;

/// The generator's seed, so a CI run explores the same cases as the last one and a finding
/// reproduces; `SCHEMATHESIS_SEED` picks another (any number) to explore further.
const SEED: u64 = 20261201;

/// Schemathesis's own budget for the whole run, in seconds (fuzzing and stateful testing
/// repeat until it is spent); `SCHEMATHESIS_MAX_TIME` overrides it.
const MAX_TIME_SECONDS: u64 = 150;

/// Past this, the run is stopped and the test fails: the budget plus room for the phases
/// that do not repeat and a slow machine.
const WALL_CLOCK_SLACK: Duration = Duration::from_secs(150);

fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .expect("the document has paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item is an object")
                .keys()
                .filter(|key| {
                    [
                        "get", "put", "post", "delete", "patch", "head", "options", "trace",
                    ]
                    .contains(&key.as_str())
                })
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let routes = hub::http::routes();
    let routed: BTreeSet<(String, String)> = routes
        .table()
        .iter()
        .map(|(method, path)| (method.as_str().to_owned(), (*path).to_owned()))
        .collect();
    let document: Value = serde_json::from_slice(&hub::http::openapi::document().unwrap()).unwrap();
    let documented = documented_operations(&document);
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes the OpenAPI document does not describe (add a #[utoipa::path] and list it in http/openapi.rs): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations the OpenAPI document describes but the router does not serve: {unrouted:?}"
    );
}

#[tokio::test]
async fn the_document_is_served_as_built() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start(&db).await;
    let url = format!("http://{}/api/v1/openapi.json", hub.address);
    let mut served = Vec::new();
    for _ in 0..2 {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        served.push(response.bytes().await.unwrap());
    }
    let built = hub::http::openapi::document().unwrap();
    assert_eq!(served[0], built, "the hub serves the document it built");
    assert_eq!(served[1], built, "and the same bytes every time");
    let document: Value = serde_json::from_slice(&built).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    hub.stop().await;
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_describe() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/schemathesis.toml");
    // Schemathesis keeps caches and example databases in its working directory: not ours.
    let workdir = tempfile::tempdir().unwrap();
    let version = tokio::process::Command::new("schemathesis")
        .arg("--version")
        .current_dir(workdir.path())
        .output()
        .await;
    match version {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "`schemathesis --version` failed ({}): {}\ninstall it with: {INSTALL}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!(
            "this test runs Schemathesis, which is not on PATH ({error}); install it with: {INSTALL}"
        ),
    }

    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start(&db).await;
    let body = hub
        .client()
        .post(
            "/api/v1/auth/login",
            json!({"username": OWNER.0, "password": OWNER.1}),
        )
        .await
        .expect(StatusCode::OK);
    let token = body["access_token"].as_str().unwrap().to_owned();
    // The staff member the staff operations are pinned to (see schemathesis.toml).
    let target = hub
        .client()
        .with_token(&token)
        .post(
            "/api/v1/staff",
            json!({
                "command_id": crate::helpers::command_id(),
                "name": "Schemathesis target",
                "role": "waiter",
                "username": "schemathesis-target",
                "password": "schemathesis-target",
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    let target = target["id"].as_str().unwrap().to_owned();

    let max_examples: u32 = setting("SCHEMATHESIS_MAX_EXAMPLES", MAX_EXAMPLES);
    let max_time: u64 = setting("SCHEMATHESIS_MAX_TIME", MAX_TIME_SECONDS);
    let seed: u64 = setting("SCHEMATHESIS_SEED", SEED);
    let run = tokio::process::Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("http://{}/api/v1/openapi.json", hub.address))
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", &max_examples.to_string()])
        .args(["--max-time", &max_time.to_string()])
        .args(["--generation-database", "none"])
        .args(["--seed", &seed.to_string()])
        // One worker: Hypothesis's lambda-source parsing is not thread-safe on every Python
        // (`SystemError: AST constructor recursion depth mismatch` with two).
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .arg("--no-color")
        .current_dir(workdir.path())
        .env("SCHEMATHESIS_STAFF_ID", &target)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let limit = Duration::from_secs(max_time) + WALL_CLOCK_SLACK;
    let output = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("Schemathesis did not finish within {limit:?}"))
        .expect("Schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "Schemathesis found answers the OpenAPI document does not describe ({}, seed {seed}):\n{report}",
        output.status
    );
    hub.stop().await;
}
