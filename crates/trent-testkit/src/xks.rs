//! Driving Trent's AWS KMS External Key Store (XKS) proxy API the way AWS's XKS test
//! client does: `curl --aws-sigv4 "aws:amz:REGION:kms-xks-proxy"`, one process per call,
//! (the TLS material such a deployment needs is [`crate::tls`]'s).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::process::Trent;
pub use crate::tls::TlsFiles;

/// What the server prints when its XKS listener is up (before its KMS listening line).
pub const LISTENING_PREFIX: &str = "trent xks proxy listening on ";

/// The XKS listener's base URL (`http://127.0.0.1:PORT` or `https://...`), from what the
/// server printed before it listened.
#[track_caller]
pub fn endpoint(server: &Trent) -> String {
    server
        .banner()
        .iter()
        .find_map(|l| l.trim().strip_prefix(LISTENING_PREFIX))
        .map(|e| e.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| {
            panic!(
                "no `{LISTENING_PREFIX}` line in {:?}\n{}",
                server.banner(),
                server.logs()
            )
        })
}

/// One signed call: an access key, a region, extra curl arguments (TLS files).
#[derive(Clone, Debug)]
pub struct Call {
    pub url: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    pub method: String,
    pub curl_args: Vec<String>,
    /// `false`: no `--aws-sigv4` at all (an unsigned request).
    pub signed: bool,
}

/// The answer to a call: HTTP status and body (JSON when it is).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }

    /// `errorName` of an error answer.
    pub fn error_name(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["errorName"].as_str().map(str::to_owned))
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, name: &str) {
        assert_eq!(
            (self.status, self.error_name().as_deref()),
            (status, Some(name)),
            "body: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_ok(&self) -> Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        self.json()
    }
}

impl Call {
    /// A POST to `url` signed with this access key in `us-east-1`.
    pub fn new(url: impl Into<String>, access_key_id: &str, secret_access_key: &str) -> Self {
        Call {
            url: url.into(),
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            region: "us-east-1".to_owned(),
            method: "POST".to_owned(),
            curl_args: Vec::new(),
            signed: true,
        }
    }

    /// Sends `body` with curl. `Err` with curl's exit code and stderr when no HTTP
    /// answer came (a refused TLS handshake, say).
    pub fn send(&self, body: &str) -> Result<Answer, (i32, String)> {
        let mut cmd = Command::new("curl");
        cmd.args(["--silent", "--show-error", "--max-time", "60"])
            .args(["-X", &self.method])
            .args(["-H", "Content-Type:application/json"])
            .args(["--data-binary", "@-"])
            .args(["--write-out", "\n%{http_code}"]);
        if self.signed {
            cmd.arg("--aws-sigv4")
                .arg(format!("aws:amz:{}:kms-xks-proxy", self.region))
                .arg("--user")
                .arg(format!("{}:{}", self.access_key_id, self.secret_access_key));
        }
        cmd.args(&self.curl_args)
            .arg(&self.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run curl");
        child
            .stdin
            .take()
            .expect("curl's stdin")
            .write_all(body.as_bytes())
            .expect("write the request body to curl");
        let out = child.wait_with_output().expect("wait for curl");
        if !out.status.success() {
            return Err((
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').expect("curl's status line");
        Ok(Answer {
            status: status.trim().parse().expect("an HTTP status"),
            body: body.to_owned(),
        })
    }

    /// [`Call::send`], failing the test on a transport error.
    #[track_caller]
    pub fn post(&self, body: &str) -> Answer {
        self.send(body)
            .unwrap_or_else(|(code, err)| panic!("curl failed ({code}): {err}"))
    }
}
