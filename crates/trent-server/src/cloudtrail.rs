//! CloudTrail's `LookupEvents` on Trent's endpoint (JSON 1.1, target
//! `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`), so that
//! `aws cloudtrail lookup-events --endpoint-url ...` reads the trail.
//! <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>

use base64::Engine;
use serde_json::{json, Map, Value};
use trent_audit::lookup::{lookup, AttributeKey, Query};
use trent_audit::{EventKey, Record};
use trent_core::Caller;

use crate::audit::{Event, RequestFacts, Trail};
use crate::auth::Authenticator;
use crate::http::AppState;
use crate::stage::{Protocol, WireFailure};

pub const TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
/// The IAM action of LookupEvents.
const ACTION: &str = "cloudtrail:LookupEvents";
/// The SigV4 signing name of CloudTrail.
pub const SIGNING_NAME: &str = "cloudtrail";
const DEFAULT_MAX_RESULTS: usize = 50;
const MAX_ATTRIBUTE_VALUE: usize = 2000;

/// CloudTrail's JSON 1.1 protocol (LookupEvents only), SigV4 with its own signing name.
pub struct CloudTrailJson;

impl Protocol for CloudTrailJson {
    const NAME: &'static str = "cloudtrail";
    const CONTENT_TYPE: &'static str = crate::kms::CONTENT_TYPE;
    type Prepared = ();

    fn authenticator<'a>(&self, state: &'a AppState) -> &'a Authenticator {
        &state.cloudtrail_auth
    }

    /// The router sends only `POST /` with the LookupEvents target here.
    fn prepare(
        &self,
        _parts: &http::request::Parts,
        _body: &[u8],
        _facts: &mut RequestFacts,
    ) -> Result<(), WireFailure> {
        Ok(())
    }

    async fn handle(
        &self,
        state: &AppState,
        _parts: &http::request::Parts,
        body: &[u8],
        (): (),
        facts: &mut RequestFacts,
    ) -> Result<Vec<u8>, WireFailure> {
        let Some(caller) = facts.caller.as_ref() else {
            return Err(trent_core::KmsError::Internal.into());
        };
        let mut parameters = None;
        let result = lookup_events(&state.audit, caller, body, &mut parameters).await;
        facts.request_parameters = parameters;
        Ok(result?)
    }

    fn event(&self, _facts: &RequestFacts) -> Event {
        Event {
            source: trent_audit::CLOUDTRAIL_EVENT_SOURCE,
            name: "LookupEvents".to_owned(),
            read_only: true,
        }
    }

    fn error_body(&self, failure: &WireFailure, _request_id: &str) -> Vec<u8> {
        failure.json_body()
    }
}

impl From<CloudTrailError> for WireFailure {
    fn from(e: CloudTrailError) -> Self {
        WireFailure {
            type_name: e.type_name,
            status: e.status,
            message: Some(e.message),
        }
    }
}

/// A CloudTrail error: `__type`, message (every one is a client error, 400, except the
/// internal one).
#[derive(Debug)]
pub struct CloudTrailError {
    pub type_name: &'static str,
    pub status: u16,
    pub message: String,
}

fn invalid(type_name: &'static str, message: impl Into<String>) -> CloudTrailError {
    CloudTrailError {
        type_name,
        status: 400,
        message: message.into(),
    }
}

/// Whether the caller may call LookupEvents at all: its identity policies must allow
/// `cloudtrail:LookupEvents` (resource `*`), as IAM decides; an account root may, and so
/// may the bootstrap administrator (AdministratorAccess).
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/security_iam_id-based-policy-examples.html>
pub fn authorize(caller: &Caller) -> Result<(), CloudTrailError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    // A caller the policies cannot represent is denied, never taken for its account root.
    let Some(ctx) = caller.request_context(ACTION, "*", now) else {
        return Err(invalid(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {ACTION}",
                caller.principal.arn
            ),
        ));
    };
    let Err(why) = crate::sts::identity_allows(caller, &ctx, ACTION, caller.account_id()) else {
        return Ok(());
    };
    // CloudTrail's wording for an action on no resource: no "on resource: ..." part.
    Err(invalid(
        "AccessDeniedException",
        format!(
            "User: {} is not authorized to perform: {ACTION} {why}",
            caller.principal.arn
        ),
    ))
}

