//! trent-bench against the echo server, both as built binaries: the whole path (argument
//! parsing, signing, keep-alive connections, workers, the JSON report) on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The echo server, killed when dropped (also when an assertion fails).
struct EchoServer {
    child: Child,
    url: String,
}

impl EchoServer {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_echo-server"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected echo-server output {line:?}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench(url: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trent-bench"))
        .args(["--endpoint", url])
        .args(["--access-key-id", "AKIDEXAMPLE"])
        .args([
            "--secret-access-key",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ])
        .args(extra)
        // Hermetic: nothing from the caller's AWS environment.
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_REGION")
        .output()
        .unwrap()
}

fn json_report(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "status {}\nstdout {stdout}\nstderr {stderr}",
        output.status
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "one JSON object expected: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn generate_random_against_the_echo_floor() {
    let server = EchoServer::start();
    let output = bench(
        &server.url,
        &[
            "--op",
            "generate-random",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--concurrency",
            "4",
            "--json",
        ],
    );
    let report = json_report(&output);
    assert_eq!(report["op"], "generate-random");
    assert_eq!(report["concurrency"], 4);
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    assert!(report["rps"].as_f64().unwrap() > 0.0, "{report}");
    let duration = report["duration_s"].as_f64().unwrap();
    assert!((0.9..2.0).contains(&duration), "{report}");
    let (p50, p99, p999, max) = (
        report["p50_ms"].as_f64().unwrap(),
        report["p99_ms"].as_f64().unwrap(),
        report["p999_ms"].as_f64().unwrap(),
        report["max_ms"].as_f64().unwrap(),
    );
    assert!(
        0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
        "{report}"
    );
    // The secret never reaches the output.
    let all = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
    assert!(!String::from_utf8_lossy(&all).contains("wJalrXUtnFEMI"));
}

#[test]
fn encrypt_with_a_key_id_and_a_human_summary() {
    let server = EchoServer::start();
    let output = bench(
        &server.url,
        &[
            "--op",
            "encrypt",
            "--key-id",
            "alias/bench",
            "--payload-size",
            "4096",
            "--duration",
            "500ms",
            "--warmup",
            "200ms",
            "--concurrency",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("encrypt at concurrency 2, "), "{stdout}");
    assert!(stdout.contains(" 0 errors"), "{stdout}");
    assert!(stdout.contains("requests/s"), "{stdout}");
}

#[test]
fn a_setup_failure_stops_before_any_load() {
    let server = EchoServer::start();
    // The echo server only serves POST /; without --key-id trent-bench first calls
    // CreateKey, whose echoed reply has no KeyMetadata: a clear setup error, no run.
    let output = bench(
        &server.url,
        &[
            "--op",
            "generate-data-key",
            "--duration",
            "1s",
            "--warmup",
            "0s",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unexpected CreateKey response: no KeyMetadata.KeyId"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn refuses_an_unbounded_run() {
    let output = bench(
        "http://127.0.0.1:9",
        &["--op", "encrypt", "--duration", "11m"],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("exceeds the maximum of 600s"));
}

#[test]
fn a_failing_first_request_stops_the_run_with_its_body() {
    // A one-shot server answering like KMS refusing the caller.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed before the request was read");
            request.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"__type":"AccessDeniedException","message":"User is not authorized"}"#;
        write!(
            stream,
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let output = bench(&url, &["--op", "generate-random", "--warmup", "0s"]);
    let request = server.join().unwrap().to_ascii_lowercase();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the first GenerateRandom request failed: HTTP 400 AccessDeniedException"),
        "{stderr}"
    );
    assert!(stderr.contains("User is not authorized"), "{stderr}");
    // The request was the signed KMS request.
    assert!(request.starts_with("post / http/1.1\r\n"), "{request}");
    assert!(
        request.contains("x-amz-target: trentservice.generaterandom\r\n"),
        "{request}"
    );
    assert!(
        request.contains("content-type: application/x-amz-json-1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("authorization: aws4-hmac-sha256 credential=akidexample/"),
        "{request}"
    );
    assert!(request.contains("/us-east-1/kms/aws4_request"), "{request}");
    assert!(request.contains("x-amz-date: "), "{request}");
}

/// A minimal keep-alive HTTP/1.1 server: `respond(n)` gives the status and body of the
/// n-th request (from 0, over all connections). Returns its URL.
fn stub_server(respond: fn(u64) -> (u16, &'static str)) -> String {
    replying_server(Arc::new(move |n, _| {
        let (status, body) = respond(n);
        (status, body.to_owned())
    }))
}

type Respond = Arc<dyn Fn(u64, &str) -> (u16, String) + Send + Sync>;

/// As [`stub_server`], `respond(n, body)` seeing each request's body.
fn replying_server(respond: Respond) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counter = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counter = Arc::clone(&counter);
            let respond = Arc::clone(&respond);
            std::thread::spawn(move || serve_connection(stream, &counter, &*respond));
        }
    });
    url
}

