//! The movable clock of `--dev-test-clock` (testing only): refused without the switch,
//! moves KMS time (not request signing), runs what is due before answering, and keeps its
//! time across a restart. Its requests are signed by the administrator (who may use it is
//! tested in `security::dev_switches`).

use serde_json::{json, Value};

use crate::harness::{create_key, now_secs, ok, Auth, RawResponse, TestServer, REGION};

pub const SWITCH: &str = "--dev-test-clock";
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A server whose KMS clock the test moves.
pub fn server() -> TestServer {
    TestServer::start_with(&[SWITCH], &[])
}

/// A request to the clock endpoint signed by the administrator.
pub async fn clock_request(server: &TestServer, method: &str, body: Option<Value>) -> RawResponse {
    server
        .signed_http(method, "/_trent/test/clock", body, Auth::Admin)
        .await
}

async fn post(server: &TestServer, body: Value) -> Value {
    let resp = clock_request(server, "POST", Some(body)).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    resp.json()
}

/// Stops the server's clock at `unix_millis`; returns it.
pub async fn freeze_at(server: &TestServer, unix_millis: i64) -> i64 {
    let v = post(server, json!({ "set_unix_millis": unix_millis })).await;
    assert_eq!(v["frozen"], true);
    v["now_unix_millis"].as_i64().unwrap()
}

/// Moves the server's clock forward; returns its new time.
pub async fn advance_millis(server: &TestServer, ms: i64) -> i64 {
    post(server, json!({ "advance_millis": ms })).await["now_unix_millis"]
        .as_i64()
        .unwrap()
}

pub async fn clock_now(server: &TestServer) -> Value {
    let resp = clock_request(server, "GET", None).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    resp.json()
}

/// A minute from now (after the server's start), whole seconds, in milliseconds: a clock
/// frozen at a round time keeps the SDK's second-precision timestamps exact.
pub fn now_ms() -> i64 {
    (now_secs() + 60) * 1000
}

#[tokio::test]
async fn the_clock_endpoint_does_not_exist_without_the_switch() {
    let server = TestServer::start();
    for method in ["GET", "POST"] {
        let resp = clock_request(&server, method, Some(json!({"advance_seconds": 86400}))).await;
        assert_eq!(
            resp.error_type().as_deref(),
            Some("UnknownOperationException"),
            "{method}: {} {}",
            resp.status,
            resp.body_text()
        );
    }
    // Time did not move: a deletion is scheduled from the real time.
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let out = ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    let expected = now_secs() + 7 * 86_400;
    let diff = (out.deletion_date().unwrap().secs() - expected).abs();
    assert!(diff <= 120, "deletion date {diff}s off the real time");
}

#[tokio::test]
async fn the_clock_moves_kms_time_but_not_request_signing() {
    let server = server();
    let start = clock_now(&server).await;
    assert_eq!(start["frozen"], false);
    assert!(start["offset_millis"].as_i64().unwrap().abs() < 60_000);

    // 400 days ahead, still running: requests signed with the real time still work.
    let moved = post(&server, json!({"advance_seconds": 400 * 86_400})).await;
    assert_eq!(moved["frozen"], false);
    let offset = moved["offset_millis"].as_i64().unwrap();
    assert!((offset - 400 * DAY_MS).abs() < 60_000, "offset {offset}");
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    let created = md.key_metadata().unwrap().creation_date().unwrap().secs();
    assert!(
        (created - (now_secs() + 400 * 86_400)).abs() < 120,
        "CreationDate follows the moved clock"
    );

    // Frozen at a set time: KMS dates are exactly that time.
    let t = now_ms() + 1000 * DAY_MS;
    assert_eq!(freeze_at(&server, t).await, t);
    let (key_id, _) = create_key(&client).await;
    let out = ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    assert_eq!(out.deletion_date().unwrap().secs() * 1000, t + 7 * DAY_MS);

    // Bad moves are refused and change nothing.
    for bad in [
        json!({}),
        json!({"advance_seconds": 1, "set_unix_millis": 1}),
        json!({"advance_seconds": "x"}),
        json!({"rewind": 1}),
    ] {
        let resp = clock_request(&server, "POST", Some(bad.clone())).await;
        resp.assert_error(400, "ValidationException");
    }
    assert_eq!(clock_now(&server).await["now_unix_millis"], t);
}

#[tokio::test]
async fn the_moved_time_survives_a_restart() {
    let mut server = server();
    let t = now_ms() + 50 * DAY_MS;
    freeze_at(&server, t).await;
    server.restart();
    let now = clock_now(&server).await;
    assert_eq!(now["frozen"], true);
    assert_eq!(now["now_unix_millis"], t);

    post(&server, json!({"offset_millis": 3 * DAY_MS})).await;
    server.restart();
    let now = clock_now(&server).await;
    assert_eq!(now["frozen"], false);
    let offset = now["offset_millis"].as_i64().unwrap();
    assert!((offset - 3 * DAY_MS).abs() < 60_000, "offset {offset}");
}
