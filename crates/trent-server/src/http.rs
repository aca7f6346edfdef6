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
use crate::auth::Authenticator;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

pub struct AppState {
    pub service: Arc<KeyService>,
    pub auth: Authenticator,
    /// SigV4 for the CloudTrail API (its own signing name).
    pub cloudtrail_auth: Authenticator,
    pub max_body_bytes: usize,
    pub audit: crate::audit::Trail,
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
    let source_ip = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let (parts, body) = request.into_parts();
    let mut facts = RequestFacts::from_parts(request_id, &parts, source_ip);
    let result = pipeline(&state, &parts, body, &mut facts).await;
    finish(&state, facts, result, started).await
}

async fn pipeline(
    state: &AppState,
    parts: &http::request::Parts,
    body: Body,
    facts: &mut RequestFacts,
) -> Result<Vec<u8>, WireFailure> {
    let body = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| {
            WireFailure::new(
                ErrorCode::RequestEntityTooLargeException,
                format!(
                    "Request body is larger than the limit of {} bytes",
                    state.max_body_bytes
                ),
            )
        })?;
    if parts.method != Method::POST || parts.uri.path() != "/" {
        return Err(WireFailure::bare(ErrorCode::UnknownOperationException));
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if target == Some(crate::cloudtrail::TARGET) {
        facts.cloudtrail = true;
        let caller = state
            .cloudtrail_auth
            .authenticate(parts, &body, SystemTime::now())
            .map_err(|e| WireFailure::new(auth_code(e.code()), e.message()))?;
        let caller = &*facts.caller.insert(caller);
        let mut parameters = None;
        let result =
            crate::cloudtrail::lookup_events(&state.audit, caller, &body, &mut parameters).await;
        facts.request_parameters = parameters;
        return Ok(result?);
    }
    let caller = state
        .auth
        .authenticate(parts, &body, SystemTime::now())
        .map_err(|e| WireFailure::new(auth_code(e.code()), e.message()))?;
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
    let Some(caller) = facts.caller.as_ref() else {
        return Err(KmsError::Internal.into());
    };
    Ok(dispatch(&state.service, caller, op, &body).await?)
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

macro_rules! call {
    ($service:expr, $caller:expr, $body:expr, $handler:ident, $request:ty) => {{
        let request = <$request as Input>::from_json($body).map_err(KmsError::from)?;
        let response = $service.$handler($caller, request).await?;
        serde_json::to_vec(&response).map_err(|e| {
            tracing::error!(error = %e, "encoding a response");
            KmsError::Internal
        })?
    }};
}

/// An operation that takes `GrantTokens`: its tokens are checked (a token Trent did not
/// issue is `InvalidGrantTokenException`) and honoured while it runs.
macro_rules! call_with_tokens {
    ($service:expr, $caller:expr, $body:expr, $handler:ident, $request:ty) => {{
        let request = <$request as Input>::from_json($body).map_err(KmsError::from)?;
        let tokens = request.grant_tokens.clone();
        let response = $service
            .with_grant_tokens(tokens, $service.$handler($caller, request))
            .await?;
        serde_json::to_vec(&response).map_err(|e| {
            tracing::error!(error = %e, "encoding a response");
            KmsError::Internal
        })?
    }};
}

// TEMPORARY (grants helper): also makes the request's encryption context visible to the
// temporary grant bridge (trent-core keys.rs) until the policy evaluator passes it itself.
macro_rules! call_with_tokens_and_context {
    ($service:expr, $caller:expr, $body:expr, $handler:ident, $request:ty) => {{
        let request = <$request as Input>::from_json($body).map_err(KmsError::from)?;
        let tokens = request.grant_tokens.clone();
        let context = request.encryption_context.clone();
        let response = $service
            .with_grant_tokens(
                tokens,
                $service.with_request_context(context, $service.$handler($caller, request)),
            )
            .await?;
        serde_json::to_vec(&response).map_err(|e| {
            tracing::error!(error = %e, "encoding a response");
            KmsError::Internal
        })?
    }};
}

async fn dispatch(
    service: &KeyService,
    caller: &Caller,
    op: Operation,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    use trent_wire::*;
    Ok(match op {
        Operation::CancelKeyDeletion => call!(
            service,
            caller,
            body,
            cancel_key_deletion,
            CancelKeyDeletionRequest
        ),
        Operation::CreateAlias => call!(service, caller, body, create_alias, CreateAliasRequest),
        Operation::CreateKey => call!(service, caller, body, create_key, CreateKeyRequest),
        Operation::Decrypt => {
            call_with_tokens_and_context!(service, caller, body, decrypt, DecryptRequest)
        }
        Operation::DeleteAlias => call!(service, caller, body, delete_alias, DeleteAliasRequest),
        Operation::DeriveSharedSecret => call_with_tokens!(
            service,
            caller,
            body,
            derive_shared_secret,
            DeriveSharedSecretRequest
        ),
        Operation::DescribeKey => {
            call_with_tokens!(service, caller, body, describe_key, DescribeKeyRequest)
        }
        Operation::DisableKey => call!(service, caller, body, disable_key, DisableKeyRequest),
        Operation::EnableKey => call!(service, caller, body, enable_key, EnableKeyRequest),
        Operation::Encrypt => {
            call_with_tokens_and_context!(service, caller, body, encrypt, EncryptRequest)
        }
        Operation::GenerateDataKey => call_with_tokens_and_context!(
            service,
            caller,
            body,
            generate_data_key,
            GenerateDataKeyRequest
        ),
        Operation::GenerateDataKeyPair => call_with_tokens_and_context!(
            service,
            caller,
            body,
            generate_data_key_pair,
            GenerateDataKeyPairRequest
        ),
        Operation::GenerateDataKeyPairWithoutPlaintext => call_with_tokens_and_context!(
            service,
            caller,
            body,
            generate_data_key_pair_without_plaintext,
            GenerateDataKeyPairWithoutPlaintextRequest
        ),
        Operation::GenerateMac => {
            call_with_tokens!(service, caller, body, generate_mac, GenerateMacRequest)
        }
        Operation::GenerateDataKeyWithoutPlaintext => call_with_tokens_and_context!(
            service,
            caller,
            body,
            generate_data_key_without_plaintext,
            GenerateDataKeyWithoutPlaintextRequest
        ),
        Operation::GenerateRandom => call!(
            service,
            caller,
            body,
            generate_random,
            GenerateRandomRequest
        ),
        Operation::GetPublicKey => {
            call_with_tokens!(service, caller, body, get_public_key, GetPublicKeyRequest)
        }
        Operation::ListAliases => call!(service, caller, body, list_aliases, ListAliasesRequest),
        Operation::ListKeys => call!(service, caller, body, list_keys, ListKeysRequest),
        Operation::ListResourceTags => call!(
            service,
            caller,
            body,
            list_resource_tags,
            ListResourceTagsRequest
        ),
        Operation::ReEncrypt => {
            call_with_tokens!(service, caller, body, re_encrypt, ReEncryptRequest)
        }
        Operation::ScheduleKeyDeletion => {
            call!(
                service,
                caller,
                body,
                schedule_key_deletion,
                ScheduleKeyDeletionRequest
            )
        }
        Operation::Sign => call_with_tokens!(service, caller, body, sign, SignRequest),
        Operation::TagResource => call!(service, caller, body, tag_resource, TagResourceRequest),
        Operation::UntagResource => {
            call!(service, caller, body, untag_resource, UntagResourceRequest)
        }
        Operation::UpdateAlias => call!(service, caller, body, update_alias, UpdateAliasRequest),
        Operation::UpdateKeyDescription => {
            call!(
                service,
                caller,
                body,
                update_key_description,
                UpdateKeyDescriptionRequest
            )
        }
        Operation::Verify => call_with_tokens!(service, caller, body, verify, VerifyRequest),
        Operation::VerifyMac => {
            call_with_tokens!(service, caller, body, verify_mac, VerifyMacRequest)
        }
        Operation::CreateGrant => {
            call_with_tokens!(service, caller, body, create_grant, CreateGrantRequest)
        }
        Operation::ListGrants => call!(service, caller, body, list_grants, ListGrantsRequest),
        Operation::ListRetirableGrants => call!(
            service,
            caller,
            body,
            list_retirable_grants,
            ListRetirableGrantsRequest
        ),
        Operation::RetireGrant => call!(service, caller, body, retire_grant, RetireGrantRequest),
        Operation::RevokeGrant => call!(service, caller, body, revoke_grant, RevokeGrantRequest),
        other => {
            return Err(KmsError::UnsupportedOperation {
                operation: other.name(),
            })
        }
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
    let result = match state.audit.log.record(&record).await {
        Ok(()) => result,
        Err(e) => {
            tracing::error!(request_id = %facts.request_id, error = %e, "audit event not recorded; failing the request");
            Err(KmsError::Internal.into())
        }
    };
    let (status, body, error) = match result {
        Ok(body) => (StatusCode::OK, body, None),
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
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&facts.request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}
