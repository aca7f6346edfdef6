//! The one stage every request goes through, whatever protocol it speaks.
//!
//! A [`Protocol`] (KMS JSON 1.1, STS Query/XML, CloudTrail JSON, the test clock — and next
//! the XKS proxy API and the console) says how a request of its own is checked, decoded,
//! run and answered; [`serve`] owns what every protocol shares: the request id, the facts
//! the audit event is made of, the body cap, the hand-off to SigV4 authentication, the
//! audit record (durable before the response leaves) and the request's timing. Garage's
//! `ApiHandler`/`ApiServer` split is the model.

use std::future::Future;

use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use tracing::Instrument as _;
use trent_audit::Record;
use trent_core::KmsError;
use trent_wire::ErrorCode;

use crate::audit::{Event, Outcome, RequestFacts};
use crate::auth::{AuthError, Authenticator, Connection};
use crate::http::AppState;

/// A protocol the server speaks: what differs between KMS, STS, CloudTrail, ... and
/// nothing of what they share (that is [`serve`]'s).
pub trait Protocol: Sync {
    /// The protocol's name in the request log.
    const NAME: &'static str;
    /// The `Content-Type` of its answers, errors included.
    const CONTENT_TYPE: &'static str;
    /// What [`Protocol::prepare`] reads of a request before it is authenticated.
    type Prepared: Send;

    /// The SigV4 authenticator of the protocol (its signing name) over the identity
    /// directory; by default KMS's.
    fn authenticator<'a>(&self, state: &'a AppState) -> &'a Authenticator {
        &state.auth
    }

    /// Authenticates a prepared request. By default SigV4 with
    /// [`Protocol::authenticator`], the caller then in `facts.caller`; a protocol whose
    /// callers are not IAM identities (the XKS proxy API) checks its own credentials,
    /// notes who it authenticated in `prepared` and `facts.actor`.
    fn authenticate(
        &self,
        state: &AppState,
        parts: &http::request::Parts,
        body: &[u8],
        connection: &Connection,
        _prepared: &mut Self::Prepared,
        facts: &mut RequestFacts,
    ) -> Result<(), WireFailure> {
        let caller = self
            .authenticator(state)
            .authenticate(parts, body, SystemTime::now(), connection)
            .map_err(|e| self.auth_failure(e))?;
        facts.caller = Some(caller);
        Ok(())
    }

    /// The answer to a body over the size limit; by default AWS's JSON protocols' one.
    fn body_too_large(&self, limit: usize) -> WireFailure {
        WireFailure::new(
            ErrorCode::RequestEntityTooLargeException,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    }

    /// What the protocol checks of a request (its body read) before authenticating it,
    /// as AWS does: method and path, the action it names.
    fn prepare(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        facts: &mut RequestFacts,
    ) -> Result<Self::Prepared, WireFailure>;

    /// An authentication failure in the protocol's terms (by default the JSON protocols').
    fn auth_failure(&self, e: AuthError) -> WireFailure {
        e.into()
    }

    /// Runs an authenticated request (`facts.caller` is set), noting in `facts` what its
    /// audit event records.
    fn handle(
        &self,
        state: &AppState,
        parts: &http::request::Parts,
        body: &[u8],
        prepared: Self::Prepared,
        facts: &mut RequestFacts,
    ) -> impl Future<Output = Result<Vec<u8>, WireFailure>> + Send;

    /// The event the audit trail records the request as (source, name, read-only).
    fn event(&self, facts: &RequestFacts) -> Event;

    /// An error's body, in the protocol's envelope.
    fn error_body(&self, failure: &WireFailure, request_id: &str) -> Vec<u8>;

    /// Runs once the request's event is recorded, for a request about to be answered
    /// (success or failure).
    fn recorded(
        &self,
        _state: &AppState,
        _facts: &RequestFacts,
        _record: &Record,
        _succeeded: bool,
    ) {
    }
}

/// An error answered to the client: its type, status and message.
pub struct WireFailure {
    pub type_name: &'static str,
    pub status: u16,
    pub message: Option<String>,
}

