//! The HTTP front: one route, one pipeline for every operation.
//!
//! body cap → request id → `X-Amz-Target` → SigV4 → decode → key service → encode, with
//! one exit point ([`finish`]) where every request's event is recorded in the audit trail,
//! durably, before the response leaves.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::Router;
use http::{HeaderValue, Method, StatusCode};
use trent_core::{Caller, KeyService, KmsError};
use trent_wire::{ErrorCode, Operation};

use crate::audit::{Outcome, RequestFacts};
use crate::auth::{AuthError, Authenticator, Connection, Sessions, SharedDirectory};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

pub struct AppState {
    pub service: Arc<KeyService>,
    pub auth: Authenticator,
    /// SigV4 for the CloudTrail API (its own signing name).
    pub cloudtrail_auth: Authenticator,
    /// SigV4 for STS (its own signing name).
    pub sts_auth: Authenticator,
    /// The identities in force (replaced on SIGHUP).
    pub directory: SharedDirectory,
    pub sessions: Arc<Sessions>,
    pub max_body_bytes: usize,
    pub audit: crate::audit::Trail,
    /// `--dev-test-clock` (testing only): the movable clock and its endpoint.
    pub test_clock: Option<crate::test_clock::TestClock>,
}

pub fn app(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// An error answered to the client: its `__type`, status and message.
struct WireFailure {
    type_name: &'static str,
    status: u16,
    message: Option<String>,
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

impl From<crate::cloudtrail::CloudTrailError> for WireFailure {
    fn from(e: crate::cloudtrail::CloudTrailError) -> Self {
        WireFailure {
            type_name: e.type_name,
            status: e.status,
            message: Some(e.message),
        }
    }
}

impl From<crate::sts::StsError> for WireFailure {
    fn from(e: crate::sts::StsError) -> Self {
        WireFailure {
            type_name: e.code,
            status: e.status,
            message: Some(e.message),
        }
    }
}

impl From<AuthError> for WireFailure {
    /// The JSON protocols' (KMS's, CloudTrail's) authentication errors.
    fn from(e: AuthError) -> Self {
        match e {
            // https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
            AuthError::ExpiredToken => WireFailure {
                type_name: "ExpiredTokenException",
                status: 400,
                message: Some("The security token included in the request is expired".into()),
            },
            AuthError::SigV4(e) => WireFailure::new(auth_code(e.code()), e.message()),
        }
    }
}

impl WireFailure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireFailure {
            type_name: code.wire_name(),
            status: code.http_status(),
            message: Some(message.into()),
        }
    }

    fn bare(code: ErrorCode) -> Self {
        WireFailure {
            type_name: code.wire_name(),
            status: code.http_status(),
            message: None,
        }
    }
}

async fn handle(State(state): State<Arc<AppState>>, request: http::Request<Body>) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = request.into_parts();
    let mut facts = RequestFacts::from_parts(request_id, &parts, peer.map(|ip| ip.to_string()));
    let connection = Connection {
        source_ip: peer,
        // Trent serves plain HTTP; TLS, where used, ends in front of it.
        secure_transport: false,
        user_agent: facts.user_agent.clone(),
    };
    let result = pipeline(&state, &parts, body, &mut facts, &connection).await;
    finish(&state, facts, result, started).await
}

/// STS: form-encoded Query requests, answered in XML.
async fn sts(
    state: &AppState,
    parts: &http::request::Parts,
    body: &[u8],
    facts: &mut RequestFacts,
    connection: &Connection,
) -> Result<Vec<u8>, WireFailure> {
    let params = crate::sts::parse_form(body)?;
    let action = crate::sts::action(&params)?;
    facts.sts_action = Some(action);
    let caller = state
        .sts_auth
        .authenticate(parts, body, SystemTime::now(), connection)
        .map_err(|e| crate::sts::StsError::from_auth(&e))?;
    let caller = &*facts.caller.insert(caller);
    let directory = state.directory.read().clone();
    let token = parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    let mut audit = crate::sts::StsAudit::default();
    let cx = crate::sts::StsContext {
        directory: &directory,
        sessions: &state.sessions,
        session_token: token,
        request_id: &facts.request_id,
    };
    let result = crate::sts::handle(action, &params, caller, &cx, &mut audit);
    facts.request_parameters = audit.request_parameters;
    facts.response_elements = audit.response_elements;
    Ok(result?)
}