/// Which events a caller allowed to call LookupEvents reads: those of its own account,
/// those its account received (`recipientAccountId`) and those on its account's keys (AWS
/// delivers a cross-account use to both accounts' trails).
pub fn may_read(caller: &Caller, record: &Record) -> bool {
    let account = caller.account_id();
    record.recipient_account_id == *account
        || record.resources.iter().any(|r| r.account_id == *account)
}

/// The parsed request, and its loggable parameters.
struct Request {
    query: Query,
    max_results: usize,
    from: Option<EventKey>,
    insight: bool,
    parameters: Value,
}

fn parse(body: &[u8]) -> Result<Request, CloudTrailError> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| {
            invalid(
                "SerializationException",
                "Start of structure or map found where not expected.",
            )
        })?
    };
    let Value::Object(body) = body else {
        return Err(invalid(
            "SerializationException",
            "Start of structure or map found where not expected.",
        ));
    };
    let mut parameters = Map::new();
    let mut query = Query::default();
    match body.get("LookupAttributes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(attrs)) => {
            if attrs.len() > 1 {
                return Err(invalid(
                    "InvalidLookupAttributesException",
                    "You can only specify one lookup attribute.",
                ));
            }
            if let Some(a) = attrs.first() {
                let key_text = a["AttributeKey"].as_str().unwrap_or("");
                let key = AttributeKey::parse(key_text).ok_or_else(|| {
                    invalid(
                        "InvalidLookupAttributesException",
                        format!("Invalid attribute key: {key_text}. Valid attribute keys are EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId."),
                    )
                })?;
                let value = a["AttributeValue"].as_str().unwrap_or("");
                if value.is_empty() || value.chars().count() > MAX_ATTRIBUTE_VALUE {
                    return Err(invalid(
                        "InvalidLookupAttributesException",
                        format!("The attribute value must be 1 to {MAX_ATTRIBUTE_VALUE} characters long."),
                    ));
                }
                parameters.insert(
                    "lookupAttributes".into(),
                    json!([{ "attributeKey": key_text, "attributeValue": value }]),
                );
                query.attribute = Some((key, value.to_owned()));
            }
        }
        Some(_) => {
            return Err(invalid(
                "SerializationException",
                "Expected list for LookupAttributes.",
            ))
        }
    }
    let time = |name: &str| -> Result<Option<i64>, CloudTrailError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(|f| Some(f.floor() as i64))
                .ok_or_else(|| {
                    invalid(
                        "SerializationException",
                        format!("Invalid timestamp for {name}."),
                    )
                }),
            Some(_) => Err(invalid(
                "SerializationException",
                format!("Invalid timestamp for {name}."),
            )),
        }
    };
    query.start = time("StartTime")?;
    query.end = time("EndTime")?;
    if let (Some(s), Some(e)) = (query.start, query.end) {
        if s > e {
            return Err(invalid(
                "InvalidTimeRangeException",
                "Start time must be before end time.",
            ));
        }
    }
    for (name, v) in [("startTime", query.start), ("endTime", query.end)] {
        if let Some(t) = v {
            parameters.insert(
                name.into(),
                Value::String(trent_audit::event_time(t * 1000)),
            );
        }
    }
    let max_results = match body.get("MaxResults") {
        None | Some(Value::Null) => DEFAULT_MAX_RESULTS,
        Some(v) => {
            let n = v.as_i64().ok_or_else(|| {
                invalid("SerializationException", "Invalid value for MaxResults.")
            })?;
            if !(1..=50).contains(&n) {
                return Err(invalid(
                    "InvalidMaxResultsException",
                    "MaxResults must be between 1 and 50.",
                ));
            }
            parameters.insert("maxResults".into(), json!(n));
            usize::try_from(n).unwrap_or(DEFAULT_MAX_RESULTS)
        }
    };
    let insight = match body.get("EventCategory") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "insight" => {
            parameters.insert("eventCategory".into(), json!("insight"));
            true
        }
        Some(_) => {
            return Err(invalid(
                "ValidationException",
                "1 validation error detected: Value at 'eventCategory' failed to satisfy constraint: Member must satisfy enum value set: [insight]",
            ))
        }
    };
    let from = match body.get("NextToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(
            decode_token(t, &query)
                .ok_or_else(|| invalid("InvalidNextTokenException", "Invalid NextToken."))?,
        ),
        Some(_) => return Err(invalid("InvalidNextTokenException", "Invalid NextToken.")),
    };
    Ok(Request {
        query,
        max_results,
        from,
        insight,
        parameters: Value::Object(parameters),
    })
}