impl From<KmsError> for WireFailure {
    fn from(e: KmsError) -> Self {
        let code = e.code();
        WireFailure {
            type_name: code.wire_name(),
            status: code.http_status(),
            message: e.message(),
        }
    }
}

impl From<AuthError> for WireFailure {
    /// The JSON protocols' (KMS's, CloudTrail's) authentication errors.
    fn from(e: AuthError) -> Self {
        let message = e.message();
        match e {
            // https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
            AuthError::ExpiredToken => WireFailure {
                type_name: "ExpiredTokenException",
                status: 400,
                message: Some(message),
            },
            AuthError::SigV4(e) => WireFailure::new(auth_code(e.code()), message),
            AuthError::NotAService { .. } => {
                WireFailure::new(ErrorCode::AccessDeniedException, message)
            }
            AuthError::BadForward(_) => {
                WireFailure::new(ErrorCode::IncompleteSignatureException, message)
            }
            // The forwarded request's own failure, its message saying whose it is.
            AuthError::Forwarded(inner) => WireFailure {
                message: Some(message),
                ..WireFailure::from(*inner)
            },
        }
    }
}

impl WireFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireFailure {
            type_name: code.wire_name(),
            status: code.http_status(),
            message: Some(message.into()),
        }
    }

    pub fn bare(code: ErrorCode) -> Self {
        WireFailure {
            type_name: code.wire_name(),
            status: code.http_status(),
            message: None,
        }
    }

    /// The JSON protocols' error envelope: `{"__type": ..., "message": ...}`.
    pub fn json_body(&self) -> Vec<u8> {
        let mut envelope = serde_json::Map::new();
        envelope.insert("__type".into(), self.type_name.into());
        if let Some(m) = &self.message {
            envelope.insert("message".into(), m.clone().into());
        }
        serde_json::to_vec(&envelope).unwrap_or_default()
    }
}

/// SigV4 error types as the wire knows them.
fn auth_code(code: &str) -> ErrorCode {
    match code {
        "MissingAuthenticationTokenException" => ErrorCode::MissingAuthenticationTokenException,
        "IncompleteSignatureException" => ErrorCode::IncompleteSignatureException,
        "UnrecognizedClientException" => ErrorCode::UnrecognizedClientException,
        _ => ErrorCode::InvalidSignatureException,
    }
}

/// Serves one request of `protocol`: request id → body cap → [`Protocol::prepare`] →
/// SigV4 → [`Protocol::handle`] → [`finish`].
pub async fn serve<P: Protocol>(
    protocol: &P,
    state: &AppState,
    request: http::Request<Body>,
) -> Response {
    let started = Instant::now();
    let request_id = trent_audit::random_uuid();
    // With span export on, the request's span (a child of the caller's `traceparent`).
    let span = crate::traces::request_span(P::NAME, &request_id, request.headers());
    // Every log line of the request carries its id.
    crate::logging::REQUEST_ID
        .scope(
            request_id.clone(),
            serve_request(protocol, state, request, started, request_id).instrument(span),
        )
        .await
}

async fn serve_request<P: Protocol>(
    protocol: &P,
    state: &AppState,
    request: http::Request<Body>,
    started: Instant,
    request_id: String,
) -> Response {
    let peer = request.extensions().get::<crate::listener::Peer>().copied();
    let (parts, body) = request.into_parts();
    // The client: the connection's peer, or whom a trusted proxy names.
    let client = peer.map(|p| state.proxies.client(p, &parts.headers));
    let source_ip = match &client {
        Some(Ok(c)) => Some(c.ip),
        _ => peer.map(|p| p.addr.ip()),
    };
    let mut facts =
        RequestFacts::from_parts(request_id, &parts, source_ip.map(|ip| ip.to_string()));
    let result = match client {
        Some(Ok(client)) => {
            let connection = Connection {
                source_ip: Some(client.ip),
                secure_transport: client.secure_transport,
                user_agent: facts.user_agent.clone(),
            };
            run(protocol, state, &parts, body, &mut facts, &connection).await
        }
        // Unreadable forwarding headers from a trusted proxy: refused, never guessed.
        Some(Err(message)) => Err(WireFailure::new(ErrorCode::ValidationException, message)),
        // Every connection of the listeners carries its peer: without one nothing says who
        // asked (`aws:SourceIp`), so nothing is answered.
        None => Err(KmsError::Internal.into()),
    };
    finish(protocol, state, facts, result, started).await
}

