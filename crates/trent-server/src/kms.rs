//! The KMS protocol: JSON 1.1 over `POST /`, the operation named by `X-Amz-Target`
//! (`TrentService.<Operation>`), dispatched to the key service by the table generated from
//! the service model.

use std::sync::Arc;

use http::Method;
use trent_audit::Record;
use trent_core::{Caller, KeyService, KmsError};
use trent_wire::{ErrorCode, Operation};

use crate::audit::{Event, RequestFacts};
use crate::auth::Authenticator;
use crate::http::AppState;
use crate::stage::{Protocol, WireFailure};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// AWS KMS's JSON 1.1 protocol.
pub struct KmsJson;

impl Protocol for KmsJson {
    const NAME: &'static str = "kms";
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;
    type Prepared = ();

    fn authenticator<'a>(&self, state: &'a AppState) -> &'a Authenticator {
        &state.auth
    }

    fn prepare(
        &self,
        parts: &http::request::Parts,
        _body: &[u8],
        _facts: &mut RequestFacts,
    ) -> Result<(), WireFailure> {
        if parts.method != Method::POST || parts.uri.path() != "/" {
            return Err(WireFailure::bare(ErrorCode::UnknownOperationException));
        }
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
        let content_type_ok = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .is_some_and(|v| {
                v.eq_ignore_ascii_case(CONTENT_TYPE) || v.eq_ignore_ascii_case("application/json")
            });
        let op = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(Operation::from_target)
            .filter(|_| content_type_ok)
            .ok_or(WireFailure::bare(ErrorCode::UnknownOperationException))?;
        facts.operation = Some(op);
        facts.note_request(op.name(), body);
        // Low on disk: what would change state is refused before the disk is full; reads
        // (their events small) go on while events can be written.
        if !op.is_read_only() && state.disk.low() {
            return Err(crate::disk::refusal());
        }
        // The operation's own request-rate quota (the cryptographic ones count when their
        // key is known).
        let Some(caller) = facts.caller.as_ref() else {
            return Err(KmsError::Internal.into());
        };
        state.service.throttle_operation(caller, op.name())?;
        // DescribeKey reads, but may make the AWS managed key of a predefined alias (AWS
        // services make them so), as may any request a service makes on a principal's
        // behalf: they write through the write-ahead scope below.
        if op.is_read_only() && op != Operation::DescribeKey && caller.attributes.via.is_none() {
            let (result, used) =
                trent_core::keys_used::scope(Box::pin(trent_core::external_key_stores::scope(
                    xks_caller(caller, op, facts.request_id.clone()),
                    dispatch(&state.service, caller, op, body),
                )))
                .await;
            (facts.keys_used, facts.denial) = used.into_parts();
            return Ok(result?);
        }
        // A state-changing operation: each of its writes is recorded in the trail (an
        // intent naming this request) before the store sees it; a write whose intent
        // cannot be recorded is refused (KMSInternalException) and changes nothing.
        let intents = Arc::new(crate::audit::RequestIntents::new(
            &state.audit,
            facts,
            kms_event(facts),
        ));
        // Boxed: the dispatch future holds the largest operation's state, and each scope
        // around it would otherwise move (copy) all of it (measured: memmove doubled).
        let work = trent_core::keys_used::scope(Box::pin(trent_core::external_key_stores::scope(
            xks_caller(caller, op, facts.request_id.clone()),
            dispatch(&state.service, caller, op, body),
        )));
        let (result, used) = trent_core::write_ahead::scope(intents, work).await;
        (facts.keys_used, facts.denial) = used.into_parts();
        Ok(result?)
    }

    fn event(&self, facts: &RequestFacts) -> Event {
        kms_event(facts)
    }

    fn error_body(&self, failure: &WireFailure, _request_id: &str) -> Vec<u8> {
        failure.json_body()
    }

    /// GetKeyLastUsage: a successful cryptographic use of each key the request used, with
    /// this event (memory only; flushed in batches).
    fn recorded(&self, state: &AppState, facts: &RequestFacts, record: &Record, succeeded: bool) {
        if let (true, Some(op)) = (succeeded, facts.operation) {
            for arn in &facts.keys_used {
                crate::telemetry::key_requests().note(arn);
                state.service.note_key_usage(
                    arn,
                    op.name(),
                    Some(&record.event_id),
                    Some(&facts.request_id),
                );
            }
        }
    }
}

/// The event of a KMS request: its operation, or, when none is known (an unknown target,
/// or a request that failed before it was read), the name the request gave, as CloudTrail
/// records the eventName it was asked for.
pub fn kms_event(facts: &RequestFacts) -> Event {
    match facts.operation {
        Some(op) => Event {
            source: trent_audit::KMS_EVENT_SOURCE,
            name: op.name().to_owned(),
            read_only: op.is_read_only(),
        },
        None => Event {
            source: trent_audit::KMS_EVENT_SOURCE,
            name: facts
                .target_name
                .clone()
                .unwrap_or_else(|| "UnknownOperation".to_owned()),
            read_only: false,
        },
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

/// What the XKS proxies a request reaches are told of it (its `requestMetadata`).
fn xks_caller(
    caller: &trent_core::Caller,
    op: Operation,
    request_id: String,
) -> trent_core::external_key_stores::XksCaller {
    trent_core::external_key_stores::XksCaller {
        principal_arn: caller.principal.arn.clone(),
        operation: op.name(),
        request_id,
    }
}
