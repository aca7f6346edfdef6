//! AWS STS on Trent's endpoint, in STS's own protocol (the AWS Query protocol: a form-encoded
//! `POST /` with `Action=...&Version=2011-06-15`, SigV4 with the signing name `sts`, XML
//! answers): `GetCallerIdentity` and `AssumeRole`, so that `aws sts get-caller-identity`
//! and the SDKs' assume-role credential providers work against Trent.
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>
//!
//! Session credentials are stateless: the session token is the session's claims (its
//! temporary access key id and secret, the role, the session name and tags, issue and
//! expiry times) sealed under the root key, so that every node of a cluster accepts the
//! tokens any node issued. The secret never leaves in anything but the AssumeRole answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trent_core::{Caller, Principal, PrincipalKind};
use trent_crypto::RootKeyProvider;
use trent_policy::arn::is_name_char;
use trent_policy::{Policy, PolicyKind, PolicySet, RequestContext};
use trent_sigv4::SecretKey;
use trent_wire::AccountId;
use zeroize::Zeroize;

use crate::audit::{Event, RequestFacts, STS_EVENT_SOURCE};
use crate::auth::{AuthError, Authenticator};
use crate::http::AppState;
use crate::identities::{is_tag_char, Directory};
use crate::stage::{Protocol, WireFailure};

/// The SigV4 signing name of STS.
pub const SIGNING_NAME: &str = "sts";
pub const VERSION: &str = "2011-06-15";
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const CONTENT_TYPE: &str = "text/xml";
const TOKEN_AAD: &[u8] = b"trent:sts-session-token:v1";
const DEFAULT_DURATION_SECONDS: i64 = 3600;
const MIN_DURATION_SECONDS: i64 = 900;
const MAX_DURATION_SECONDS: i64 = 43_200;
/// Role chaining (a role session assuming a role) is limited to one hour.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining>
const CHAINED_MAX_SECONDS: i64 = 3600;
const MAX_SESSION_TAGS: usize = 50;
/// The packed-size budget of session tags (AWS reports their use as PackedPolicySize).
const PACKED_BUDGET: usize = 2048;