async fn run<P: Protocol>(
    protocol: &P,
    state: &AppState,
    parts: &http::request::Parts,
    body: Body,
    facts: &mut RequestFacts,
    connection: &Connection,
) -> Result<Vec<u8>, WireFailure> {
    // Zeroized on drop: it may carry a plaintext or key material.
    let body = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map(crate::zeroizing::RequestBody::new)
        .map_err(|e| {
            // A body slower than --body-read-timeout-ms (slowloris): its connection closes.
            if let Some(t) = crate::listener::BodyTimeout::find(&e) {
                return WireFailure {
                    type_name: "RequestTimeoutException",
                    status: 408,
                    message: Some(t.to_string()),
                };
            }
            protocol.body_too_large(state.max_body_bytes)
        })?;
    let mut prepared = protocol.prepare(parts, &body, facts)?;
    crate::traces::phase_span("authenticate").in_scope(|| {
        protocol.authenticate(state, parts, &body, connection, &mut prepared, facts)
    })?;
    protocol
        .handle(state, parts, &body, prepared, facts)
        .instrument(crate::traces::phase_span("handle"))
        .await
}

/// The one exit of every request: records its event, durably, then builds the response.
/// If the event cannot be recorded, the request fails with `KMSInternalException` and
/// nothing of its result leaves.
async fn finish<P: Protocol>(
    protocol: &P,
    state: &AppState,
    facts: RequestFacts,
    result: Result<Vec<u8>, WireFailure>,
    started: Instant,
) -> Response {
    let record = {
        let outcome = match &result {
            Ok(body) => Outcome {
                response: Some(body),
                error_code: None,
                error_message: None,
            },
            Err(f) => Outcome {
                response: None,
                error_code: Some(f.type_name),
                error_message: f.message.as_deref(),
            },
        };
        crate::audit::record(&state.audit, &facts, protocol.event(&facts), &outcome)
    };
    let unauthenticated_failure =
        facts.caller.is_none() && facts.actor.is_none() && result.is_err();
    let recorded = state
        .audit
        .throttle
        .record(&record, unauthenticated_failure);
    let result = match recorded.await {
        Ok(()) => {
            protocol.recorded(state, &facts, &record, result.is_ok());
            result
        }
        Err(e) => {
            tracing::error!(error = %e, "audit event not recorded; failing the request");
            Err(KmsError::Internal.into())
        }
    };
    let (status, body, error) = match result {
        Ok(body) => (StatusCode::OK, body, None),
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            (
                status,
                protocol.error_body(&f, &facts.request_id),
                Some(f.type_name),
            )
        }
    };
    // A KMS target Trent does not know is the caller's text: never a label.
    let operation =
        if facts.operation.is_none() && record.event_source == trent_audit::KMS_EVENT_SOURCE {
            "UnknownOperation"
        } else {
            record.event_name.as_str()
        };
    crate::telemetry::request(operation, error.unwrap_or("success"), started.elapsed());
    crate::traces::record_outcome(P::NAME, operation, status.as_u16(), error);
    let principal = facts.caller.as_ref();
    tracing::debug!(
        target: "trent::request",
        protocol = P::NAME,
        operation = %record.event_name,
        principal = principal.map(|p| p.principal.arn.as_str()).unwrap_or("-"),
        region = principal.map(|p| p.region.as_str()).unwrap_or("-"),
        status = status.as_u16(),
        error = error.unwrap_or("-"),
        micros = started.elapsed().as_micros() as u64,
    );
    let mut response = Response::new(crate::zeroizing::response_body(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(P::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&facts.request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}
