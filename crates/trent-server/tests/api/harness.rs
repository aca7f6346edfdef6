//! The test harness: the real `trent` binary on `127.0.0.1:0` in a private data directory,
//! the official `aws-sdk-kms` client pointed at it, and a raw SigV4-signed HTTP client for
//! requests the SDK would never send.
//!
//! Every test starts its own server, so tests are independent and run in parallel.

use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::Client;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tempfile::TempDir;

/// The account of the administrator created at first start when `--account-id` is not given.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";
pub const OTHER_REGION: &str = "us-west-2";

/// How long a server may take to print its "listening" line. Generous: debug builds on a
/// shared 2-core machine.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Keep at most this much of the child's stderr for failure diagnostics.
const STDERR_CAP: usize = 256 * 1024;
const LISTENING_PREFIX: &str = "trent listening on ";

/// A `trent serve` child process on a private data directory. Killed on drop.
pub struct TestServer {
    child: Child,
    endpoint: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    access_key_id: String,
    secret_access_key: String,
    // Last field: dropped after the child has been killed.
    dir: TempDir,
}

impl TestServer {
    /// A server with the default flags on a fresh data directory.
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    /// A server with extra `trent serve` flags and environment variables on a fresh data
    /// directory.
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("trent-itest-")
            .tempdir()
            .expect("create a temporary data directory");
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (child, endpoint, stderr) = spawn(dir.path(), &args, &envs);
        let (access_key_id, secret_access_key) = read_credentials_file(dir.path());
        Self {
            child,
            endpoint,
            stderr,
            args,
            envs,
            access_key_id,
            secret_access_key,
            dir,
        }
    }

    /// Kill the server with SIGKILL (no graceful shutdown: acknowledged writes must already
    /// be durable) and start it again on the same data directory with the same flags.
    /// The endpoint changes (new port); build new clients afterwards.
    pub fn restart(&mut self) {
        self.kill();
        let (child, endpoint, stderr) = spawn(self.dir.path(), &self.args, &self.envs);
        self.child = child;
        self.endpoint = endpoint;
        self.stderr = stderr;
        let (access_key_id, secret_access_key) = read_credentials_file(self.dir.path());
        assert_eq!(
            access_key_id, self.access_key_id,
            "the administrator's access key id changed across a restart"
        );
        self.secret_access_key = secret_access_key;
    }

    /// Stop the server gracefully (SIGTERM: it finishes its work, flushes what it keeps in
    /// memory) and start it again on the same data directory with the same flags.
    pub fn restart_gracefully(&mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let exit = self.child.wait().expect("wait for trent");
        assert!(
            exit.success(),
            "trent exited with {exit} after SIGTERM\n{}",
            self.logs()
        );
        let (child, endpoint, stderr) = spawn(self.dir.path(), &self.args, &self.envs);
        self.child = child;
        self.endpoint = endpoint;
        self.stderr = stderr;
    }

    /// One plain HTTP request (no signature) to `path`, e.g. the test clock endpoint.
    pub async fn http(&self, method: &str, path: &str, body: Option<Value>) -> RawResponse {
        self.signed_http(method, path, body, Auth::None).await
    }

    /// One request to `path` (e.g. the test clock endpoint) with a JSON body, SigV4-signed
    /// (service `kms`, region REGION) per `auth`.
    pub async fn signed_http(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        auth: Auth,
    ) -> RawResponse {
        let authority = self
            .endpoint
            .strip_prefix("http://")
            .unwrap_or(&self.endpoint)
            .trim_end_matches('/')
            .to_owned();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers: Vec<(String, String)> = vec![
            ("host".to_owned(), authority.clone()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        let credentials = match auth {
            Auth::None => None,
            Auth::Admin => Some((self.access_key_id.clone(), self.secret_access_key.clone())),
            Auth::Keys {
                access_key_id,
                secret_access_key,
            } => Some((access_key_id, secret_access_key)),
        };
        if let Some((access_key_id, secret)) = credentials {
            let signer = trent_sigv4::Signer::new(
                trent_sigv4::Credentials {
                    access_key_id,
                    secret_access_key: trent_sigv4::SecretKey::new(secret),
                    session_token: None,
                },
                REGION,
                "kms",
            );
            let to_sign: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let added = signer.sign(
                method,
                path,
                "",
                &to_sign,
                body.as_bytes(),
                SystemTime::now(),
            );
            headers.extend(added.into_iter().map(|(k, v)| (k.to_owned(), v)));
        }
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("http://{authority}{path}"));
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .expect("a request");
        let client = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
            .await
            .expect("no answer in time")
            .expect("transport");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes()
            .to_vec();
        RawResponse {
            status,
            headers,
            body,
        }
    }

    fn kill(&mut self) {
        // `Child::kill` is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's process id (to send it signals, e.g. SIGHUP).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`, as printed by the server.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// An SDK client signed with the administrator's credentials.
    pub fn client(&self, region: &str) -> Client {
        self.client_as(region, &self.access_key_id, &self.secret_access_key)
    }

    /// An SDK client signed with arbitrary credentials.
    pub fn client_as(&self, region: &str, access_key_id: &str, secret_access_key: &str) -> Client {
        sdk_client(&self.endpoint, region, access_key_id, secret_access_key)
    }

    /// The server's stderr so far (its logs), for failure messages.
    pub fn logs(&self) -> String {
        let buf = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Whether the child process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send one raw HTTP request. `Err` only for transport failures (connection refused or
    /// reset), never for HTTP error statuses.
    pub async fn raw(&self, req: RawRequest) -> Result<RawResponse, String> {
        let authority = self
            .endpoint
            .strip_prefix("http://")
            .unwrap_or(&self.endpoint)
            .trim_end_matches('/')
            .to_owned();
        let mut headers: Vec<(String, String)> = vec![("host".to_owned(), authority.clone())];
        if let Some(ct) = &req.content_type {
            headers.push(("content-type".to_owned(), ct.clone()));
        }
        if let Some(target) = &req.target {
            headers.push(("x-amz-target".to_owned(), target.clone()));
        }
        let credentials = match &req.auth {
            Auth::None => None,
            Auth::Admin => Some((self.access_key_id.clone(), self.secret_access_key.clone())),
            Auth::Keys {
                access_key_id,
                secret_access_key,
            } => Some((access_key_id.clone(), secret_access_key.clone())),
        };
        if let Some((access_key_id, secret)) = credentials {
            let signer = trent_sigv4::Signer::new(
                trent_sigv4::Credentials {
                    access_key_id,
                    secret_access_key: trent_sigv4::SecretKey::new(secret),
                    session_token: None,
                },
                &req.region,
                "kms",
            );
            let to_sign: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let signed_body = req.signed_body.as_deref().unwrap_or(&req.body);
            let added = signer.sign("POST", "/", "", &to_sign, signed_body, req.time);
            headers.extend(added.into_iter().map(|(k, v)| (k.to_owned(), v)));
        }
        headers.extend(req.extra_headers.iter().cloned());

        let mut builder = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("http://{authority}/"));
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body)))
            .map_err(|e| format!("building the request: {e}"))?;
        let client = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
            .await
            .map_err(|_| "request timed out".to_owned())?
            .map_err(|e| format!("transport error: {e:?}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the response body: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// A correctly signed `TrentService.<op>` request with a JSON body, as the administrator.
    pub async fn call(&self, op: &str, body: Value) -> RawResponse {
        let req = RawRequest::new(op, body.to_string());
        match self.raw(req).await {
            Ok(resp) => resp,
            Err(e) => panic!("raw {op}: {e}\nserver log:\n{}", self.logs()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(
    dir: &Path,
    args: &[String],
    envs: &[(String, String)],
) -> (Child, String, Arc<Mutex<Vec<u8>>>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trent"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        // Only what a test asks for reaches the child.
        .env_remove("TRENT_ADMIN_ACCESS_KEY_ID")
        .env_remove("TRENT_ADMIN_SECRET_ACCESS_KEY")
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the trent binary");

    let stderr_buf = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut stderr) = child.stderr.take() {
        let buf = Arc::clone(&stderr_buf);
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match stderr.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut b) = buf.lock() {
                            b.extend_from_slice(&chunk[..n]);
                            if b.len() > STDERR_CAP {
                                let excess = b.len() - STDERR_CAP;
                                b.drain(..excess);
                            }
                        }
                    }
                }
            }
        });
    }

    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        // Forward every stdout line until the test side stops listening, then keep
        // draining so that the child never blocks on a full pipe.
        let mut sender = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &sender {
                if tx.send(line).is_err() {
                    sender = None;
                }
            }
        }
    });

    let deadline = Instant::now() + START_DEADLINE;
    let mut seen = Vec::new();
    let endpoint = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(line) => {
                if let Some(rest) = line.trim().strip_prefix(LISTENING_PREFIX) {
                    break rest.trim().trim_end_matches('/').to_owned();
                }
                seen.push(line);
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                // Give the stderr thread a moment to collect the last bytes.
                let drain_deadline = Instant::now() + Duration::from_millis(500);
                while Instant::now() < drain_deadline {
                    thread::yield_now();
                }
                let logs = stderr_buf
                    .lock()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                panic!(
                    "trent did not report `{LISTENING_PREFIX}http://...` ({e}); exit status: \
                     {status:?}\nstdout:\n{}\nstderr:\n{logs}",
                    seen.join("\n")
                );
            }
        }
    };
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "unexpected endpoint {endpoint:?}"
    );
    (child, endpoint, stderr_buf)
}

