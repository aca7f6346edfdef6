//! Span export over OTLP/HTTP (`--otlp-endpoint`): a span per request, named after the
//! operation, with its outcome, children for its phases and its audit append, and the
//! caller's `traceparent` as its parent; received by a collector endpoint of the test kit.

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use trent_testkit::otlp::{Collector, ReceivedSpan};

use crate::harness::{expect_code, ok, RawRequest, TestServer, REGION};

/// OpenTelemetry's span kinds and status codes, as the protocol numbers them.
const KIND_SERVER: i32 = 2;
const STATUS_ERROR: i32 = 2;

fn by_request<'a>(spans: &'a [ReceivedSpan], request_id: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.attribute("aws.request_id").as_deref() == Some(request_id))
}

fn children<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.span.parent_span_id == parent.span.span_id)
        .collect()
}

#[tokio::test]
async fn every_request_is_a_span_exported_over_otlp() {
    let collector = Collector::start().await;
    let server = TestServer::start_with(
        &["--otlp-endpoint", collector.endpoint()],
        // Batches leave every 50 ms instead of every 5 s.
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    );
    let client = server.client(REGION);
    let key = ok(client.create_key().send().await).key_metadata.unwrap();

    let encrypted = client
        .encrypt()
        .key_id(&key.key_id)
        .plaintext(Blob::new(b"traced".to_vec()))
        .send()
        .await;
    let encrypt_id = ok(encrypted).key_id.unwrap();
    assert_eq!(encrypt_id, key.arn.clone().unwrap());
    expect_code(
        client
            .encrypt()
            .key_id("alias/nowhere")
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "NotFoundException",
    );

    // A caller's trace context: Trent's span becomes a child of the caller's.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let mut describe = RawRequest::new("DescribeKey", format!(r#"{{"KeyId":"{}"}}"#, key.key_id));
    describe.extra_headers.push((
        "traceparent".into(),
        format!("00-{trace_id}-{caller_span}-01"),
    ));
    let described = server.raw(describe).await.unwrap();
    assert_eq!(described.status, 200, "{}", described.body_text());
    let describe_id = described.header("x-amzn-requestid").unwrap().to_owned();

    // A traceparent that cannot be read is ignored: the request is served, as a new trace.
    let mut junk = RawRequest::new("DescribeKey", format!(r#"{{"KeyId":"{}"}}"#, key.key_id));
    junk.extra_headers
        .push(("traceparent".into(), "00-not-a-trace-01".into()));
    let junk = server.raw(junk).await.unwrap();
    assert_eq!(junk.status, 200, "{}", junk.body_text());
    let junk_id = junk.header("x-amzn-requestid").unwrap().to_owned();

    let spans = collector
        .wait_for(Duration::from_secs(30), |spans| {
            let named = |name: &str| spans.iter().filter(|s| s.span.name == name).count();
            named("kms/CreateKey") == 1
                && named("kms/Encrypt") == 2
                && by_request(spans, &describe_id).is_some()
                && by_request(spans, &junk_id).is_some()
                // Children end before their parent: the parents' batches are the last.
                && named("audit.append") >= 5
        })
        .await;

    let encrypts: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.span.name == "kms/Encrypt")
        .collect();
    let ok_encrypt = encrypts
        .iter()
        .find(|s| s.attribute("http.response.status_code").as_deref() == Some("200"))
        .expect("the Encrypt that succeeded");
    assert_eq!(ok_encrypt.span.kind, KIND_SERVER);
    assert_eq!(
        ok_encrypt.attribute("rpc.system").as_deref(),
        Some("aws-api")
    );
    assert_eq!(ok_encrypt.attribute("rpc.service").as_deref(), Some("kms"));
    assert_eq!(
        ok_encrypt.attribute("rpc.method").as_deref(),
        Some("Encrypt")
    );
    assert_eq!(ok_encrypt.attribute("error.type"), None);
    assert_ne!(
        ok_encrypt.span.status.as_ref().map(|s| s.code),
        Some(STATUS_ERROR)
    );
    assert_eq!(
        ok_encrypt.resource_attribute("service.name").as_deref(),
        Some("trent")
    );
    assert!(ok_encrypt.span.parent_span_id.is_empty(), "a root span");
    let request_id = ok_encrypt.attribute("aws.request_id").unwrap();
    assert_eq!(request_id.len(), 36, "{request_id}");

    // Its phases and its audit append are its children, in its trace.
    let kids = children(&spans, ok_encrypt);
    let mut names: Vec<&str> = kids.iter().map(|s| s.span.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["audit.append", "authenticate", "handle"],
        "{kids:#?}"
    );
    assert!(kids
        .iter()
        .all(|k| k.span.trace_id == ok_encrypt.span.trace_id));
    for kid in &kids {
        assert!(kid.span.start_time_unix_nano >= ok_encrypt.span.start_time_unix_nano);
        assert!(kid.span.end_time_unix_nano <= ok_encrypt.span.end_time_unix_nano);
    }

    let failed = encrypts
        .iter()
        .find(|s| s.attribute("error.type").is_some())
        .expect("the Encrypt that failed");
    assert_eq!(
        failed.attribute("error.type").as_deref(),
        Some("NotFoundException")
    );
    assert_eq!(
        failed.attribute("http.response.status_code").as_deref(),
        Some("400")
    );
    assert_eq!(
        failed.span.status.as_ref().map(|s| s.code),
        Some(STATUS_ERROR)
    );

    // CreateKey writes ahead: its intent's append is inside its handling.
    let create = spans
        .iter()
        .find(|s| s.span.name == "kms/CreateKey")
        .unwrap();
    let handle = children(&spans, create)
        .into_iter()
        .find(|s| s.span.name == "handle")
        .expect("CreateKey's handle span");
    assert!(
        children(&spans, handle)
            .iter()
            .any(|s| s.span.name == "audit.append"
                && s.attribute("audit.intent").as_deref() == Some("true")),
        "{spans:#?}"
    );
    assert!(
        children(&spans, handle)
            .iter()
            .any(|s| s.span.name == "store"),
        "CreateKey's store writes: {spans:#?}"
    );

    let traced = by_request(&spans, &describe_id).unwrap();
    assert_eq!(traced.span.name, "kms/DescribeKey");
    assert_eq!(hex::encode(&traced.span.trace_id), trace_id);
    assert_eq!(hex::encode(&traced.span.parent_span_id), caller_span);

    // Counted once the collector's answer is back, which may be a moment after it kept
    // the spans.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = trent_testkit::process::http_get(&server.admin_endpoint(), "/metrics");
        if metrics.contains("trent_otlp_exports_total{result=\"success\"}") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let untraced = by_request(&spans, &junk_id).unwrap();
    assert!(untraced.span.parent_span_id.is_empty());
    assert_ne!(hex::encode(&untraced.span.trace_id), trace_id);
}

#[tokio::test]
async fn spans_still_queued_are_sent_at_shutdown_and_the_process_exits_0() {
    let collector = Collector::start().await;
    let work = tempfile::tempdir().unwrap();
    let (key_id, secret) = (
        "AKIATRACESHUTDOWN000",
        "traces-shutdown-secret-access-key-0123",
    );
    let mut server = trent_testkit::process::Launch::serve()
        .data_dir(work.path().join("data"))
        .env("TRENT_ADMIN_ACCESS_KEY_ID", key_id)
        .env("TRENT_ADMIN_SECRET_ACCESS_KEY", secret)
        .args(["--otlp-endpoint", collector.endpoint()])
        // No batch leaves on the timer (10 minutes): only the shutdown's flush sends it.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .start();
    let client = trent_testkit::sdk::client(server.endpoint(), REGION, key_id, secret);
    ok(client.list_keys().send().await);
    assert!(collector.spans().is_empty());
    assert!(server.terminate().success(), "{}", server.logs());
    let spans = collector
        .wait_for(Duration::from_secs(30), |spans| {
            spans.iter().any(|s| s.span.name == "kms/ListKeys")
        })
        .await;
    assert!(spans.iter().any(|s| s.span.name == "audit.append"));
}

/// Stops `server` with SIGTERM and waits until it has exited (its spans flushed).
async fn stop(mut server: TestServer) {
    server.signal("TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.is_running() {
        assert!(std::time::Instant::now() < deadline, "{}", server.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn requests_not_sampled_make_no_span() {
    let collector = Collector::start().await;
    let launch = |sampler: &str| {
        TestServer::start_with(
            &["--otlp-endpoint", collector.endpoint()],
            // Only the shutdown's flush sends: what it sends is all there is.
            &[
                ("OTEL_TRACES_SAMPLER", sampler),
                ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ],
        )
    };
    let list = |traceparent: String| {
        let mut request = RawRequest::new("ListKeys", "{}");
        request
            .extra_headers
            .push(("traceparent".into(), traceparent));
        request
    };
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";

    // Parent-based (the default): the caller's sampled flag decides.
    let server = launch("parentbased_always_on");
    let kept = server
        .raw(list(format!("00-{trace}-00f067aa0ba902b7-01")))
        .await
        .unwrap();
    let dropped = server
        .raw(list(format!("00-{trace}-00f067aa0ba902b8-00")))
        .await
        .unwrap();
    assert_eq!((kept.status, dropped.status), (200, 200));
    stop(server).await;
    let kept_id = kept.header("x-amzn-requestid").unwrap().to_owned();
    let spans = collector
        .wait_for(Duration::from_secs(30), |spans| {
            by_request(spans, &kept_id).is_some()
        })
        .await;
    let dropped_id = dropped.header("x-amzn-requestid").unwrap();
    assert!(by_request(&spans, dropped_id).is_none());
    // Not its children either: every span is the kept request's.
    let kept = by_request(&spans, &kept_id).unwrap();
    assert_eq!(hex::encode(&kept.span.parent_span_id), "00f067aa0ba902b7");
    assert!(
        spans.iter().all(|s| s.span.trace_id == kept.span.trace_id),
        "{spans:#?}"
    );
    let before = spans.len();

    // Always off: nothing, whatever the caller says.
    let server = launch("always_off");
    let answered = server
        .raw(list(format!("00-{trace}-00f067aa0ba902b7-01")))
        .await
        .unwrap();
    assert_eq!(answered.status, 200);
    stop(server).await;
    assert_eq!(collector.spans().len(), before);
}

#[tokio::test]
async fn an_https_collector_is_trusted_only_through_its_ca() {
    let work = tempfile::tempdir().unwrap();
    let tls = trent_testkit::tls::TlsFiles::make(work.path(), "collector");
    let collector = Collector::start_tls(&tls.server_cert, &tls.server_key).await;
    assert!(collector.endpoint().starts_with("https://localhost:"));

    // Without the CA: the collector's certificate is not trusted, nothing is sent.
    let untrusting = TestServer::start_with(
        &["--otlp-endpoint", collector.endpoint()],
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    );
    let listed = untrusting.call("ListKeys", serde_json::json!({})).await;
    assert_eq!(listed.status, 200, "{}", listed.body_text());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) =
            trent_testkit::process::http_get(&untrusting.admin_endpoint(), "/metrics");
        // The collector's side of the refused handshake may come a moment later.
        if metrics.contains("trent_otlp_exports_total{result=\"failure\"}")
            && collector.failed_handshakes() > 0
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(collector.spans().is_empty());
    assert!(untrusting.logs().contains("spans cannot be exported"));

    // With it (`--otlp-ca`): the spans arrive.
    let trusting = TestServer::start_with(
        &[
            "--otlp-endpoint",
            collector.endpoint(),
            "--otlp-ca",
            tls.ca_cert.to_str().unwrap(),
        ],
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    );
    let listed = trusting.call("ListKeys", serde_json::json!({})).await;
    let id = listed.header("x-amzn-requestid").unwrap().to_owned();
    let spans = collector
        .wait_for(Duration::from_secs(30), |spans| {
            by_request(spans, &id).is_some()
        })
        .await;
    assert_eq!(by_request(&spans, &id).unwrap().span.name, "kms/ListKeys");
}

#[tokio::test]
async fn an_endpoint_that_is_not_an_http_url_is_refused_at_start() {
    let work = tempfile::tempdir().unwrap();
    let run = trent_testkit::process::Launch::serve()
        .data_dir(work.path().join("data"))
        .args(["--otlp-endpoint", "collector:4318"])
        .start_fails();
    assert!(
        run.stderr.contains("invalid otlp_endpoint"),
        "{}",
        run.stderr
    );
    // Credentials in the URL: refused, and never repeated.
    let run = trent_testkit::process::Launch::serve()
        .data_dir(work.path().join("data-2"))
        .args(["--otlp-endpoint", "http://trent:s3cr3t@127.0.0.1:4318"])
        .start_fails();
    assert!(run.stderr.contains("no user or password"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
}
