//! The movable clock of `trent serve --dev-test-clock` (TESTING ONLY).
//!
//! KMS time (rotation periods, deletion windows, key usage times) runs on the system time
//! plus an offset, or stands still at a set time. `POST /_trent/test/clock` moves it:
//! - `{"set_unix_millis": T}` stops the clock at T;
//! - `{"advance_seconds": N}` / `{"advance_millis": N}` moves it forward (stopped or not);
//! - `{"offset_millis": O}` makes it run again, O milliseconds from the system time.
//!
//! Moving the clock runs the deletion jobs, which destroy keys for good, so the endpoint
//! goes through the same stage as every request ([`crate::stage`]): SigV4-signed (service `kms`), and
//! recorded in the audit trail (eventName `TrentSetTestClock`, `TrentGetTestClock` for a
//! read; refusals included) before the answer. Only an administrator of the deployment's
//! default account may use it (see [`authorize`]); the peer's address grants nothing
//! (behind a reverse proxy on the same host, every client is a loopback peer).
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
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::Method;
use serde::Deserialize;
use serde_json::Value;
use trent_core::{
    Caller, Clock, KeyService, KmsError, OffsetClock, PrincipalKind, SystemClock, TestTime,
};

use crate::audit::{Event, RequestFacts};
use crate::auth::Authenticator;
use crate::http::AppState;
use crate::stage::{Protocol, WireFailure};

pub const PATH: &str = "/_trent/test/clock";
const OFFSET_FILE: &str = "test-clock-offset";
/// The IAM action an identity policy allows to move the clock (`POST`)...
pub const SET_ACTION: &str = "trent:SetTestClock";
/// ... and to read it (`GET`).
pub const GET_ACTION: &str = "trent:GetTestClock";
/// The eventName of a move in the audit trail (and of a refused one).
pub const SET_EVENT: &str = "TrentSetTestClock";
/// The eventName of a read.
pub const GET_EVENT: &str = "TrentGetTestClock";

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

impl Move {
    /// What the audit event records of the request: the fields given (numbers only).
    fn parameters(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (name, value) in [
            ("advance_seconds", self.advance_seconds),
            ("advance_millis", self.advance_millis),
            ("set_unix_millis", self.set_unix_millis),
            ("offset_millis", self.offset_millis),
        ] {
            if let Some(v) = value {
                map.insert(name.to_owned(), v.into());
            }
        }
        Value::Object(map)
    }
}

/// The clock endpoint (`GET`/`POST` [`PATH`]): JSON, signed as KMS requests are (signing
/// name `kms`), recorded as KMS events named [`SET_EVENT`] / [`GET_EVENT`].
pub struct TestClockApi<'a>(pub &'a TestClock);

impl Protocol for TestClockApi<'_> {
    const NAME: &'static str = "test-clock";
    const CONTENT_TYPE: &'static str = crate::kms::CONTENT_TYPE;
    type Prepared = ();

    fn authenticator<'a>(&self, state: &'a AppState) -> &'a Authenticator {
        &state.auth
    }

    /// The router sends only `GET` and `POST` [`PATH`] here.
    fn prepare(
        &self,
        parts: &http::request::Parts,
        _body: &[u8],
        facts: &mut RequestFacts,
    ) -> Result<(), WireFailure> {
        facts.target_name = Some(event_name(&parts.method).to_owned());
        Ok(())
    }

    async fn handle(
        &self,
        state: &AppState,
        parts: &http::request::Parts,
        body: &[u8],
        (): (),
        facts: &mut RequestFacts,
    ) -> Result<Vec<u8>, WireFailure> {
        let Some(caller) = facts.caller.take() else {
            return Err(KmsError::Internal.into());
        };
        let account = &state.audit.default_account_id;
        let result = self
            .0
            .handle(&state.service, &caller, account, &parts.method, body, facts)
            .await;
        facts.caller = Some(caller);
        Ok(result?)
    }

    fn event(&self, facts: &RequestFacts) -> Event {
        crate::kms::kms_event(facts)
    }

    fn error_body(&self, failure: &WireFailure, _request_id: &str) -> Vec<u8> {
        failure.json_body()
    }
}

/// The eventName of a request to the clock endpoint.
pub fn event_name(method: &Method) -> &'static str {
    if method == Method::GET {
        GET_EVENT
    } else {
        SET_EVENT
    }
}