/// Parse `DIR/credentials` (AWS shared credentials format, profile `[default]`).
pub fn read_credentials_file(dir: &Path) -> (String, String) {
    let path = credentials_path(dir);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut in_default = false;
    let mut access_key_id = None;
    let mut secret = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_default = line == "[default]";
            continue;
        }
        if !in_default {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => access_key_id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    match (access_key_id, secret) {
        (Some(a), Some(s)) => (a, s),
        _ => panic!(
            "{} has no [default] profile with aws_access_key_id and aws_secret_access_key",
            path.display()
        ),
    }
}

pub fn credentials_path(dir: &Path) -> PathBuf {
    dir.join("credentials")
}

/// An SDK client with static credentials, no retries (a retry would hide the first
/// answer) and bounded timeouts.
pub fn sdk_client(
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "trent-itests",
        ))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// Who signs a raw request.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No `Authorization` header at all.
    None,
    /// The administrator's credentials from `DIR/credentials`.
    Admin,
    /// Arbitrary credentials.
    Keys {
        access_key_id: String,
        secret_access_key: String,
    },
}

/// A raw request: `POST /` with the given headers and body, SigV4-signed per `auth`.
#[derive(Clone, Debug)]
pub struct RawRequest {
    pub target: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub auth: Auth,
    pub region: String,
    pub time: SystemTime,
    /// Added after signing (not covered by the signature).
    pub extra_headers: Vec<(String, String)>,
    /// Sign this body instead of `body` (to send a body the signature does not cover).
    pub signed_body: Option<Vec<u8>>,
}

