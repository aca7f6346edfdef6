//! The admin listener: `/healthz`, `/readyz` and `/metrics` (Prometheus's text format)
//! with what a request leaves in them. Readiness turning 503 when the database goes away
//! is in the cluster suite (`crash.rs`), which has a PostgreSQL server it may crash.

use aws_sdk_kms::primitives::Blob;
use trent_testkit::process::{http_get, Launch};

use crate::harness::{expect_code, ok, RawRequest, TestServer, REGION};

/// The value of the metric line that starts with `prefix` (name and labels), if any.
fn value(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics_of_a_serving_node() {
    let server = TestServer::start();
    let admin = server.admin_endpoint();
    assert!(admin.starts_with("http://127.0.0.1:"), "{admin}");
    assert_eq!(http_get(&admin, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(http_get(&admin, "/readyz"), (200, "ready\n".to_owned()));

    let client = server.client(REGION);
    let key = ok(client.create_key().send().await).key_metadata.unwrap();
    for _ in 0..3 {
        ok(client
            .encrypt()
            .key_id(&key.key_id)
            .plaintext(Blob::new(b"counted".to_vec()))
            .send()
            .await);
    }
    expect_code(
        client
            .encrypt()
            .key_id("alias/nowhere")
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "NotFoundException",
    );
    // A target Trent does not know is never a label.
    let junk = server
        .raw(RawRequest::new("NoSuchOperationXyzzy", "{}"))
        .await
        .unwrap();
    assert_eq!(junk.status, 400, "{}", junk.body_text());

    let (status, metrics) = http_get(&admin, "/metrics");
    assert_eq!(status, 200);
    let encrypt_ok =
        "http_server_request_duration_seconds_count{operation=\"Encrypt\",outcome=\"success\"}";
    assert_eq!(value(&metrics, encrypt_ok), Some(3.0), "{metrics}");
    assert!(
        metrics.contains(
            "http_server_request_duration_seconds_bucket{operation=\"Encrypt\",outcome=\"success\",le=\"0.01\"}"
        ),
        "{metrics}"
    );
    assert_eq!(
        value(
            &metrics,
            "http_server_request_duration_seconds_count{operation=\"Encrypt\",outcome=\"NotFoundException\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("operation=\"UnknownOperation\""),
        "{metrics}"
    );
    assert!(!metrics.contains("Xyzzy"), "{metrics}");
    assert_eq!(
        value(
            &metrics,
            &format!(
                "trent_key_requests_total{{key_arn=\"{}\"}}",
                key.arn.unwrap()
            )
        ),
        Some(3.0),
        "{metrics}"
    );
    assert!(
        value(&metrics, "trent_key_cache_lookups_total{result=\"hit\"}").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        value(&metrics, "trent_audit_commit_duration_seconds_count").is_some_and(|n| n >= 5.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("trent_audit_commit_entries_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trent_build_info{version=\"0.1.0\",crypto_provider=\"AWS-LC ")
            && metrics.contains("fips=\"false\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{metrics}"
    );
    assert!(
        value(
            &metrics,
            "trent_store_operation_duration_seconds_count{operation=\"commit\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        value(
            &metrics,
            "trent_background_job_runs_total{job=\"deletion\"}"
        )
        .is_some(),
        "{metrics}"
    );
    // Nothing of a key's material or a plaintext: the metrics name, they never hold.
    assert!(!metrics.contains("counted"), "{metrics}");

    // The KMS listener serves none of it.
    let kms = server.endpoint().to_owned();
    let (status, body) = http_get(&kms, "/metrics");
    assert_ne!(status, 200, "{body}");

    // The key census, taken at start (then every minute): the key made before.
    let mut server = server;
    ok(client.disable_key().key_id(&key.key_id).send().await);
    server.restart_gracefully();
    let admin = server.admin_endpoint();
    let census = |state: &str| {
        format!(
            "trent_keys{{state=\"{state}\",key_spec=\"SYMMETRIC_DEFAULT\",key_manager=\"CUSTOMER\"}}"
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, metrics) = http_get(&admin, "/metrics");
        if let Some(n) = value(&metrics, &census("Disabled")) {
            assert_eq!(n, 1.0, "{metrics}");
            assert_eq!(value(&metrics, &census("Enabled")), None, "{metrics}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no census: {metrics}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_admin_listener_can_be_off_and_its_port_must_be_free() {
    let work = tempfile::tempdir().unwrap();
    let off = Launch::serve()
        .admin_listen("off")
        .data_dir(work.path().join("a"))
        .start();
    assert_eq!(off.admin_endpoint(), None);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = Launch::serve()
        .admin_listen(&addr)
        .data_dir(work.path().join("b"))
        .start_fails();
    assert!(
        run.stderr
            .contains(&format!("cannot listen on {addr} (admin_listen)")),
        "{}",
        run.stderr
    );
    let run = Launch::serve()
        .admin_listen("0.0.0.0:0")
        .data_dir(work.path().join("c"))
        .start_fails();
    assert!(run.stderr.contains("--trusted-network"), "{}", run.stderr);
    assert!(!work.path().join("c").exists());
}

#[tokio::test]
async fn json_logs_carry_the_request_id_in_every_line_of_a_request() {
    let server = TestServer::start_with(
        &[],
        &[
            ("TRENT_LOG_FORMAT", "json"),
            ("TRENT_LOG", "info,trent::request=debug"),
        ],
    );
    let resp = server.call("ListKeys", serde_json::json!({})).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let id = resp.header("x-amzn-requestid").unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let line = loop {
        let logs = server.logs();
        let lines: Vec<serde_json::Value> = logs
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        if let Some(line) = lines.into_iter().find(|l| l["target"] == "trent::request") {
            break line;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request line:\n{logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(line["request_id"], id.as_str(), "{line}");
    assert_eq!(line["fields"]["operation"], "ListKeys", "{line}");
    assert_eq!(line["level"], "DEBUG", "{line}");

    let run = Launch::serve()
        .env("TRENT_LOG_FORMAT", "yaml")
        .data_dir(tempfile::tempdir().unwrap().path().join("d"))
        .start_fails();
    assert!(run.stderr.contains("TRENT_LOG_FORMAT"), "{}", run.stderr);
}

/// The headers and status of `GET /` on `endpoint` (any answer will do: it shows how the
/// connection is handled).
fn head_of_any_answer(endpoint: &str) -> String {
    use std::io::{Read, Write};
    let authority = endpoint.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET / HTTP/1.1\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[test]
fn sigterm_drains_then_stops_and_leaves_a_trail_that_verifies() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    let mut server = Launch::serve()
        .data_dir(&data)
        .env("TRENT_SHUTDOWN_DRAIN_MS", "1500")
        .start();
    let admin = server.admin_endpoint().unwrap();
    let endpoint = server.endpoint().to_owned();
    assert_eq!(http_get(&admin, "/readyz").0, 200);
    // Before: a kept-alive connection.
    assert!(
        !head_of_any_answer(&endpoint).contains("connection: close"),
        "closed before the drain"
    );
    let signalled = std::time::Instant::now();
    server.signal("TERM");
    // Draining: not ready, still serving, each answer closing its connection.
    let deadline = signalled + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = http_get(&admin, "/readyz");
        if status == 503 {
            assert_eq!(body, "not ready\nshutdown: the server is shutting down\n");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never drained");
    }
    let head = head_of_any_answer(&endpoint);
    assert!(head.starts_with("http/1.1 4"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let status = server.wait();
    assert!(status.success(), "{status}\n{}", server.logs());
    assert!(
        signalled.elapsed() >= std::time::Duration::from_millis(1500),
        "stopped before the drain was over"
    );
    let logs = server.logs();
    assert!(logs.contains("SIGTERM: draining"), "{logs}");
    // The digest written at the end covers every event: the trail verifies.
    let (ok, out) = trent_testkit::process::run(
        &trent_testkit::process::trent_bin(),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(ok, "{out}");
}

#[test]
fn trent_probe_asks_the_admin_listener_and_completions_are_printed() {
    let work = tempfile::tempdir().unwrap();
    let server = Launch::serve().data_dir(work.path().join("d")).start();
    let admin = server.admin_endpoint().unwrap();
    let addr = admin.strip_prefix("http://").unwrap();
    let bin = trent_testkit::process::trent_bin();
    let (ok, out) = trent_testkit::process::run(&bin, &["probe", "--admin-listen", addr], &[]);
    assert!(ok && out.contains("healthz: ok"), "{out}");
    // The address from the environment, as in a container.
    let (ok, out) =
        trent_testkit::process::run(&bin, &["probe", "readyz"], &[("TRENT_ADMIN_LISTEN", addr)]);
    assert!(ok && out.contains("readyz: ready"), "{out}");
    drop(server);
    let (ok, out) = trent_testkit::process::run(&bin, &["probe", "--admin-listen", addr], &[]);
    assert!(!ok && out.contains("cannot reach"), "{out}");

    let (ok, bash) = trent_testkit::process::run(&bin, &["completions", "bash"], &[]);
    assert!(
        ok && bash.contains("_trent()") && bash.contains("serve"),
        "{bash}"
    );
    let (ok, zsh) = trent_testkit::process::run(&bin, &["completions", "zsh"], &[]);
    assert!(ok && zsh.starts_with("#compdef trent"), "{zsh}");
    let (ok, fish) = trent_testkit::process::run(&bin, &["completions", "fish"], &[]);
    assert!(ok && fish.contains("complete -c trent"), "{fish}");
}

#[tokio::test]
async fn below_the_disk_watermark_changes_are_refused_and_reads_go_on() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    let launch = Launch::serve()
        .data_dir(&data)
        .env("TRENT_ADMIN_ACCESS_KEY_ID", "AKIADISKTESTADMIN001")
        .env(
            "TRENT_ADMIN_SECRET_ACCESS_KEY",
            "disk-test-secret-access-key-0123456789",
        );
    let server = launch.start();
    let client = trent_testkit::sdk::client(
        server.endpoint(),
        REGION,
        "AKIADISKTESTADMIN001",
        "disk-test-secret-access-key-0123456789",
    );
    let key = ok(client.create_key().send().await)
        .key_metadata
        .unwrap()
        .key_id;
    drop(server);

    // More free space asked for than any disk has: low from the start.
    let server = launch
        .clone()
        .args(["--min-free-disk-bytes", "1152921504606846976"])
        .start();
    let client = trent_testkit::sdk::client(
        server.endpoint(),
        REGION,
        "AKIADISKTESTADMIN001",
        "disk-test-secret-access-key-0123456789",
    );
    let sealed = ok(client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"still served".to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap();
    ok(client.decrypt().ciphertext_blob(sealed).send().await);
    ok(client.list_keys().send().await);
    let refused = trent_testkit::sdk::expect_err(
        client.create_key().send().await,
        "KMSInternalException",
        None,
    );
    assert!(
        format!("{refused:?}").contains("low on disk space"),
        "{refused:?}"
    );
    expect_code(
        client.disable_key().key_id(&key).send().await,
        "KMSInternalException",
    );
    let admin = server.admin_endpoint().unwrap();
    let (status, body) = http_get(&admin, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("disk: ") && body.contains("min_free_disk_bytes"),
        "{body}"
    );
    let (_, metrics) = http_get(&admin, "/metrics");
    assert_eq!(value(&metrics, "trent_disk_low "), Some(1.0), "{metrics}");
    assert!(value(&metrics, "trent_disk_free_bytes ").is_some_and(|f| f > 0.0));
}
