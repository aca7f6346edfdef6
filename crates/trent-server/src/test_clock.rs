//! The movable clock of `trent serve --dev-test-clock` (TESTING ONLY).
//!
//! KMS time (rotation periods, deletion windows, key usage times) runs on the system time
//! plus an offset, or stands still at a set time. `POST /_trent/test/clock`, from a
//! loopback address only, moves it:
//! - `{"set_unix_millis": T}` stops the clock at T;
//! - `{"advance_seconds": N}` / `{"advance_millis": N}` moves it forward (stopped or not);
//! - `{"offset_millis": O}` makes it run again, O milliseconds from the system time.
//!
//! The new time is written (fsync'd) to `DATA_DIR/test-clock-offset` and the background
//! jobs (deletion, rotation) make one pass at it, all before the answer: when the answer
//! arrives, what was due at the new time is done, and nothing else. (Right after a kill -9
//! the dead process's job leases may hold that answer up to their 10-second lifetime.) `GET` reads the clock.
//! Both answer `{"now_unix_millis", "offset_millis", "frozen"}`. A restarted server reads
//! the file back and keeps its moved time. Request signing is unaffected: the SigV4 skew
//! window is checked against the real time. Without the switch the path does not exist
//! (the usual `UnknownOperationException`).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{Method, StatusCode};
use serde::Deserialize;
use trent_core::{Clock, KeyService, OffsetClock, SystemClock, TestTime};

pub const PATH: &str = "/_trent/test/clock";
const OFFSET_FILE: &str = "test-clock-offset";

#[derive(Debug)]
pub struct TestClock {
    pub clock: Arc<OffsetClock>,
    file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    advance_seconds: Option<i64>,
    advance_millis: Option<i64>,
    set_unix_millis: Option<i64>,
    offset_millis: Option<i64>,
}

impl TestClock {
    /// The clock with the offset kept in `data_dir` (none: the real time).
    pub fn open(data_dir: &Path) -> Result<Self, String> {
        let file = data_dir.join(OFFSET_FILE);
        let time = match std::fs::read_to_string(&file) {
            Ok(text) => parse_time(&text).ok_or_else(|| {
                format!(
                    "{} holds neither \"offset MILLIS\" nor \"frozen UNIX_MILLIS\"",
                    file.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TestTime::Offset(0),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        Ok(Self {
            clock: Arc::new(OffsetClock::new(time)),
            file,
        })
    }

    /// Answers a request to the clock endpoint.
    pub async fn handle(
        &self,
        service: &KeyService,
        peer: Option<IpAddr>,
        method: &Method,
        body: Body,
    ) -> Response {
        if !peer.is_some_and(|ip| ip.is_loopback()) {
            return answer(
                StatusCode::FORBIDDEN,
                serde_json::json!({"message": "the test clock is controlled from 127.0.0.1 only"}),
            );
        }
        if method == Method::POST {
            let Ok(bytes) = axum::body::to_bytes(body, 4096).await else {
                return bad("body too large");
            };
            let Ok(m) = serde_json::from_slice::<Move>(&bytes) else {
                return bad("expected {\"advance_seconds\": N}, {\"set_unix_millis\": T} or {\"offset_millis\": O}");
            };
            let advance = match (m.advance_seconds, m.advance_millis) {
                (Some(secs), None) => secs.checked_mul(1000),
                (None, Some(ms)) => Some(ms),
                (None, None) => None,
                _ => return bad("give one of advance_seconds, advance_millis"),
            };
            let time = match (advance, m.set_unix_millis, m.offset_millis) {
                (Some(ms), None, None) => match self.clock.time() {
                    TestTime::Offset(o) => o.checked_add(ms).map(TestTime::Offset),
                    TestTime::Frozen(t) => t.checked_add(ms).map(TestTime::Frozen),
                },
                (None, Some(t), None) => Some(TestTime::Frozen(t)),
                (None, None, Some(o)) => Some(TestTime::Offset(o)),
                _ => {
                    return bad("give exactly one of advance_seconds, advance_millis, set_unix_millis, offset_millis")
                }
            };
            let Some(time) = time else {
                return bad("out of range");
            };
            if let Err(e) = persist(&self.file, time) {
                tracing::error!(error = %e, "cannot write the test clock");
                return answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"message": format!("cannot write {}: {e}", self.file.display())}),
                );
            }
            self.clock.set(time);
            tracing::warn!(
                now_unix_millis = self.clock.now_millis(),
                "TEST CLOCK moved"
            );
            // What is due at the new time is done before the answer (after a kill -9 the
            // dead process's job leases may block for up to their lifetime).
            match service
                .run_jobs_once(KeyService::JOB_LEASE_TTL + std::time::Duration::from_secs(5))
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("the job leases are held by another node; it runs the jobs")
                }
                Err(e) => {
                    tracing::error!(error = %e, "background jobs failed after the test clock moved");
                    return answer(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        serde_json::json!({"message": format!("background jobs failed: {e}")}),
                    );
                }
            }
        } else if method != Method::GET {
            return answer(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"message": "GET or POST"}),
            );
        }
        let now = self.clock.now_millis();
        answer(
            StatusCode::OK,
            serde_json::json!({
                "now_unix_millis": now,
                "offset_millis": now - SystemClock.now_millis(),
                "frozen": matches!(self.clock.time(), TestTime::Frozen(_)),
            }),
        )
    }
}

fn parse_time(text: &str) -> Option<TestTime> {
    let (kind, value) = text.trim().split_once(' ')?;
    let value = value.trim().parse::<i64>().ok()?;
    match kind {
        "offset" => Some(TestTime::Offset(value)),
        "frozen" => Some(TestTime::Frozen(value)),
        _ => None,
    }
}

/// Writes the time durably: a temporary file, fsync'd, renamed over the old one.
fn persist(file: &Path, time: TestTime) -> std::io::Result<()> {
    let text = match time {
        TestTime::Offset(o) => format!("offset {o}\n"),
        TestTime::Frozen(t) => format!("frozen {t}\n"),
    };
    let tmp = file.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn bad(message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "message": message }),
    )
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