fn serve_connection(
    mut stream: TcpStream,
    counter: &AtomicU64,
    respond: &(dyn Fn(u64, &str) -> (u16, String) + Send + Sync),
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let header_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < header_end + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let request_body =
            String::from_utf8_lossy(&buf[header_end..header_end + length]).into_owned();
        buf.drain(..header_end + length);
        let (status, body) = respond(counter.fetch_add(1, Ordering::Relaxed), &request_body);
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn create_key_runs_write_the_ids_of_every_key_they_made() {
    let url = replying_server(Arc::new(|n, _| {
        (200, format!(r#"{{"KeyMetadata":{{"KeyId":"key-{n}"}}}}"#))
    }));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    std::fs::write(&out, "key-earlier\n").unwrap();
    let output = bench(
        &url,
        &[
            "--op",
            "create-key",
            "--duration",
            "300ms",
            "--warmup",
            "100ms",
            "--concurrency",
            "2",
            "--json",
            "--key-ids-out",
            out.to_str().unwrap(),
        ],
    );
    let report = json_report(&output);
    let written = std::fs::read_to_string(&out).unwrap();
    let mut ids: Vec<&str> = written.lines().collect();
    // Appended after what the file held; every request (the first, setup, one and the
    // warmup's included) made one key, written once.
    assert_eq!(ids.remove(0), "key-earlier");
    assert!(
        ids.len() as u64 > report["requests"].as_u64().unwrap(),
        "{report}"
    );
    let mut numbers: Vec<u64> = ids
        .iter()
        .map(|id| id.strip_prefix("key-").unwrap().parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
}

#[test]
fn key_ids_files_spread_requests_over_their_keys() {
    let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    let recorded = Arc::clone(&seen);
    let url = replying_server(Arc::new(move |_, body| {
        let request: serde_json::Value = serde_json::from_str(body).unwrap();
        let key = request["KeyId"].as_str().unwrap().to_owned();
        *recorded.lock().unwrap().entry(key).or_default() += 1;
        (200, r#"{"CiphertextBlob":"AA=="}"#.to_owned())
    }));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    std::fs::write(&file, "k1\n\nk2\nalias/k3\n").unwrap();
    let output = bench(
        &url,
        &[
            "--op",
            "encrypt",
            "--duration",
            "300ms",
            "--warmup",
            "0s",
            "--concurrency",
            "2",
            "--json",
            "--key-ids-file",
            file.to_str().unwrap(),
        ],
    );
    json_report(&output);
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        ["alias/k3", "k1", "k2"],
        "{seen:?}"
    );
    let total: u64 = seen.values().sum();
    for (key, n) in seen.iter() {
        // Uniform: each of three keys gets about a third (far from 0 or all of them).
        assert!(*n * 6 > total && *n * 2 < total, "{key}: {n} of {total}");
    }

    std::fs::write(&file, "\n\n").unwrap();
    let output = bench(
        &url,
        &[
            "--op",
            "encrypt",
            "--duration",
            "100ms",
            "--key-ids-file",
            file.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds no key id"));
}

#[test]
fn a_run_with_more_than_one_percent_errors_stops_early() {
    // The first request (the probe) succeeds, then every request is throttled.
    let url = stub_server(|n| match n {
        0 => (200, "{}"),
        _ => (
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        ),
    });
    let started = Instant::now();
    let output = bench(
        &url,
        &[
            "--op",
            "generate-random",
            "--warmup",
            "0s",
            "--duration",
            "20s",
            "--concurrency",
            "2",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not stopped early"
    );
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains(" 0 ok, "), "{stdout}");
    assert!(stderr.contains("x ThrottlingException"), "{stderr}");
    assert!(stderr.contains("first error: HTTP 400: "), "{stderr}");
    assert!(stderr.contains("Rate exceeded"), "{stderr}");
    assert!(stderr.contains("stopped early: "), "{stderr}");
}

#[test]
fn errors_are_counted_apart_from_successes() {
    // One request in a thousand fails: under 1%, so the run succeeds and reports them.
    let url = stub_server(|n| match n % 1000 {
        999 => (400, r#"{"__type":"KMSInternalException"}"#),
        _ => (200, "{}"),
    });
    let output = bench(
        &url,
        &[
            "--op",
            "generate-random",
            "--warmup",
            "0s",
            "--duration",
            "1s",
            "--concurrency",
            "4",
            "--json",
        ],
    );
    let report = json_report(&output);
    let (requests, errors) = (
        report["requests"].as_u64().unwrap(),
        report["errors"].as_u64().unwrap(),
    );
    assert!(requests > 0, "{report}");
    // The probe was request 0; every thousandth after it failed.
    assert_eq!(errors, (requests + errors + 1) / 1000, "{report}");
}