impl RawRequest {
    /// `TrentService.<op>`, `application/x-amz-json-1.1`, signed now by the administrator
    /// for us-east-1.
    pub fn new(op: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            target: Some(format!("TrentService.{op}")),
            content_type: Some("application/x-amz-json-1.1".to_owned()),
            body: body.into(),
            auth: Auth::Admin,
            region: REGION.to_owned(),
            time: SystemTime::now(),
            extra_headers: Vec::new(),
            signed_body: None,
        }
    }
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The error code as AWS SDKs read it: `__type` with any `namespace#` prefix and any
    /// `:...` suffix removed, else the `x-amzn-ErrorType` header.
    pub fn error_type(&self) -> Option<String> {
        let from_body = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("__type").and_then(|t| t.as_str()).map(str::to_owned));
        let from_header = self
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        from_body
            .or(from_header)
            .map(|raw| sanitize_error_code(&raw))
    }

    /// The error message (`message` or `Message`).
    pub fn message(&self) -> Option<String> {
        let v = serde_json::from_slice::<Value>(&self.body).ok()?;
        v.get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Assert an AWS JSON error envelope with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.error_type().as_deref()),
            (status, Some(code)),
            "expected {status} {code}; body: {}",
            self.body_text()
        );
    }
}

fn sanitize_error_code(raw: &str) -> String {
    let without_suffix = raw.split(':').next().unwrap_or(raw);
    without_suffix
        .rsplit('#')
        .next()
        .unwrap_or(without_suffix)
        .to_owned()
}