async fn pipeline(
    state: &AppState,
    parts: &http::request::Parts,
    body: Body,
    facts: &mut RequestFacts,
    connection: &Connection,
) -> Result<Vec<u8>, WireFailure> {
    // STS answers in its own (XML) envelope, errors before the body is read included.
    facts.sts = crate::sts::is_sts_request(parts);
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
            WireFailure::new(
                ErrorCode::RequestEntityTooLargeException,
                format!(
                    "Request body is larger than the limit of {} bytes",
                    state.max_body_bytes
                ),
            )
        })?;
    if let Some(clock) = &state.test_clock {
        // Testing only: signed and audited like any request, for an administrator only.
        if parts.uri.path() == crate::test_clock::PATH
            && (parts.method == Method::GET || parts.method == Method::POST)
        {
            facts.target_name = Some(crate::test_clock::event_name(&parts.method).to_owned());
            let caller = state
                .auth
                .authenticate(parts, &body, SystemTime::now(), connection)?;
            let account = &state.audit.default_account_id;
            let result = clock
                .handle(
                    &state.service,
                    &caller,
                    account,
                    &parts.method,
                    &body,
                    facts,
                )
                .await;
            facts.caller = Some(caller);
            return Ok(result?);
        }
    }
    if parts.method != Method::POST || parts.uri.path() != "/" {
        return Err(WireFailure::bare(ErrorCode::UnknownOperationException));
    }
    if facts.sts {
        return sts(state, parts, &body, facts, connection).await;
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if target == Some(crate::cloudtrail::TARGET) {
        facts.cloudtrail = true;
        let caller =
            state
                .cloudtrail_auth
                .authenticate(parts, &body, SystemTime::now(), connection)?;
        let caller = &*facts.caller.insert(caller);
        let mut parameters = None;
        let result =
            crate::cloudtrail::lookup_events(&state.audit, caller, &body, &mut parameters).await;
        facts.request_parameters = parameters;
        return Ok(result?);
    }
    let caller = state
        .auth
        .authenticate(parts, &body, SystemTime::now(), connection)?;
    facts.caller = Some(caller);
    let content_type_ok = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|v| {
            v.eq_ignore_ascii_case(CONTENT_TYPE) || v.eq_ignore_ascii_case("application/json")
        });
    let op = target
        .and_then(Operation::from_target)
        .filter(|_| content_type_ok)
        .ok_or(WireFailure::bare(ErrorCode::UnknownOperationException))?;
    facts.operation = Some(op);
    facts.note_request(op.name(), &body);
    if op.is_read_only() {
        let Some(caller) = facts.caller.as_ref() else {
            return Err(KmsError::Internal.into());
        };
        return Ok(dispatch(&state.service, caller, op, &body).await?);
    }
    // A state-changing operation: each of its writes is recorded in the trail (an
    // intent naming this request) before the store sees it; a write whose intent cannot
    // be recorded is refused (KMSInternalException) and changes nothing.
    let intents = Arc::new(crate::audit::RequestIntents::new(&state.audit, facts));
    let Some(caller) = facts.caller.as_ref() else {
        return Err(KmsError::Internal.into());
    };
    let work = dispatch(&state.service, caller, op, &body);
    Ok(trent_core::write_ahead::scope(intents, work).await?)
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

