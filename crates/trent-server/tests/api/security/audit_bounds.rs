//! Issue 13, item 3: unauthenticated requests can neither fill the audit disk nor copy
//! what they send into the trail whole (every field of a record is capped, and repeated
//! unauthenticated failures from one source become one record with a count).

use std::path::Path;

use serde_json::Value;

use crate::audit::records;
use crate::harness::{Auth, RawRequest, TestServer};

/// Bytes under `path`, every file of every subdirectory.
fn tree_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            tree_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn unauthenticated_with_huge_headers(secret: &str) -> RawRequest {
    let mut req = RawRequest::new("ListKeys", "{}");
    req.auth = Auth::None;
    req.extra_headers = vec![
        ("authorization".into(), format!("Bearer {secret}")),
        (
            "user-agent".into(),
            format!("agent/{}", "u".repeat(8 * 1024)),
        ),
    ];
    req
}

#[tokio::test]
async fn five_unauthenticated_60_kb_requests_add_less_than_64_kb() {
    let mut server = TestServer::start();
    let data_dir = server.data_dir().to_owned();
    let audit_dir = data_dir.join("audit");
    let before = tree_size(&data_dir);
    let audit_before = tree_size(&audit_dir);
    let events_before = records(&audit_dir).len();
    let secret = "S3cr3tT0k3n".repeat(60 * 1024 / 11);
    let mut answers = Vec::new();
    for _ in 0..5 {
        let resp = server
            .raw(unauthenticated_with_huge_headers(&secret))
            .await
            .unwrap();
        assert_eq!(resp.status, 400, "{}", resp.body_text());
        answers.push(resp.error_type());
    }
    // Aggregation changes what is written, not what a client sees.
    assert!(
        answers.iter().all(|a| a.is_some() && *a == answers[0]),
        "{answers:?}"
    );

    let grown = tree_size(&data_dir) - before;
    assert!(
        grown < 64 * 1024,
        "five unauthenticated requests grew the data directory by {grown} bytes"
    );
    // The first failure of the source is durable at once; the other four are counted.
    let events = records(&audit_dir);
    assert_eq!(events.len(), events_before + 1, "{events:#?}");

    // At shutdown the count is written: one record standing for the four others.
    server.restart_gracefully();
    let grown = tree_size(&audit_dir) - audit_before;
    assert!(grown < 64 * 1024, "the trail grew by {grown} bytes");
    let events: Vec<Value> = records(&audit_dir)
        .into_iter()
        .filter(|e| e["errorCode"].is_string())
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events[0]
        .get("additionalEventData")
        .is_none_or(|d| d.get("trentAggregatedCount").is_none()));
    assert_eq!(events[1]["additionalEventData"]["trentAggregatedCount"], 4);
    assert_eq!(
        events[1]["sourceIPAddress"], events[0]["sourceIPAddress"],
        "{events:#?}"
    );
    assert_ne!(events[1]["eventID"], events[0]["eventID"]);
    for e in &events {
        // Every client-controlled string is capped.
        assert!(
            e["userAgent"].as_str().unwrap().chars().count() <= 1024,
            "{e}"
        );
        if let Some(m) = e["errorMessage"].as_str() {
            assert!(m.chars().count() <= 2048, "{e}");
        }
        assert!(e.to_string().len() < 8 * 1024, "{e}");
    }
}

/// Issue 13, item 7: LookupEvents with a filter that never matches examined the whole
/// trail in one call. A call now examines at most 10,000 events, then answers with what
/// it found (here nothing) and a NextToken to go on from there, as CloudTrail may.
#[tokio::test]
async fn a_never_matching_lookup_stops_after_a_bounded_scan_with_a_token() {
    let server = TestServer::start();
    let client = server.client(crate::harness::REGION);
    // A little more than one call's worth of events (concurrent calls share fsyncs).
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..320 {
                    client
                        .generate_random()
                        .number_of_bytes(1)
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let lookup = |token: Option<&str>| {
        let mut args = vec![
            "cloudtrail",
            "lookup-events",
            "--endpoint-url",
            server.endpoint(),
            "--region",
            crate::harness::REGION,
            "--output",
            "json",
            "--no-paginate",
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=NoSuchEvent",
        ];
        if let Some(t) = token {
            args.extend(["--next-token", t]);
        }
        let (ok, out, err) = crate::harness::aws_cli(&server, &args, &[]);
        assert!(ok, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let first = lookup(None);
    assert_eq!(first["Events"], serde_json::json!([]), "{first}");
    let token = first["NextToken"]
        .as_str()
        .unwrap_or_else(|| panic!("one call scanned the whole trail: {first}"))
        .to_owned();
    // The rest of the trail in the next call: nothing, and no token.
    let second = lookup(Some(&token));
    assert_eq!(second["Events"], serde_json::json!([]), "{second}");
    assert!(second.get("NextToken").is_none(), "{second}");
    // A filter that matches finds its events as before, across the same bound.
    let (ok, out, err) = crate::harness::aws_cli(
        &server,
        &[
            "cloudtrail",
            "lookup-events",
            "--endpoint-url",
            server.endpoint(),
            "--region",
            crate::harness::REGION,
            "--output",
            "json",
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=GenerateRandom",
            "--max-items",
            "60",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["Events"].as_array().unwrap().len(), 60, "{page}");
}