/// A token names where the next page starts and the query it belongs to: CloudTrail
/// refuses a token with other parameters.
fn fingerprint(q: &Query) -> String {
    let attr = q
        .attribute
        .as_ref()
        .map(|(k, v)| format!("{k:?}={v}"))
        .unwrap_or_default();
    let text = format!("{attr}\n{:?}\n{:?}", q.start, q.end);
    hex::encode(&trent_audit::sha256(text.as_bytes())[..8])
}

/// `v2:TIME:CHAIN:SEQ:FINGERPRINT`: the first event of the next page (chain ids have no
/// `:`), across every node's chain.
fn encode_token(from: &EventKey, q: &Query) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!(
        "v2:{}:{}:{}:{}",
        from.time,
        from.chain,
        from.seq,
        fingerprint(q)
    ))
}

fn decode_token(token: &str, q: &Query) -> Option<EventKey> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    let (Some("v2"), Some(time), Some(chain), Some(seq), Some(fp), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (fp == fingerprint(q)).then_some(())?;
    let valid_chain = (1..=64).contains(&chain.len())
        && chain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid_chain.then_some(())?;
    Some(EventKey {
        time: time.parse().ok()?,
        chain: chain.to_owned(),
        seq: seq.parse().ok()?,
    })
}

/// Answers LookupEvents; `parameters` receives what the event of this call records.
pub async fn lookup_events(
    trail: &Trail,
    caller: &Caller,
    body: &[u8],
    parameters: &mut Option<Value>,
) -> Result<Vec<u8>, CloudTrailError> {
    let request = parse(body)?;
    *parameters =
        Some(request.parameters.clone()).filter(|p| p.as_object().is_some_and(|m| !m.is_empty()));
    authorize(caller)?;
    let internal = || CloudTrailError {
        type_name: "InternalFailure",
        status: 500,
        message: "An internal error occurred.".into(),
    };
    let (events, next) = if request.insight {
        (Vec::new(), None)
    } else {
        lookup(
            trail.store.as_ref(),
            &request.query,
            |r| may_read(caller, r),
            request.max_results,
            request.from,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the audit log");
            internal()
        })?
    };
    let mut out = Map::new();
    out.insert(
        "Events".into(),
        serde_json::to_value(events).map_err(|_| internal())?,
    );
    if let Some(next) = next {
        out.insert(
            "NextToken".into(),
            Value::String(encode_token(&next, &request.query)),
        );
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|_| internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_are_cloudtrails() {
        let code = |b: &str| parse(b.as_bytes()).err().map(|e| e.type_name);
        assert_eq!(
            code(r#"{"MaxResults": 0}"#),
            Some("InvalidMaxResultsException")
        );
        assert_eq!(
            code(r#"{"MaxResults": 51}"#),
            Some("InvalidMaxResultsException")
        );
        assert_eq!(code(r#"{"MaxResults": 50}"#), None);
        assert_eq!(
            code(r#"{"StartTime": 10, "EndTime": 5}"#),
            Some("InvalidTimeRangeException")
        );
        assert_eq!(
            code(
                r#"{"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a"}, {"AttributeKey": "EventName", "AttributeValue": "b"}]}"#
            ),
            Some("InvalidLookupAttributesException")
        );
        assert_eq!(
            code(r#"{"LookupAttributes": [{"AttributeKey": "Nope", "AttributeValue": "a"}]}"#),
            Some("InvalidLookupAttributesException")
        );
        assert_eq!(
            code(r#"{"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": ""}]}"#),
            Some("InvalidLookupAttributesException")
        );
        assert_eq!(
            code(r#"{"NextToken": "garbage"}"#),
            Some("InvalidNextTokenException")
        );
        assert_eq!(code("not json"), Some("SerializationException"));
    }

    #[test]
    fn tokens_belong_to_their_query() {
        let q = parse(br#"{"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}]}"#)
            .unwrap()
            .query;
        let key = EventKey {
            time: 1_700_000_000,
            chain: "node-1".into(),
            seq: 42,
        };
        let token = encode_token(&key, &q);
        assert_eq!(decode_token(&token, &q), Some(key));
        let other = parse(br#"{"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}]}"#)
            .unwrap()
            .query;
        assert_eq!(decode_token(&token, &other), None);
    }
}