/// Whether `caller` may use the test clock: moving it (`trent:SetTestClock`) changes time
/// for every account of the deployment and lets the deletion jobs destroy keys, so only an
/// administrator of the deployment's default account (`account`, the one whose
/// administrator the first start created) may. That is its root (`arn:aws:iam::ACCOUNT:root`,
/// and under `--dev-any-credentials` any caller that switch maps to it), or a user or role
/// session of that account whose identity policies allow the action on resource `*` with
/// no explicit deny, as IAM decides (the bootstrap administrator's `AdministratorAccess`
/// does). Anything else is refused, a principal the policy language cannot represent
/// included: it is never taken for a broader one.
pub fn authorize(caller: &Caller, account: &str, action: &str) -> Result<(), KmsError> {
    let denied = |why: String| KmsError::AccessDenied {
        message: format!(
            "User: {} is not authorized to perform: {action} {why}",
            caller.principal.arn
        ),
    };
    if caller.account_id() != account {
        return Err(denied(format!(
            "because the test clock belongs to the deployment's account {account}"
        )));
    }
    if caller.principal.kind == PrincipalKind::Root {
        return Ok(());
    }
    // One reading of the caller for every decision: none that cannot be represented.
    let Some(ctx) = caller.request_context(action, "*", SystemClock.now_millis()) else {
        return Err(denied(
            "because its principal cannot be evaluated".to_owned(),
        ));
    };
    let Err(why) = crate::sts::identity_allows(caller, &ctx, action, account) else {
        return Ok(());
    };
    Err(denied(why))
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

    /// Answers an authenticated request to the clock endpoint (`GET` or `POST`): the
    /// caller must be allowed ([`authorize`]); what the audit event records of it goes
    /// into `facts` (the move asked for, and the time it set).
    pub async fn handle(
        &self,
        service: &KeyService,
        caller: &Caller,
        account: &str,
        method: &Method,
        body: &[u8],
        facts: &mut RequestFacts,
    ) -> Result<Vec<u8>, KmsError> {
        let moving = method == Method::POST;
        authorize(
            caller,
            account,
            if moving { SET_ACTION } else { GET_ACTION },
        )?;
        if moving {
            let m = serde_json::from_slice::<Move>(body).map_err(|_| {
                invalid("expected {\"advance_seconds\": N}, {\"set_unix_millis\": T} or {\"offset_millis\": O}")
            })?;
            facts.request_parameters = Some(m.parameters());
            let advance = match (m.advance_seconds, m.advance_millis) {
                (Some(secs), None) => secs.checked_mul(1000),
                (None, Some(ms)) => Some(ms),
                (None, None) => None,
                _ => return Err(invalid("give one of advance_seconds, advance_millis")),
            };
            let time = match (advance, m.set_unix_millis, m.offset_millis) {
                (Some(ms), None, None) => match self.clock.time() {
                    TestTime::Offset(o) => o.checked_add(ms).map(TestTime::Offset),
                    TestTime::Frozen(t) => t.checked_add(ms).map(TestTime::Frozen),
                },
                (None, Some(t), None) => Some(TestTime::Frozen(t)),
                (None, None, Some(o)) => Some(TestTime::Offset(o)),
                _ => {
                    return Err(invalid("give exactly one of advance_seconds, advance_millis, set_unix_millis, offset_millis"))
                }
            };
            let time = time.ok_or_else(|| invalid("out of range"))?;
            if let Err(e) = persist(&self.file, time) {
                tracing::error!(error = %e, file = %self.file.display(), "cannot write the test clock");
                return Err(KmsError::Internal);
            }
            self.clock.set(time);
            tracing::warn!(
                now_unix_millis = self.clock.now_millis(),
                principal = %caller.principal.arn,
                request_id = %facts.request_id,
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
                    return Err(KmsError::Internal);
                }
            }
        }
        let now = self.clock.now_millis();
        let answer = serde_json::json!({
            "now_unix_millis": now,
            "offset_millis": now - SystemClock.now_millis(),
            "frozen": matches!(self.clock.time(), TestTime::Frozen(_)),
        });
        if moving {
            facts.response_elements = Some(answer.clone());
        }
        serde_json::to_vec(&answer).map_err(|_| KmsError::Internal)
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

fn invalid(message: &str) -> KmsError {
    KmsError::Validation {
        message: message.to_owned(),
    }
}
