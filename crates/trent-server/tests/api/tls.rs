//! The KMS API over TLS (`--tls-cert`, `--tls-key`, `--tls-client-ca`) with a private CA,
//! driven by the SDK (HTTP/2 by ALPN), the AWS CLI (`--ca-bundle`) and curl; certificate
//! reload on change and on SIGHUP without dropping connections; the start-time checks; and
//! what the network tells policies (`aws:SecureTransport`, `aws:SourceIp` from trusted
//! proxies only).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use trent_testkit::process::Launch;
use trent_testkit::sdk::client_trusting;
use trent_testkit::tls::TlsFiles;

use crate::harness::{
    expect_code, ok, RawRequest, RawResponse, TestServer, DEFAULT_ACCOUNT, REGION,
};

fn tls_args(cert: &Path, key: &Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]
}

fn start(args: &[String]) -> TestServer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start_with(&args, &[])
}

/// A key policy: the account may do anything, except over a connection that is not TLS
/// or, when `from` is given, from outside that block.
fn guarded_policy(account: &str, from: Option<&str>) -> String {
    let mut statements = vec![
        json!({"Sid": "Owner", "Effect": "Allow",
               "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
               "Action": "kms:*", "Resource": "*"}),
        json!({"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*",
               "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
               "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
    ];
    if let Some(block) = from {
        statements.push(
            json!({"Sid": "FromThere", "Effect": "Deny", "Principal": "*",
               "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
               "Condition": {"NotIpAddress": {"aws:SourceIp": block}}}),
        );
    }
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// curl as the administrator, signing for KMS: `ListKeys` on `url` with `extra` curl
/// arguments; its exit status, HTTP version and status, and body.
fn curl_list_keys(server: &TestServer, url: &str, extra: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:kms"])
        .arg("--user")
        .arg(format!(
            "{}:{}",
            server.access_key_id(),
            server.secret_access_key()
        ))
        .args(["-H", "Content-Type: application/x-amz-json-1.1"])
        .args(["-H", "X-Amz-Target: TrentService.ListKeys"])
        .args(["--data-binary", "{}"])
        .args(["--write-out", "\n%{http_version} %{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_kms_api_over_tls_with_a_private_ca() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(work.path(), "kms");
    let other = TlsFiles::make(work.path(), "other");
    let server = start(&tls_args(&tls.server_cert, &tls.server_key));
    let endpoint = server.endpoint().to_owned();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let port = endpoint.rsplit(':').next().unwrap().to_owned();

    // The SDK, trusting the private CA only.
    let client = client_trusting(
        &endpoint,
        &tls.ca_cert,
        REGION,
        server.access_key_id(),
        server.secret_access_key(),
    );
    let key = ok(client
        .create_key()
        .policy(guarded_policy(DEFAULT_ACCOUNT, None))
        .send()
        .await)
    .key_metadata
    .unwrap()
    .key_id;
    // aws:SecureTransport is true: the policy's TLS-only Deny does not apply.
    let sealed = ok(client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"over TLS".to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap();
    let opened = ok(client.decrypt().ciphertext_blob(sealed).send().await);
    assert_eq!(opened.plaintext.unwrap().as_ref(), b"over TLS");

    // A client that trusts another CA gets nowhere; neither does plain HTTP.
    let stranger = client_trusting(
        &endpoint,
        &other.ca_cert,
        REGION,
        server.access_key_id(),
        server.secret_access_key(),
    );
    assert!(stranger.list_keys().send().await.is_err());
    let plain = trent_testkit::sdk::client(
        &endpoint.replace("https://", "http://"),
        REGION,
        server.access_key_id(),
        server.secret_access_key(),
    );
    assert!(plain.list_keys().send().await.is_err());

    // The AWS CLI with --ca-bundle, by host name.
    let plaintext = work.path().join("plain.bin");
    std::fs::write(&plaintext, b"from the CLI").unwrap();
    let (good, out, err) = crate::harness::aws_cli(
        &server,
        &[
            "kms",
            "encrypt",
            "--endpoint-url",
            &format!("https://localhost:{port}"),
            "--ca-bundle",
            tls.ca_cert.to_str().unwrap(),
            "--key-id",
            &key,
            "--plaintext",
            &format!("fileb://{}", plaintext.display()),
            "--output",
            "json",
        ],
        &[],
    );
    assert!(good, "{out}{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert!(answer["CiphertextBlob"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    let (good, out, err) = crate::harness::aws_cli(
        &server,
        &[
            "kms",
            "list-keys",
            "--endpoint-url",
            &format!("https://localhost:{port}"),
            "--ca-bundle",
            other.ca_cert.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!good, "a CLI trusting another CA succeeded: {out}");
    assert!(err.contains("SSL") || err.contains("certificate"), "{err}");

    // HTTP/2 by ALPN, HTTP/1.1 by ALPN, TLS 1.2 and TLS 1.3.
    let url = format!("https://localhost:{port}/");
    let ca = tls.ca_cert.to_str().unwrap();
    for (args, version) in [
        (&["--http2"][..], "2 200"),
        (&["--http1.1"][..], "1.1 200"),
        (&["--tlsv1.2", "--tls-max", "1.2"][..], " 200"),
        (&["--tlsv1.3"][..], " 200"),
    ] {
        let mut all = vec!["--cacert", ca];
        all.extend_from_slice(args);
        let (good, text) = curl_list_keys(&server, &url, &all);
        assert!(
            good && text.trim_end().ends_with(version),
            "{args:?}: {text}"
        );
    }
}

/// The subject common name of the certificate a new TLS connection to `addr` is served.
fn served_name(addr: &str, ca: &Path) -> String {
    let stream = connect(addr, ca);
    let cert = stream.conn.peer_certificates().unwrap()[0].clone();
    trent_crypto::certificate_subject_common_names(&cert).unwrap()[0].clone()
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection (HTTP/1.1 by ALPN) to `addr`, trusting the CA in `ca`.
fn connect(addr: &str, ca: &Path) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

/// One unsigned `POST /` on a kept-alive HTTP/1.1 connection: the status line's code.
fn unsigned_post(stream: &mut Tls) -> u16 {
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the connection closed");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Waits (polling new connections) until `addr` serves the certificate named `name`.
#[track_caller]
fn wait_for_name(addr: &str, ca: &Path, name: &str, server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if served_name(addr, ca) == name {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is not served\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn wait_for_log(server: &TestServer, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.logs().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_certificate_is_reloaded_when_it_changes_or_on_sighup_and_open_connections_stay() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(work.path(), "kms");
    let (second_cert, second_key) = tls.another_server("second");
    let (third_cert, third_key) = tls.another_server("third");
    let live_cert = work.path().join("live.pem");
    let live_key = work.path().join("live.key");
    std::fs::copy(&tls.server_cert, &live_cert).unwrap();
    std::fs::copy(&tls.server_key, &live_key).unwrap();
    let server = start(&tls_args(&live_cert, &live_key));
    let addr = server
        .endpoint()
        .strip_prefix("https://")
        .unwrap()
        .to_owned();
    assert_eq!(served_name(&addr, &tls.ca_cert), "kms server");

    // A kept-alive connection made with the first certificate.
    let mut kept = connect(&addr, &tls.ca_cert);
    assert_eq!(unsigned_post(&mut kept), 400);

    // New files (replaced by a rename, as a certificate manager does): new connections
    // get them, with no signal.
    let staged = work.path().join("staged");
    std::fs::copy(&second_key, &staged).unwrap();
    std::fs::rename(&staged, &live_key).unwrap();
    std::fs::copy(&second_cert, &staged).unwrap();
    std::fs::rename(&staged, &live_cert).unwrap();
    wait_for_name(&addr, &tls.ca_cert, "kms second", &server);
    wait_for_log(
        &server,
        "TLS certificate and key reloaded (the files changed)",
        1,
    );
    // The connection made before is still served.
    assert_eq!(unsigned_post(&mut kept), 400);

    // A broken certificate file is not put in force: the second one stays, and SIGHUP
    // tries again, with the same result.
    std::fs::write(&live_cert, "not a certificate").unwrap();
    wait_for_log(&server, "TLS files not reloaded (the files changed)", 1);
    assert_eq!(served_name(&addr, &tls.ca_cert), "kms second");
    server.signal("HUP");
    wait_for_log(&server, "TLS files not reloaded (SIGHUP)", 1);
    assert_eq!(served_name(&addr, &tls.ca_cert), "kms second");
    assert!(server.logs().contains("tls_cert"), "{}", server.logs());

    // Good files again: in force.
    std::fs::copy(&third_key, &live_key).unwrap();
    std::fs::copy(&third_cert, &live_cert).unwrap();
    wait_for_name(&addr, &tls.ca_cert, "kms third", &server);
    server.signal("HUP");
    wait_for_log(&server, "TLS certificate and key reloaded (SIGHUP)", 1);
    assert_eq!(served_name(&addr, &tls.ca_cert), "kms third");
    assert_eq!(unsigned_post(&mut kept), 400);
}

#[test]
fn mutual_tls_requires_a_client_certificate_of_the_configured_ca() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(work.path(), "kms");
    let other = TlsFiles::make(work.path(), "other");
    let mut args = tls_args(&tls.server_cert, &tls.server_key);
    args.extend(["--tls-client-ca".into(), tls.ca_cert.display().to_string()]);
    let server = start(&args);
    let url = format!("{}/", server.endpoint());
    let ca = tls.ca_cert.to_str().unwrap();
    let (good, text) = curl_list_keys(&server, &url, &["--cacert", ca]);
    assert!(!good, "no client certificate was accepted: {text}");
    let (good, text) = curl_list_keys(
        &server,
        &url,
        &[
            "--cacert",
            ca,
            "--cert",
            other.client_cert.to_str().unwrap(),
            "--key",
            other.client_key.to_str().unwrap(),
        ],
    );
    assert!(
        !good,
        "another CA's client certificate was accepted: {text}"
    );
    let (good, text) = curl_list_keys(
        &server,
        &url,
        &[
            "--cacert",
            ca,
            "--cert",
            tls.client_cert.to_str().unwrap(),
            "--key",
            tls.client_key.to_str().unwrap(),
        ],
    );
    assert!(good && text.trim_end().ends_with(" 200"), "{text}");
}

#[test]
fn starts_it_must_refuse() {
    let work = tempfile::tempdir().unwrap();
    let tls = TlsFiles::make(work.path(), "kms");
    let other = TlsFiles::make(work.path(), "other");
    let garbage = work.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN NOTHING-----\n").unwrap();
    let missing = work.path().join("missing.pem");
    let s = |p: &Path| p.display().to_string();
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec!["--tls-cert".into(), s(&tls.server_cert)],
            "127.0.0.1:0",
            "--tls-key",
        ),
        (
            tls_args(&missing, &tls.server_key),
            "127.0.0.1:0",
            "cannot read tls_cert",
        ),
        (
            tls_args(&tls.server_cert, &garbage),
            "127.0.0.1:0",
            "no PEM private key",
        ),
        (
            tls_args(&tls.server_cert, &other.server_key),
            "127.0.0.1:0",
            "do not make a usable pair",
        ),
        (
            {
                let mut a = tls_args(&tls.server_cert, &tls.server_key);
                a.extend(["--tls-client-ca".into(), s(&garbage)]);
                a
            },
            "127.0.0.1:0",
            "tls_client_ca",
        ),
        // Refused before binding: no test listens on a public address.
        (vec![], "0.0.0.0:0", "refusing to serve plain HTTP"),
        (
            vec!["--trusted-proxies".into(), "10.0.0.0/99".into()],
            "127.0.0.1:0",
            "10.0.0.0/99",
        ),
    ];
    for (i, (args, listen, message)) in cases.into_iter().enumerate() {
        let data = work.path().join(format!("data-{i}"));
        let run = Launch::serve()
            .listen(listen)
            .data_dir(&data)
            .args(args.iter().map(String::as_str))
            .start_fails();
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(!data.exists(), "{args:?} created the data directory");
        // The key file's content is never quoted.
        assert!(!run.stderr.contains("PRIVATE KEY"), "{}", run.stderr);
    }
}

fn encrypt_request(key: &str, extra: &[(&str, &str)]) -> RawRequest {
    let mut req = RawRequest::new(
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "aGVsbG8="}).to_string(),
    );
    req.extra_headers = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    req
}

async fn send(server: &TestServer, req: RawRequest) -> RawResponse {
    server.raw(req).await.unwrap()
}

fn source_of(server: &TestServer, resp: &RawResponse) -> String {
    let id = resp.header("x-amzn-requestid").unwrap().to_owned();
    let records = crate::audit::records(&server.data_dir().join("audit"));
    let record = records
        .iter()
        .find(|r| r["requestID"] == id.as_str())
        .unwrap_or_else(|| panic!("no event for {id}"));
    record["sourceIPAddress"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn forwarding_headers_are_believed_from_trusted_proxies_only() {
    let https = [
        ("X-Forwarded-For", "198.51.100.1, 203.0.113.7"),
        ("X-Forwarded-Proto", "https"),
    ];
    let http = [("X-Forwarded-For", "203.0.113.7")];

    // No trusted proxy: the headers are nobody's word; the connection is plain HTTP from
    // 127.0.0.1.
    let server = TestServer::start();
    let key = server
        .call(
            "CreateKey",
            json!({"Policy": guarded_policy(DEFAULT_ACCOUNT, Some("203.0.113.0/24"))}),
        )
        .await
        .json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = send(&server, encrypt_request(&key, &https)).await;
    resp.assert_error(400, "AccessDeniedException");
    assert_eq!(source_of(&server, &resp), "127.0.0.1");
    drop(server);

    // 127.0.0.1 is a trusted proxy: its word names the client and its scheme.
    let server = TestServer::start_with(&["--trusted-proxies", "192.0.2.0/24,127.0.0.1"], &[]);
    let key = server
        .call(
            "CreateKey",
            json!({"Policy": guarded_policy(DEFAULT_ACCOUNT, Some("203.0.113.0/24"))}),
        )
        .await
        .json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = send(&server, encrypt_request(&key, &https)).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(source_of(&server, &resp), "203.0.113.7");
    // The same client, but the proxy says plain HTTP: the TLS-only Deny applies.
    let resp = send(&server, encrypt_request(&key, &http)).await;
    resp.assert_error(400, "AccessDeniedException");
    assert_eq!(source_of(&server, &resp), "203.0.113.7");
    // RFC 7239's header, preferred to X-Forwarded-For.
    let resp = send(
        &server,
        encrypt_request(
            &key,
            &[
                ("Forwarded", "for=203.0.113.9;proto=https"),
                ("X-Forwarded-For", "192.0.2.200"),
            ],
        ),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(source_of(&server, &resp), "203.0.113.9");
    // Another client address: out of the policy's block.
    let resp = send(
        &server,
        encrypt_request(
            &key,
            &[
                ("X-Forwarded-For", "198.51.100.1"),
                ("X-Forwarded-Proto", "https"),
            ],
        ),
    )
    .await;
    resp.assert_error(400, "AccessDeniedException");
    // Unreadable headers from a trusted proxy: refused (unauthenticated, so audited as
    // such failures are), nothing guessed.
    for bad in [
        [("X-Forwarded-For", "203.0.113.7, somewhere")],
        [("Forwarded", "for=unknown")],
    ] {
        let resp = send(&server, encrypt_request(&key, &bad)).await;
        resp.assert_error(400, "ValidationException");
        assert!(
            resp.message().unwrap().contains("127.0.0.1"),
            "{}",
            resp.body_text()
        );
    }
    // No forwarding header: the proxy's own request.
    let resp = send(&server, encrypt_request(&key, &[])).await;
    resp.assert_error(400, "AccessDeniedException");
    assert_eq!(source_of(&server, &resp), "127.0.0.1");
    let client = server.client(REGION);
    expect_code(
        client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "AccessDeniedException",
    );
}