/// What a session token carries.
pub struct SessionClaims {
    /// `ASIA...`
    pub access_key_id: String,
    pub secret: Arc<SecretKey>,
    pub account_id: AccountId,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`
    pub role_arn: String,
    /// The role's unique id (`AROA...`) when the session was made: a role removed and
    /// created again under the same ARN is another principal (another id), whose
    /// permissions this session must not get.
    pub role_id: String,
    pub session_name: String,
    pub tags: BTreeMap<String, String>,
    /// Keys of `tags` that pass on to sessions this session assumes (role chaining).
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// The session policy (AssumeRole's `Policy`) as given, and parsed: it narrows the
    /// session's permissions.
    pub policy_text: Option<String>,
    pub policy: Option<Arc<Policy>>,
    /// Unix milliseconds.
    pub issued_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionClaims")
            .field("access_key_id", &self.access_key_id)
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The sealed form (JSON, short names: tokens travel in every request's headers).
#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    k: String,
    s: String,
    a: String,
    r: String,
    /// The role id; absent in the tokens of before it was carried, whose role ids were
    /// always derived from the role ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ri: Option<String>,
    n: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    t: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tt: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    ia: i64,
    ex: i64,
}

impl SessionClaims {
    /// The session's principal: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub fn principal(&self) -> Principal {
        let partition = self.role_arn.split(':').nth(1).unwrap_or("aws");
        let role_name = self.role_arn.rsplit('/').next().unwrap_or_default();
        Principal {
            account_id: self.account_id.clone(),
            arn: format!(
                "arn:{partition}:sts::{}:assumed-role/{role_name}/{}",
                self.account_id, self.session_name
            ),
            kind: PrincipalKind::AssumedRole,
        }
    }

    pub fn is_expired(&self, now_millis: i64) -> bool {
        now_millis >= self.expires_at
    }

    /// The session token: the claims sealed under the root key, base64.
    pub fn seal(&self, root: &dyn RootKeyProvider) -> Result<String, trent_crypto::CryptoError> {
        let mut payload = Payload {
            v: 1,
            k: self.access_key_id.clone(),
            s: self.secret.expose().to_owned(),
            a: self.account_id.to_string(),
            r: self.role_arn.clone(),
            ri: Some(self.role_id.clone()),
            n: self.session_name.clone(),
            t: self.tags.clone(),
            tt: self.transitive_tag_keys.clone(),
            i: self.source_identity.clone(),
            p: self.policy_text.clone(),
            ia: self.issued_at,
            ex: self.expires_at,
        };
        let mut plain = serde_json::to_vec(&payload).unwrap_or_default();
        payload.s.zeroize();
        let sealed = root.seal(TOKEN_AAD, &plain);
        plain.zeroize();
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed?))
    }

    /// The claims of a token this deployment sealed; `None` for anything else (tampered,
    /// another root key, not a token).
    pub fn open(root: &dyn RootKeyProvider, token: &str) -> Option<SessionClaims> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        let plain = root.unseal(TOKEN_AAD, &sealed).ok()?;
        let mut p: Payload = serde_json::from_slice(plain.expose()).ok()?;
        if p.v != 1 {
            p.s.zeroize();
            return None;
        }
        // Checked when the session was made; a policy that no longer parses (a stricter
        // parser) makes the token unusable rather than the session unrestricted.
        let Ok(account_id) = AccountId::parse(std::mem::take(&mut p.a)) else {
            p.s.zeroize();
            return None;
        };
        let policy = match &p.p {
            None => None,
            Some(text) => match Policy::parse(text, PolicyKind::IdentityPolicy) {
                Ok(policy) => Some(Arc::new(policy)),
                Err(_) => {
                    p.s.zeroize();
                    return None;
                }
            },
        };
        Some(SessionClaims {
            secret: Arc::new(SecretKey::new(std::mem::take(&mut p.s))),
            access_key_id: p.k,
            account_id,
            role_id: p.ri.unwrap_or_else(|| trent_audit::unique_id("AROA", &p.r)),
            role_arn: p.r,
            session_name: p.n,
            tags: p.t,
            transitive_tag_keys: p.tt,
            source_identity: p.i,
            policy_text: p.p,
            policy,
            issued_at: p.ia,
            expires_at: p.ex,
        })
    }
}

/// An STS error: `ErrorResponse/Error/{Type,Code,Message}`.
#[derive(Debug)]
pub struct StsError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl StsError {
    fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        StsError {
            code,
            status,
            message: message.into(),
        }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", 403, message)
    }

    /// The error of a request that did not authenticate, as STS answers it.
    pub fn from_auth(e: &crate::auth::AuthError) -> Self {
        use trent_sigv4::SigV4Error as E;
        match e {
            crate::auth::AuthError::ExpiredToken => Self::new(
                "ExpiredToken",
                400,
                "The security token included in the request is expired",
            ),
            crate::auth::AuthError::SigV4(e) => match e {
                E::MissingAuthenticationToken => Self::new(
                    "MissingAuthenticationToken",
                    403,
                    "Request is missing Authentication Token",
                ),
                E::UnrecognizedClient => Self::new("InvalidClientTokenId", 403, e.message()),
                E::MalformedParameter { .. }
                | E::MissingParameters { .. }
                | E::InvalidDate { .. }
                | E::UnsupportedAlgorithm { .. }
                | E::MalformedCredential { .. } => {
                    Self::new("IncompleteSignature", 400, e.message())
                }
                _ => Self::new("SignatureDoesNotMatch", 403, e.message()),
            },
            crate::auth::AuthError::NotAService { .. } => Self::access_denied(e.message()),
            crate::auth::AuthError::BadForward(_) => {
                Self::new("IncompleteSignature", 400, e.message())
            }
            crate::auth::AuthError::Forwarded(inner) => Self {
                message: e.message(),
                ..Self::from_auth(inner)
            },
        }
    }

    /// `Sender` for client errors, `Receiver` for the service's own.
    fn kind(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    pub fn to_xml(&self, request_id: &str) -> Vec<u8> {
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            self.kind(),
            self.code,
            xml_escape(&self.message),
            xml_escape(request_id)
        )
        .into_bytes()
    }
}

fn internal() -> StsError {
    StsError::new(
        "InternalFailure",
        500,
        "The request processing has failed because of an unknown error, exception or failure.",
    )
}

/// Escapes text for XML content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a request is meant for STS: a form-encoded body (the Query protocol) and no
/// `X-Amz-Target` (JSON protocols).
pub fn is_sts_request(headers: &http::HeaderMap) -> bool {
    !headers.contains_key("x-amz-target")
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .is_some_and(|v| v.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// The form's parameters (`+` is a space, `%XX` a byte); later duplicates win.
pub fn parse_form(body: &[u8]) -> Result<BTreeMap<String, String>, StsError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| StsError::new("MalformedInput", 400, "The request body is not UTF-8."))?;
    let decode = |s: &str| -> Result<String, StsError> {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| StsError::new("MalformedInput", 400, "The request body is not UTF-8."))
    };
    let mut out = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode(k)?, decode(v)?);
    }
    Ok(out)
}

/// The STS action a request names, checked before authentication as STS does.
pub fn action(params: &BTreeMap<String, String>) -> Result<&'static str, StsError> {
    let action = params.get("Action").map(String::as_str).unwrap_or("");
    let version = params.get("Version").map(String::as_str);
    let known = match action {
        "GetCallerIdentity" => "GetCallerIdentity",
        "AssumeRole" => "AssumeRole",
        _ => "",
    };
    if known.is_empty() || version != Some(VERSION) {
        return Err(StsError::new(
            "InvalidAction",
            400,
            format!(
                "Could not find operation {action} for version {}",
                version.unwrap_or("NO_VERSION_SPECIFIED")
            ),
        ));
    }
    Ok(known)
}

/// STS's protocol: the AWS Query protocol, answered in XML.
pub struct StsQuery;

impl Protocol for StsQuery {
    const NAME: &'static str = "sts";
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;
    /// The form's parameters and the action they name.
    type Prepared = (BTreeMap<String, String>, &'static str);

    fn authenticator<'a>(&self, state: &'a AppState) -> &'a Authenticator {
        &state.sts_auth
    }

    /// The action is checked before authentication, as STS does.
    fn prepare(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        facts: &mut RequestFacts,
    ) -> Result<Self::Prepared, WireFailure> {
        if parts.method != http::Method::POST || parts.uri.path() != "/" {
            return Err(WireFailure::bare(
                trent_wire::ErrorCode::UnknownOperationException,
            ));
        }
        let params = parse_form(body)?;
        let action = action(&params)?;
        facts.sts_action = Some(action);
        Ok((params, action))
    }

    fn auth_failure(&self, e: AuthError) -> WireFailure {
        StsError::from_auth(&e).into()
    }

    async fn handle(
        &self,
        state: &AppState,
        parts: &http::request::Parts,
        _body: &[u8],
        (params, action): Self::Prepared,
        facts: &mut RequestFacts,
    ) -> Result<Vec<u8>, WireFailure> {
        let Some(caller) = facts.caller.as_ref() else {
            return Err(internal().into());
        };
        let directory = state.directory.read().clone();
        let token = parts
            .headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        let mut audit = StsAudit::default();
        let cx = StsContext {
            directory: &directory,
            sessions: &state.sessions,
            session_token: token,
            request_id: &facts.request_id,
        };
        let result = handle(action, &params, caller, &cx, &mut audit);
        facts.request_parameters = audit.request_parameters;
        facts.response_elements = audit.response_elements;
        Ok(result?)
    }

    fn event(&self, facts: &RequestFacts) -> Event {
        Event {
            source: STS_EVENT_SOURCE,
            name: facts.sts_action.unwrap_or("UnknownOperation").to_owned(),
            read_only: facts.sts_action == Some("GetCallerIdentity"),
        }
    }

    fn error_body(&self, failure: &WireFailure, request_id: &str) -> Vec<u8> {
        StsError {
            code: failure.type_name,
            status: failure.status,
            message: failure.message.clone().unwrap_or_default(),
        }
        .to_xml(request_id)
    }
}

impl From<StsError> for WireFailure {
    fn from(e: StsError) -> Self {
        WireFailure {
            type_name: e.code,
            status: e.status,
            message: Some(e.message),
        }
    }
}

/// What one STS request records in the audit trail.
#[derive(Debug, Default)]
pub struct StsAudit {
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
}

/// What an STS request is answered with besides its parameters and caller.
pub struct StsContext<'a> {
    pub directory: &'a Directory,
    pub sessions: &'a crate::auth::Sessions,
    /// The caller's own session token, if it is a role session (for role chaining).
    pub session_token: Option<&'a str>,
    pub request_id: &'a str,
}

/// Answers an authenticated STS request.
pub fn handle(
    action: &str,
    params: &BTreeMap<String, String>,
    caller: &Caller,
    cx: &StsContext<'_>,
    audit: &mut StsAudit,
) -> Result<Vec<u8>, StsError> {
    match action {
        "GetCallerIdentity" => get_caller_identity(caller, cx.request_id),
        "AssumeRole" => assume_role(params, caller, cx, audit),
        _ => Err(internal()),
    }
}

/// <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>
/// (no permission is needed: even an explicit deny does not stop it). `UserId` is the
/// caller's unique id, the `aws:userid` its requests are authorized with.
fn get_caller_identity(caller: &Caller, request_id: &str) -> Result<Vec<u8>, StsError> {
    // Every caller authentication produces has one; an internal error if not.
    let user_id = caller.unique_id().ok_or_else(internal)?;
    Ok(format!(
        "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml_escape(&caller.principal.arn),
        xml_escape(&user_id),
        xml_escape(caller.account_id()),
        xml_escape(request_id)
    )
    .into_bytes())
}

/// `1 validation error detected: ...` / `N validation errors detected: a; b`
fn validation_errors(errors: Vec<String>) -> Result<(), StsError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(StsError::validation(format!(
            "1 validation error detected: {}",
            errors[0]
        ))),
        n => Err(StsError::validation(format!(
            "{n} validation errors detected: {}",
            errors.join("; ")
        ))),
    }
}

/// A member's pattern: its text (for the message) and its character class.
type Pattern<'a> = Option<(&'a str, fn(char) -> bool)>;

/// Checks a string member against its length range and `[chars]*` pattern.
fn check_string(
    errors: &mut Vec<String>,
    member: &str,
    value: &str,
    min: usize,
    max: usize,
    pattern: Pattern<'_>,
) {
    let len = value.chars().count();
    if len < min {
        errors.push(format!(
            "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        ));
    } else if len > max {
        errors.push(format!(
            "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        ));
    }
    if let Some((text, ok)) = pattern {
        if !value.chars().all(ok) {
            errors.push(format!(
                "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {text}"
            ));
        }
    }
}

fn is_external_id_char(c: char) -> bool {
    is_name_char(c) || c == ':' || c == '/'
}

/// `Tags.member.N.Key` / `.Value`, and `TransitiveTagKeys.member.N`, in N order.
fn list_members<'a>(
    params: &'a BTreeMap<String, String>,
    prefix: &str,
    suffix: &str,
) -> Vec<(u32, &'a str)> {
    let mut out: Vec<(u32, &str)> = params
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix(prefix)?.strip_suffix(suffix)?;
            Some((n.parse().ok()?, v.as_str()))
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    out
}

/// <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>
fn assume_role(
    params: &BTreeMap<String, String>,
    caller: &Caller,
    cx: &StsContext<'_>,
    audit: &mut StsAudit,
) -> Result<Vec<u8>, StsError> {
    let (directory, sessions, session_token, request_id) =
        (cx.directory, cx.sessions, cx.session_token, cx.request_id);
    let get = |k: &str| params.get(k).map(String::as_str);
    let mut errors = Vec::new();
    let role_arn = get("RoleArn");
    let session_name = get("RoleSessionName");
    match role_arn {
        None => errors.push(
            "Value null at 'roleArn' failed to satisfy constraint: Member must not be null".into(),
        ),
        Some(a) => check_string(&mut errors, "roleArn", a, 20, 2048, None),
    }
    match session_name {
        None => errors.push(
            "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"
                .into(),
        ),
        Some(n) => check_string(
            &mut errors,
            "roleSessionName",
            n,
            2,
            64,
            Some((r"[\w+=,.@-]*", is_name_char)),
        ),
    }
    let duration = match get("DurationSeconds") {
        None => None,
        Some(d) => match d.parse::<i64>() {
            Ok(n) if n < MIN_DURATION_SECONDS => {
                errors.push(format!("Value '{n}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION_SECONDS}"));
                None
            }
            Ok(n) if n > MAX_DURATION_SECONDS => {
                errors.push(format!("Value '{n}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION_SECONDS}"));
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                return Err(StsError::validation(format!(
                    "Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
                )))
            }
        },
    };
    let external_id = get("ExternalId");
    if let Some(e) = external_id {
        check_string(
            &mut errors,
            "externalId",
            e,
            2,
            1224,
            Some((r"[\w+=,.@:\/-]*", is_external_id_char)),
        );
    }
    // sessionPolicyDocumentType: 1 to 2048 characters.
    let policy_text = get("Policy");
    if let Some(p) = policy_text {
        check_string(&mut errors, "policy", p, 1, 2048, None);
    }
    let source_identity = get("SourceIdentity");
    if let Some(s) = source_identity {
        check_string(
            &mut errors,
            "sourceIdentity",
            s,
            2,
            64,
            Some((r"[\w+=,.@-]*", is_name_char)),
        );
    }
    let keys = list_members(params, "Tags.member.", ".Key");
    let values = list_members(params, "Tags.member.", ".Value");
    let mut tags: Vec<(String, String)> = Vec::new();
    for (n, k) in &keys {
        let v = values
            .iter()
            .find(|(m, _)| m == n)
            .map(|(_, v)| *v)
            .unwrap_or("");
        check_string(
            &mut errors,
            &format!("tags.{n}.member.key"),
            k,
            1,
            128,
            Some((r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", is_tag_char)),
        );
        check_string(
            &mut errors,
            &format!("tags.{n}.member.value"),
            v,
            0,
            256,
            Some((r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", is_tag_char)),
        );
        tags.push(((*k).to_owned(), v.to_owned()));
    }
    if tags.len() > MAX_SESSION_TAGS {
        errors.push(format!(
            "Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_SESSION_TAGS}"
        ));
    }
    let transitive: Vec<String> = list_members(params, "TransitiveTagKeys.member.", "")
        .into_iter()
        .map(|(_, k)| k.to_owned())
        .collect();
    validation_errors(errors)?;
    let (Some(role_arn), Some(session_name)) = (role_arn, session_name) else {
        return Err(internal());
    };

    // Managed session policies name IAM managed policies, which Trent does not have;
    // ignoring them would hand out more than asked for.
    if params.keys().any(|k| k.starts_with("PolicyArns.")) {
        return Err(StsError::new(
            "InvalidParameterValue",
            400,
            "Trent does not support managed session policies (the PolicyArns parameter of AssumeRole); pass the policy inline as Policy.",
        ));
    }
    // An inline session policy narrows the session: its permissions are the role's and
    // the session policy's intersection (trent_policy::limit_by_session_policy).
    let session_policy = match policy_text {
        None => None,
        Some(text) => Some(Arc::new(
            Policy::parse(text, PolicyKind::IdentityPolicy)
                .map_err(|e| StsError::new("MalformedPolicyDocument", 400, e.to_string()))?,
        )),
    };

    let mut lower = std::collections::BTreeSet::new();
    for (k, _) in &tags {
        if !lower.insert(k.to_lowercase()) {
            return Err(StsError::new(
                "InvalidParameterValue",
                400,
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    for k in &transitive {
        if !tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
            return Err(StsError::new(
                "InvalidParameterValue",
                400,
                format!(
                    "The specified transitive tag key must be included in the requested tags: {k}"
                ),
            ));
        }
    }

    let mut request_parameters = serde_json::Map::new();
    request_parameters.insert("roleArn".into(), json!(role_arn));
    request_parameters.insert("roleSessionName".into(), json!(session_name));
    if let Some(d) = duration {
        request_parameters.insert("durationSeconds".into(), json!(d));
    }
    if let Some(e) = external_id {
        request_parameters.insert("externalId".into(), json!(e));
    }
    if let Some(s) = source_identity {
        request_parameters.insert("sourceIdentity".into(), json!(s));
    }
    if !tags.is_empty() {
        request_parameters.insert(
            "tags".into(),
            Value::Array(
                tags.iter()
                    .map(|(k, v)| json!({ "key": k, "value": v }))
                    .collect(),
            ),
        );
    }
    audit.request_parameters = Some(Value::Object(request_parameters));

    let denied = || {
        StsError::access_denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.principal.arn
        ))
    };
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use.html: "You cannot
    // use the root user credentials to assume a role."
    if caller.principal.kind == PrincipalKind::Root {
        return Err(StsError::access_denied(
            "Roles may not be assumed by root accounts.",
        ));
    }
    let chained = caller.principal.kind == PrincipalKind::AssumedRole;
    let role = directory.role(role_arn).ok_or_else(denied)?;
    let now = sessions.clock().now_millis();

    // The caller's transitive session tags pass on, and may not be overridden.
    let mut session_tags: BTreeMap<String, String> = BTreeMap::new();
    let mut transitive_keys = transitive.clone();
    if chained {
        if let Some(claims) = session_token.and_then(|t| sessions.open(t)) {
            for k in &claims.transitive_tag_keys {
                if let Some((tk, tv)) = claims.tags.iter().find(|(t, _)| t.eq_ignore_ascii_case(k))
                {
                    if tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(tk)) {
                        return Err(StsError::new(
                            "InvalidParameterValue",
                            400,
                            format!("One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session: {tk}"),
                        ));
                    }
                    session_tags.insert(tk.clone(), tv.clone());
                    if !transitive_keys.iter().any(|t| t.eq_ignore_ascii_case(tk)) {
                        transitive_keys.push(tk.clone());
                    }
                }
            }
        }
    }
    for (k, v) in &tags {
        session_tags.insert(k.clone(), v.clone());
    }

    // The trust policy (the role's resource-based policy) and, unless it names the
    // caller itself (same account), the caller's identity policies decide.
    // A caller the policies cannot represent is denied, never taken for its account root.
    let mut ctx = caller
        .request_context("sts:AssumeRole", &role.arn, now)
        .ok_or_else(denied)?;
    ctx.insert("sts:RoleSessionName", session_name);
    if let Some(e) = external_id {
        ctx.insert("sts:ExternalId", e);
    }
    if let Some(s) = source_identity {
        ctx.insert("sts:SourceIdentity", s);
    }
    if !tags.is_empty() {
        for (k, v) in &tags {
            ctx.insert(&format!("aws:RequestTag/{k}"), v.as_str());
        }
        ctx.insert_all("aws:TagKeys", tags.iter().map(|(k, _)| k.as_str()));
    }
    if !transitive.is_empty() {
        ctx.insert_all(
            "sts:TransitiveTagKeys",
            transitive.iter().map(String::as_str),
        );
    }
    let set = PolicySet {
        key_policy: Some(&role.trust_policy),
        key_account: &role.account_id,
        identity_policies: &caller.attributes.identity_policies,
        grant_allows: false,
    };
    let mut actions = vec!["sts:AssumeRole"];
    // Passing session tags needs sts:TagSession, a source identity sts:SetSourceIdentity.
    if !tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for a in actions {
        ctx.action = a.to_owned();
        if !caller.evaluate(&ctx, &set).is_allowed() {
            return Err(StsError::access_denied(format!(
                "User: {} is not authorized to perform: {a} on resource: {role_arn}",
                caller.principal.arn
            )));
        }
    }

    let max = if chained {
        CHAINED_MAX_SECONDS
    } else {
        i64::from(role.max_session_seconds)
    };
    let duration_seconds = duration.unwrap_or(DEFAULT_DURATION_SECONDS);
    if duration_seconds > max {
        return Err(StsError::validation(if chained {
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        } else {
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        }));
    }
    // A chained session inherits the source identity, which cannot be changed.
    let inherited_source = caller
        .attributes
        .session
        .as_ref()
        .and_then(|s| s.source_identity.clone());
    if let (Some(old), Some(new)) = (&inherited_source, source_identity) {
        if old != new {
            return Err(StsError::access_denied(
                "The source identity of the calling session cannot be changed.",
            ));
        }
    }
    let source_identity = source_identity.map(str::to_owned).or(inherited_source);

    let claims = SessionClaims {
        access_key_id: temporary_access_key_id().map_err(|_| internal())?,
        secret: Arc::new(temporary_secret().map_err(|_| internal())?),
        account_id: role.account_id.clone(),
        role_arn: role.arn.clone(),
        role_id: role.role_id.clone(),
        session_name: session_name.to_owned(),
        tags: session_tags,
        transitive_tag_keys: transitive_keys,
        source_identity,
        policy_text: policy_text.map(str::to_owned),
        policy: session_policy,
        issued_at: now,
        expires_at: now.saturating_add(duration_seconds.saturating_mul(1000)),
    };
    let token = claims.seal(sessions.root()).map_err(|e| {
        tracing::error!(error = %e, "sealing a session token");
        internal()
    })?;
    let principal = claims.principal();
    let assumed_role_id = format!("{}:{}", role.role_id, claims.session_name);
    let expiration = iso8601(claims.expires_at);
    audit.response_elements = Some(json!({
        "credentials": {
            "accessKeyId": claims.access_key_id,
            "expiration": expiration,
        },
        "assumedRoleUser": {
            "assumedRoleId": assumed_role_id,
            "arn": principal.arn,
        },
    }));

    let mut xml = String::with_capacity(2048 + token.len());
    let _ = write!(
        xml,
        "<AssumeRoleResponse xmlns=\"{XMLNS}\">\n  <AssumeRoleResult>\n"
    );
    if let Some(s) = &claims.source_identity {
        let _ = writeln!(
            xml,
            "    <SourceIdentity>{}</SourceIdentity>",
            xml_escape(s)
        );
    }
    let _ = write!(
        xml,
        "    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n",
        xml_escape(&principal.arn),
        xml_escape(&assumed_role_id),
        claims.access_key_id,
        xml_escape(claims.secret.expose()),
        xml_escape(&token),
        expiration
    );
    if !claims.tags.is_empty() {
        let packed: usize = claims.tags.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let _ = writeln!(
            xml,
            "    <PackedPolicySize>{}</PackedPolicySize>",
            (packed * 100).div_ceil(PACKED_BUDGET)
        );
    }
    let _ = write!(
        xml,
        "  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        xml_escape(request_id)
    );
    Ok(xml.into_bytes())
}

/// Whether `caller`'s identity policies allow `action` on resource `*` of `account` (`ctx`:
/// the caller's [`Caller::request_context`] for them), as IAM decides for an action on no
/// resource (LookupEvents, the test clock); if not, the reason part of AWS's AccessDenied
/// message ("with an explicit deny in ...", "because no ...").
pub fn identity_allows(
    caller: &Caller,
    ctx: &RequestContext,
    action: &str,
    account: &str,
) -> Result<(), String> {
    use trent_policy::{Decision, ImplicitDenyReason, PolicySource};
    let set = PolicySet {
        key_policy: None,
        key_account: account,
        identity_policies: &caller.attributes.identity_policies,
        grant_allows: false,
    };
    Err(match caller.evaluate(ctx, &set) {
        Decision::Allow(_) => return Ok(()),
        Decision::ExplicitDeny {
            source: PolicySource::SessionPolicy,
        } => "with an explicit deny in a session policy".to_owned(),
        Decision::ExplicitDeny { .. } => {
            "with an explicit deny in an identity-based policy".to_owned()
        }
        Decision::ImplicitDeny {
            reason: ImplicitDenyReason::NoSessionPolicyAllows,
        } => format!("because no session policy allows the {action} action"),
        Decision::ImplicitDeny { .. } => {
            format!("because no identity-based policy allows the {action} action")
        }
    })
}

/// `2019-11-09T13:34:41Z`
pub fn iso8601(unix_millis: i64) -> String {
    trent_audit::event_time(unix_millis)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `ASIA` + 16 characters of base32, as AWS's temporary access key ids look.
fn temporary_access_key_id() -> Result<String, trent_crypto::CryptoError> {
    let bytes = trent_crypto::random_array::<16>()?;
    let mut id = String::from("ASIA");
    id.extend(bytes.iter().map(|b| BASE32[usize::from(b % 32)] as char));
    Ok(id)
}

/// 40 characters of base64 (30 random bytes), as AWS's secret access keys look.
fn temporary_secret() -> Result<SecretKey, trent_crypto::CryptoError> {
    let bytes = trent_crypto::random_bytes(30)?;
    Ok(SecretKey::new(
        base64::engine::general_purpose::STANDARD.encode(bytes.expose()),
    ))
}
