//! One `trent serve` on a private data directory, the way the api suite meets it: the
//! administrator created at first start (read back from `DIR/credentials`), SDK clients
//! signed as anyone, raw SigV4-signed HTTP for requests the SDK would never send, restarts
//! (killed or graceful) on the same data directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_sdk_kms::Client;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tempfile::TempDir;

use crate::process::{Launch, Trent};
use crate::sdk::{self, REGION};

/// A `trent serve` child process on a private data directory. Killed on drop.
pub struct TestServer {
    // First field: killed before the data directory goes.
    process: Trent,
    launch: Launch,
    access_key_id: String,
    secret_access_key: String,
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
        let launch = Launch::serve()
            .data_dir(dir.path())
            .args(args.iter().copied())
            .envs(envs);
        let process = launch.start();
        let (access_key_id, secret_access_key) = read_credentials_file(dir.path());
        Self {
            process,
            launch,
            access_key_id,
            secret_access_key,
            dir,
        }
    }

    /// Kill the server with SIGKILL (no graceful shutdown: acknowledged writes must already
    /// be durable) and start it again on the same data directory with the same flags.
    /// The endpoint changes (new port); build new clients afterwards.
    pub fn restart(&mut self) {
        self.process.kill();
        self.process = self.launch.start();
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
        let exit = self.process.terminate();
        assert!(
            exit.success(),
            "trent exited with {exit} after SIGTERM\n{}",
            self.logs()
        );
        self.process = self.launch.start();
    }

    /// Sends the server a signal by name (`"HUP"`, `"KILL"`, ...) without waiting.
    #[track_caller]
    pub fn signal(&self, name: &str) {
        self.process.signal(name);
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
        let authority = self.authority();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers: Vec<(String, String)> = vec![
            ("host".to_owned(), authority.clone()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        if let Some(signer) = self.signer(&auth, REGION) {
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
        let request = build_request(method, &format!("http://{authority}{path}"), &headers, body)
            .expect("a request");
        send(request, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Send one raw HTTP request. `Err` only for transport failures (connection refused or
    /// reset), never for HTTP error statuses.
    pub async fn raw(&self, req: RawRequest) -> Result<RawResponse, String> {
        let authority = self.authority();
        let mut headers: Vec<(String, String)> = vec![("host".to_owned(), authority.clone())];
        if let Some(ct) = &req.content_type {
            headers.push(("content-type".to_owned(), ct.clone()));
        }
        if let Some(target) = &req.target {
            headers.push(("x-amz-target".to_owned(), target.clone()));
        }
        headers.extend(req.signed_headers.iter().cloned());
        if let Some(signer) = self.signer(&req.auth, &req.region) {
            let to_sign: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let signed_body = req.signed_body.as_deref().unwrap_or(&req.body);
            let added = signer.sign("POST", "/", "", &to_sign, signed_body, req.time);
            headers.extend(added.into_iter().map(|(k, v)| (k.to_owned(), v)));
        }
        headers.extend(req.extra_headers.iter().cloned());
        let request = build_request("POST", &format!("http://{authority}/"), &headers, req.body)
            .map_err(|e| format!("building the request: {e}"))?;
        send(request, Duration::from_secs(30)).await
    }

    /// A correctly signed `TrentService.<op>` request with a JSON body, as the administrator.
    pub async fn call(&self, op: &str, body: Value) -> RawResponse {
        let req = RawRequest::new(op, body.to_string());
        match self.raw(req).await {
            Ok(resp) => resp,
            Err(e) => panic!("raw {op}: {e}\nserver log:\n{}", self.logs()),
        }
    }

    /// `127.0.0.1:PORT`
    fn authority(&self) -> String {
        let endpoint = self.endpoint();
        endpoint
            .strip_prefix("http://")
            .unwrap_or(endpoint)
            .trim_end_matches('/')
            .to_owned()
    }

    fn signer(&self, auth: &Auth, region: &str) -> Option<trent_sigv4::Signer> {
        let (access_key_id, secret) = match auth {
            Auth::None => return None,
            Auth::Admin => (self.access_key_id.clone(), self.secret_access_key.clone()),
            Auth::Keys {
                access_key_id,
                secret_access_key,
            } => (access_key_id.clone(), secret_access_key.clone()),
        };
        Some(trent_sigv4::Signer::new(
            trent_sigv4::Credentials {
                access_key_id,
                secret_access_key: trent_sigv4::SecretKey::new(secret),
                session_token: None,
            },
            region,
            "kms",
        ))
    }

    /// The server's process id (to send it signals, e.g. SIGHUP).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `http://127.0.0.1:PORT`, as printed by the server.
    pub fn endpoint(&self) -> &str {
        self.process.endpoint()
    }

    /// The admin listener's `http://127.0.0.1:PORT` (`/metrics`, `/healthz`, `/readyz`).
    #[track_caller]
    pub fn admin_endpoint(&self) -> String {
        self.process
            .admin_endpoint()
            .expect("the server has an admin listener")
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
        sdk::client(self.endpoint(), region, access_key_id, secret_access_key)
    }

    /// The server's stderr so far (its logs), for failure messages.
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// Whether the child process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

fn build_request(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder.body(Full::new(body.into()))
}

async fn send(
    request: http::Request<Full<Bytes>>,
    deadline: Duration,
) -> Result<RawResponse, String> {
    let client = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(deadline, client.request(request))
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
    /// Added before signing (covered by the signature).
    pub signed_headers: Vec<(String, String)>,
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
            signed_headers: Vec::new(),
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