/// Runs one KMS operation: the dispatch is generated from the service model
/// (`trent_wire::match_operation!`, by `tools/gen_wire.py`). Each arm decodes the input,
/// checks its `GrantTokens` if the model gives the operation any (a token Trent did not
/// issue is `InvalidGrantTokenException`, before the operation runs; the operation hands
/// the tokens to the grant check through its `Access`), runs the key service's handler of
/// the same name and encodes the response.
async fn dispatch(
    service: &KeyService,
    caller: &Caller,
    op: Operation,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    use trent_wire::*;
    macro_rules! operation {
        // Custom key stores (AWS CloudHSM, external key stores) are not implemented:
        // answered before their input is read.
        (ConnectCustomKeyStore $($rest:tt)*) => { unsupported(op) };
        (CreateCustomKeyStore $($rest:tt)*) => { unsupported(op) };
        (DeleteCustomKeyStore $($rest:tt)*) => { unsupported(op) };
        (DescribeCustomKeyStores $($rest:tt)*) => { unsupported(op) };
        (DisconnectCustomKeyStore $($rest:tt)*) => { unsupported(op) };
        (UpdateCustomKeyStore $($rest:tt)*) => { unsupported(op) };
        ($op:ident, $request:ident, $response:ident, $handler:ident) => {{
            let request = <$request as Input>::from_json(body).map_err(KmsError::from)?;
            service.check_grant_tokens(request.grant_tokens()).await?;
            let response = service.$handler(caller, request).await?;
            crate::zeroizing::to_json(&response).map_err(|e| {
                tracing::error!(error = %e, "encoding a response");
                KmsError::Internal
            })
        }};
    }
    match_operation!(op, operation)
}
/// An operation of the model this server does not implement.
fn unsupported(op: Operation) -> Result<Vec<u8>, KmsError> {
    Err(KmsError::UnsupportedOperation {
        operation: op.name(),
    })
}

/// The one exit of every request: records its event, durably, then builds the response.
/// If the event cannot be recorded, the request fails with `KMSInternalException` and
/// nothing of its result leaves.
async fn finish(
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
        crate::audit::record(&state.audit, &facts, &outcome)
    };
    let unauthenticated_failure = facts.caller.is_none() && result.is_err();
    let recorded = state
        .audit
        .throttle
        .record(&record, unauthenticated_failure);
    let result = match recorded.await {
        Ok(()) => {
            // GetKeyLastUsage: a successful cryptographic use of each key the request
            // used, with this event (memory only; flushed in batches).
            if let (Ok(_), Some(op), Some(caller)) = (&result, facts.operation, &facts.caller) {
                for arn in caller.keys_used.arns() {
                    state.service.note_key_usage(
                        &arn,
                        op.name(),
                        Some(&record.event_id),
                        Some(&facts.request_id),
                    );
                }
            }
            result
        }
        Err(e) => {
            tracing::error!(request_id = %facts.request_id, error = %e, "audit event not recorded; failing the request");
            Err(KmsError::Internal.into())
        }
    };
    let (status, body, error) = match result {
        Ok(body) => (StatusCode::OK, body, None),
        Err(f) if facts.sts => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            let e = crate::sts::StsError {
                code: f.type_name,
                status: f.status,
                message: f.message.unwrap_or_default(),
            };
            (status, e.to_xml(&facts.request_id), Some(f.type_name))
        }
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut envelope = serde_json::Map::new();
            envelope.insert("__type".into(), f.type_name.into());
            if let Some(m) = &f.message {
                envelope.insert("message".into(), m.clone().into());
            }
            let body = serde_json::to_vec(&envelope).unwrap_or_default();
            (status, body, Some(f.type_name))
        }
    };
    let principal = facts.caller.as_ref();
    tracing::debug!(
        target: "trent::request",
        request_id = %facts.request_id,
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
        HeaderValue::from_static(if facts.sts {
            crate::sts::CONTENT_TYPE
        } else {
            CONTENT_TYPE
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&facts.request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}