/// Unwrap an SDK result, printing the whole error chain on failure.
#[track_caller]
pub fn ok<T, E, R>(result: Result<T, SdkError<E, R>>) -> T
where
    E: std::error::Error + 'static,
    R: Debug,
{
    match result {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {}", DisplayErrorContext(&e)),
    }
}

/// Expect a service error with this code and, if given, exactly this message; return the
/// typed error for further checks.
#[track_caller]
pub fn expect_err<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    code: &str,
    message: Option<&str>,
) -> E
where
    T: Debug,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let err = expect_code(result, code);
    match message {
        Some(expected) => assert_eq!(err.message(), Some(expected), "wrong message for {code}"),
        None => {
            // AWS sends a message with every KMS error the tests match by type only.
            assert!(
                err.message().is_some_and(|m| !m.is_empty()),
                "{code} without a message"
            );
        }
    }
    err
}

/// Expect a service error with this code, without requiring any message.
#[track_caller]
pub fn expect_code<T, E, R>(result: Result<T, SdkError<E, R>>, code: &str) -> E
where
    T: Debug,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let err = match result {
        Ok(v) => panic!("expected {code}, got success: {v:?}"),
        Err(SdkError::ServiceError(se)) => se.into_err(),
        Err(other) => panic!(
            "expected service error {code}, got: {}",
            DisplayErrorContext(&other)
        ),
    };
    assert_eq!(
        err.code(),
        Some(code),
        "wrong error code (message: {:?})",
        err.message()
    );
    err
}

/// `arn:aws:kms:<region>:<account>:key/<id>`
pub fn key_arn(region: &str, account: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

/// `arn:aws:kms:<region>:<account>:<alias/name>`
pub fn alias_arn(region: &str, account: &str, alias_name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias_name}")
}

/// AWS's message for an alias that does not exist. Unlike the unknown-key message, AWS
/// does not quote the ARN here: "Alias arn:aws:kms:us-west-2:271462348125:alias/parameter_store_key
/// is not found." (a real AWS answer quoted in cloudposse/docs#152).
pub fn alias_not_found(alias_arn: &str) -> String {
    format!("Alias {alias_arn} is not found.")
}

/// Create a default symmetric key; return (key id, key ARN).
pub async fn create_key(client: &Client) -> (String, String) {
    let out = ok(client.create_key().send().await);
    let md = out.key_metadata().expect("CreateKey returns KeyMetadata");
    let arn = md.arn().expect("KeyMetadata.Arn").to_owned();
    (md.key_id().to_owned(), arn)
}

pub async fn create_alias(client: &Client, name: &str, target: &str) {
    ok(client
        .create_alias()
        .alias_name(name)
        .target_key_id(target)
        .send()
        .await);
}

pub async fn encrypt(client: &Client, key: &str, plaintext: &[u8]) -> Blob {
    let out = ok(client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .send()
        .await);
    out.ciphertext_blob().expect("CiphertextBlob").clone()
}

pub async fn decrypt(client: &Client, blob: &Blob) -> Vec<u8> {
    let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
    out.plaintext().expect("Plaintext").as_ref().to_vec()
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Assert `actual` is within `tolerance_secs` of `expected_secs`.
#[track_caller]
pub fn assert_time_near(actual: &DateTime, expected_secs: i64, tolerance_secs: i64) {
    let diff = (actual.secs() - expected_secs).abs();
    assert!(
        diff <= tolerance_secs,
        "time {actual} is {diff}s away from expected epoch second {expected_secs} \
         (tolerance {tolerance_secs}s)"
    );
}

/// A fresh random UUID (v4) string: a well-formed key id that exists nowhere.
pub fn random_key_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs the AWS CLI (`aws ARGS...`) as the server's administrator, isolated from the
/// machine's AWS configuration (no profile, config or credentials file; region REGION unless
/// `envs` or `--region` says otherwise). Returns (success, stdout, stderr).
pub fn aws_cli(
    server: &TestServer,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (bool, String, String) {
    let mut cmd = Command::new("aws");
    cmd.args(args);
    for var in [
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_KMS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", server.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_access_key());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
