//! The CloudTrail record: one event, in the format AWS KMS writes to CloudTrail.
//!
//! Field names and shapes follow the CloudTrail record contents reference
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>)
//! and AWS KMS's example log entries
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/understanding-kms-entries.html>).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The record format version of the KMS examples of 2025 (`tlsDetails`, `eventCategory`).
pub const EVENT_VERSION: &str = "1.11";
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";
pub const CLOUDTRAIL_EVENT_SOURCE: &str = "cloudtrail.amazonaws.com";
/// Every KMS resource in a KMS record is typed as a key, aliases included (see the
/// CreateAlias example: the alias ARN has `"type": "AWS::KMS::Key"`).
pub const KMS_KEY_TYPE: &str = "AWS::KMS::Key";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub event_version: String,
    pub user_identity: UserIdentity,
    /// UTC, whole seconds, `Z` (`2025-05-20T20:46:16Z`).
    pub event_time: String,
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress", skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// `null` when the operation logs none (CloudTrail writes the key with `null`).
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    /// What a service event did (e.g. RotateKey's `rotationType` and key material ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_event_details: Option<Value>,
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    pub event_type: String,
    pub management_event: bool,
    pub recipient_account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_event_id: Option<String>,
    pub event_category: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<TlsDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `Root`, `IAMUser`, `AssumedRole`, `AWSService`, `XksProxyCredential` (a key store
    /// credential of the XKS proxy API), or `Unknown` (the request did not authenticate).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
    /// For service events: the service that acted (`kms.amazonaws.com`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    pub session_issuer: SessionIssuer,
    pub attributes: SessionAttributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type")]
    pub kind: String,
    pub principal_id: String,
    pub arn: String,
    pub account_id: String,
    pub user_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    pub mfa_authenticated: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ARN")]
    pub arn: String,
}

impl Resource {
    /// A KMS resource from its ARN (`arn:aws:kms:REGION:ACCOUNT:key/...` or `alias/...`);
    /// `None` if it is not a KMS ARN.
    pub fn kms(arn: &str) -> Option<Resource> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_), Some("kms"), Some(_), Some(account), Some(_)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        Some(Resource {
            account_id: account.to_owned(),
            kind: KMS_KEY_TYPE.to_owned(),
            arn: arn.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    pub tls_version: String,
    pub cipher_suite: String,
    pub client_provided_host_header: String,
}

/// The principal of an API call, as the audit trail needs it (the server maps its own
/// identity type onto this, so this crate does not depend on the key service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Root {
        account_id: String,
        access_key_id: String,
    },
    User {
        arn: String,
        account_id: String,
        access_key_id: String,
    },
    /// An IAM role used directly (no session).
    Role {
        arn: String,
        account_id: String,
        access_key_id: String,
    },
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`
    AssumedRole {
        arn: String,
        account_id: String,
        access_key_id: String,
        /// The role's ARN with its path (`None`: derived from the session ARN, pathless).
        role_arn: Option<String>,
        /// When the session was issued (CloudTrail's `eventTime` format).
        creation_date: Option<String>,
    },
    /// The request did not authenticate: whatever access key id it claimed, if any.
    Unauthenticated { access_key_id: Option<String> },
    /// A credential of a logical key store of the XKS proxy API (AWS KMS, or another
    /// Trent, using this one as its external key store proxy): not an IAM identity.
    XksProxyCredential {
        access_key_id: String,
        /// The key store's URI path prefix.
        uri_path_prefix: String,
    },
}

impl Actor {
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Actor::Root { account_id, .. }
            | Actor::User { account_id, .. }
            | Actor::Role { account_id, .. }
            | Actor::AssumedRole { account_id, .. } => Some(account_id),
            Actor::Unauthenticated { .. } | Actor::XksProxyCredential { .. } => None,
        }
    }

    /// CloudTrail's `userIdentity` for this principal.
    ///
    /// AWS's `principalId` is IAM's unique id (`AIDA...` for users, `AROA...:session` for
    /// assumed roles, the account id for root). Trent has no separate unique ids, so it
    /// derives a stable one of the same form from the principal's ARN.
    pub fn user_identity(&self) -> UserIdentity {
        match self {
            Actor::Root {
                account_id,
                access_key_id,
            } => UserIdentity {
                kind: Some("Root".into()),
                principal_id: Some(account_id.clone()),
                arn: Some(format!("arn:aws:iam::{account_id}:root")),
                account_id: Some(account_id.clone()),
                access_key_id: Some(access_key_id.clone()),
                ..UserIdentity::default()
            },
            Actor::User {
                arn,
                account_id,
                access_key_id,
            } => UserIdentity {
                kind: Some("IAMUser".into()),
                principal_id: Some(unique_id("AIDA", arn)),
                arn: Some(arn.clone()),
                account_id: Some(account_id.clone()),
                access_key_id: Some(access_key_id.clone()),
                user_name: Some(last_segment(arn).to_owned()),
                ..UserIdentity::default()
            },
            Actor::Role {
                arn,
                account_id,
                access_key_id,
            } => UserIdentity {
                kind: Some("AssumedRole".into()),
                principal_id: Some(unique_id("AROA", arn)),
                arn: Some(arn.clone()),
                account_id: Some(account_id.clone()),
                access_key_id: Some(access_key_id.clone()),
                ..UserIdentity::default()
            },
            Actor::AssumedRole {
                arn,
                account_id,
                access_key_id,
                role_arn,
                creation_date,
            } => {
                // assumed-role/ROLE/SESSION → the role arn:aws:iam::ACCOUNT:role/ROLE
                let resource = arn.split_once(":assumed-role/").map_or("", |(_, r)| r);
                let (role, session) = resource.rsplit_once('/').unwrap_or((resource, ""));
                let role_arn = role_arn
                    .clone()
                    .unwrap_or_else(|| format!("arn:aws:iam::{account_id}:role/{role}"));
                let role_id = unique_id("AROA", &role_arn);
                UserIdentity {
                    kind: Some("AssumedRole".into()),
                    principal_id: Some(format!("{role_id}:{session}")),
                    arn: Some(arn.clone()),
                    account_id: Some(account_id.clone()),
                    access_key_id: Some(access_key_id.clone()),
                    session_context: Some(SessionContext {
                        session_issuer: SessionIssuer {
                            kind: "Role".into(),
                            principal_id: role_id,
                            arn: role_arn,
                            account_id: account_id.clone(),
                            user_name: role.rsplit('/').next().unwrap_or(role).to_owned(),
                        },
                        attributes: SessionAttributes {
                            creation_date: creation_date.clone(),
                            mfa_authenticated: "false".into(),
                        },
                    }),
                    ..UserIdentity::default()
                }
            }
            Actor::Unauthenticated { access_key_id } => UserIdentity {
                kind: Some("Unknown".into()),
                access_key_id: access_key_id.clone(),
                ..UserIdentity::default()
            },
            Actor::XksProxyCredential {
                access_key_id,
                uri_path_prefix,
            } => UserIdentity {
                kind: Some("XksProxyCredential".into()),
                access_key_id: Some(access_key_id.clone()),
                // The key store, by its path ("/" for the empty prefix).
                user_name: Some(if uri_path_prefix.is_empty() {
                    "/".to_owned()
                } else {
                    uri_path_prefix.clone()
                }),
                ..UserIdentity::default()
            },
        }
    }
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `PREFIX` + 17 characters of base32 of SHA-256(arn): the form of IAM's unique ids.
pub fn unique_id(prefix: &str, arn: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, arn.as_bytes());
    let mut id = String::from(prefix);
    id.extend(
        digest
            .as_ref()
            .iter()
            .take(17)
            .map(|b| ALPHABET[usize::from(b % 32)] as char),
    );
    id
}

/// CloudTrail's `eventTime`: UTC, whole seconds, `Z`.
pub fn event_time(unix_millis: i64) -> String {
    let secs = unix_millis.div_euclid(1000);
    LAST_EVENT_TIME.with_borrow_mut(|(last, text)| {
        if *last != secs || text.is_empty() {
            // (A time `time` cannot format, beyond year 9999, is not kept: its text is
            // not its second.)
            let Some(formatted) = format_event_time(secs) else {
                return "1970-01-01T00:00:00Z".to_owned();
            };
            *text = formatted;
            *last = secs;
        }
        text.clone()
    })
}

thread_local! {
    /// The last `eventTime` this thread made, and its second: every event of a second
    /// has the same time, formatted once (and read back without parsing).
    static LAST_EVENT_TIME: std::cell::RefCell<(i64, String)> =
        const { std::cell::RefCell::new((0, String::new())) };
}

fn format_event_time(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
}

/// Parses an `eventTime` back to unix seconds.
pub fn parse_event_time(text: &str) -> Option<i64> {
    // Almost always the time this thread just made (a request's record is made and
    // handed to the writer on one worker).
    let known = LAST_EVENT_TIME
        .with_borrow(|(secs, last)| (!last.is_empty() && last == text).then_some(*secs));
    known.or_else(|| parse_event_time_uncached(text))
}

fn parse_event_time_uncached(text: &str) -> Option<i64> {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Everything known about one API call when it finishes.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub event_source: &'static str,
    pub event_name: String,
    pub read_only: bool,
    pub actor: Actor,
    /// The account whose trail receives the event (the caller's; the deployment's default
    /// account when the caller is unknown).
    pub recipient_account_id: String,
    pub region: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: String,
    pub resources: Vec<Resource>,
    pub tls_details: Option<TlsDetails>,
    pub unix_millis: i64,
}

impl Record {
    /// The record of an API call (`eventType` `AwsApiCall`).
    pub fn api_call(call: ApiCall) -> Record {
        Record {
            event_version: EVENT_VERSION.into(),
            user_identity: call.actor.user_identity(),
            event_time: event_time(call.unix_millis),
            event_source: call.event_source.into(),
            event_name: call.event_name,
            aws_region: call.region,
            source_ip_address: call.source_ip,
            user_agent: call.user_agent,
            error_code: call.error_code,
            error_message: call.error_message,
            request_parameters: call.request_parameters,
            response_elements: call.response_elements,
            additional_event_data: None,
            service_event_details: None,
            request_id: Some(call.request_id),
            event_id: random_uuid(),
            read_only: call.read_only,
            resources: call.resources,
            event_type: "AwsApiCall".into(),
            management_event: true,
            recipient_account_id: call.recipient_account_id,
            shared_event_id: None,
            event_category: "Management".into(),
            tls_details: call.tls_details,
        }
    }

    /// The record of an action KMS takes by itself (automatic rotation, deletion at the
    /// end of the waiting period, expiry of imported material): `eventType`
    /// `AwsServiceEvent`, the service as the actor, no request, no source address (see
    /// the DeleteKey and RotateKey examples of AWS KMS's CloudTrail documentation).
    pub fn service_event(
        event_name: &str,
        account_id: &str,
        region: &str,
        key_arn: &str,
        additional_event_data: Option<Value>,
        unix_millis: i64,
    ) -> Record {
        Record {
            event_version: EVENT_VERSION.into(),
            user_identity: UserIdentity {
                account_id: Some(account_id.into()),
                invoked_by: Some(KMS_EVENT_SOURCE.into()),
                ..UserIdentity::default()
            },
            event_time: event_time(unix_millis),
            event_source: KMS_EVENT_SOURCE.into(),
            event_name: event_name.into(),
            aws_region: region.into(),
            source_ip_address: Some(KMS_EVENT_SOURCE.into()),
            user_agent: Some(KMS_EVENT_SOURCE.into()),
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data,
            service_event_details: None,
            request_id: None,
            event_id: random_uuid(),
            read_only: false,
            resources: Resource::kms(key_arn).into_iter().collect(),
            event_type: "AwsServiceEvent".into(),
            management_event: true,
            recipient_account_id: account_id.into(),
            shared_event_id: None,
            event_category: "Management".into(),
            tls_details: None,
        }
    }

    /// The user name LookupEvents reports (`Username`): the IAM user's or role session's
    /// name, `root` for the account root.
    pub fn username(&self) -> Option<String> {
        let id = &self.user_identity;
        match id.kind.as_deref() {
            Some("Root") => Some("root".into()),
            Some("IAMUser") => id.user_name.clone(),
            Some("AssumedRole") => id
                .arn
                .as_deref()
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()),
            _ => id.invoked_by.clone(),
        }
    }
}

/// The most characters a string field of a record keeps (an ARN, a user name, a region,
/// an error code...). IAM's longest ARNs (a 512-character path and a 64-character name)
/// fit; anything longer did not come from Trent and is cut.
pub const MAX_STRING_CHARS: usize = 2048;
/// CloudTrail keeps at most 1 KB of a `userAgent`.
pub const MAX_USER_AGENT_CHARS: usize = 1024;
/// The most an `errorMessage` keeps (AWS's messages name the problem, not the value:
/// a longer one echoes client input).
pub const MAX_ERROR_MESSAGE_CHARS: usize = 2048;
/// The most a JSON member (`requestParameters`, `responseElements`, `additionalEventData`,
/// `serviceEventDetails`) may take, serialized: CloudTrail's limit of 100 KB; a larger one
/// is replaced by `{"omitted": true}`, CloudTrail's own representation of a field it cut
/// (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>).
pub const MAX_MEMBER_BYTES: usize = 100 * 1024;
/// The most resources one record names.
pub const MAX_RESOURCES: usize = 64;
/// The most a whole record may take, serialized (CloudTrail's largest event: 256 KB).
pub const MAX_RECORD_BYTES: usize = 256 * 1024;
/// The `additionalEventData` member naming the string fields that were cut to their cap.
pub const TRUNCATED_FIELDS: &str = "trentTruncatedFields";

/// Cuts `s` to at most `max` characters; records `name` in `cut` if it did.
fn cap_string(s: &mut String, max: usize, name: &str, cut: &mut Vec<String>) {
    if let Some((end, _)) = s.char_indices().nth(max) {
        s.truncate(end);
        cut.push(name.to_owned());
    }
}

fn cap_opt(s: &mut Option<String>, max: usize, name: &str, cut: &mut Vec<String>) {
    if let Some(s) = s {
        cap_string(s, max, name, cut);
    }
}

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

/// `{"omitted": true}` in place of a member larger than [`MAX_MEMBER_BYTES`].
fn cap_member(v: &mut Option<Value>) {
    if v.as_ref().is_some_and(|v| json_len(v) > MAX_MEMBER_BYTES) {
        *v = Some(serde_json::json!({ "omitted": true }));
    }
}

/// A fresh random (version 4) UUID, hyphenated: request and event ids. From the thread's
/// ChaCha generator (`rand::thread_rng`, seeded and reseeded from the system's): a
/// `getrandom` system call, or aws-lc's DRBG (RDRAND and a lock), per id cost more than
/// the rest of an id's making under load. Ids are identifiers, not secrets; keys, salts
/// and nonces keep aws-lc's generator.
pub fn random_uuid() -> String {
    let bytes: [u8; 16] = rand::Rng::gen(&mut rand::thread_rng());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

impl Record {
    /// The record within the trail's bounds ([`Record::bounded`]), serialized: the
    /// record's own JSON when it is already within them, which a record of at most
    /// [`MAX_USER_AGENT_CHARS`] bytes is (no string in it can be longer than the JSON, and
    /// the smallest cap is the user agent's), and so is one of at most
    /// [`MAX_STRING_CHARS`] bytes whose user agent is within its cap (every other string
    /// cap is at least that, 64 resources take more, and the member and record caps are
    /// far larger). Others are bounded first. Either way one serialization for the
    /// records requests make, without a copy of the record.
    pub fn bounded_json(&self) -> Result<String, serde_json::Error> {
        let json = serde_json::to_string(self)?;
        let ua_within = self
            .user_agent
            .as_ref()
            .is_none_or(|ua| ua.len() <= MAX_USER_AGENT_CHARS);
        let smallest_other_cap = MAX_STRING_CHARS.min(MAX_ERROR_MESSAGE_CHARS);
        if json.len() <= MAX_USER_AGENT_CHARS || (ua_within && json.len() <= smallest_other_cap) {
            return Ok(json);
        }
        serde_json::to_string(&self.clone().bounded())
    }

    /// This record within the trail's bounds: every string field cut to its cap (the
    /// fields cut named in `additionalEventData.trentTruncatedFields`), every JSON member
    /// within [`MAX_MEMBER_BYTES`], at most [`MAX_RESOURCES`] resources, and the whole
    /// within [`MAX_RECORD_BYTES`]. Whatever a client sends, a record stays small: the
    /// trail cannot be filled, nor a credential a client misdirected copied into it whole.
    pub fn bounded(mut self) -> Record {
        let mut cut = Vec::new();
        let s = MAX_STRING_CHARS;
        cap_string(&mut self.event_version, s, "eventVersion", &mut cut);
        cap_string(&mut self.event_time, s, "eventTime", &mut cut);
        cap_string(&mut self.event_source, s, "eventSource", &mut cut);
        cap_string(&mut self.event_name, s, "eventName", &mut cut);
        cap_string(&mut self.aws_region, s, "awsRegion", &mut cut);
        cap_opt(&mut self.source_ip_address, s, "sourceIPAddress", &mut cut);
        cap_opt(
            &mut self.user_agent,
            MAX_USER_AGENT_CHARS,
            "userAgent",
            &mut cut,
        );
        cap_opt(&mut self.error_code, s, "errorCode", &mut cut);
        let m = MAX_ERROR_MESSAGE_CHARS;
        cap_opt(&mut self.error_message, m, "errorMessage", &mut cut);
        cap_opt(&mut self.request_id, s, "requestID", &mut cut);
        cap_string(&mut self.event_id, s, "eventID", &mut cut);
        cap_string(&mut self.event_type, s, "eventType", &mut cut);
        cap_string(
            &mut self.recipient_account_id,
            s,
            "recipientAccountId",
            &mut cut,
        );
        cap_opt(&mut self.shared_event_id, s, "sharedEventID", &mut cut);
        cap_string(&mut self.event_category, s, "eventCategory", &mut cut);
        let id = &mut self.user_identity;
        cap_opt(&mut id.kind, s, "userIdentity.type", &mut cut);
        cap_opt(
            &mut id.principal_id,
            s,
            "userIdentity.principalId",
            &mut cut,
        );
        cap_opt(&mut id.arn, s, "userIdentity.arn", &mut cut);
        cap_opt(&mut id.account_id, s, "userIdentity.accountId", &mut cut);
        cap_opt(
            &mut id.access_key_id,
            s,
            "userIdentity.accessKeyId",
            &mut cut,
        );
        cap_opt(&mut id.user_name, s, "userIdentity.userName", &mut cut);
        cap_opt(&mut id.invoked_by, s, "userIdentity.invokedBy", &mut cut);
        if let Some(c) = &mut id.session_context {
            let i = &mut c.session_issuer;
            let p = "userIdentity.sessionContext.sessionIssuer.";
            cap_string(&mut i.kind, s, &format!("{p}type"), &mut cut);
            cap_string(&mut i.principal_id, s, &format!("{p}principalId"), &mut cut);
            cap_string(&mut i.arn, s, &format!("{p}arn"), &mut cut);
            cap_string(&mut i.account_id, s, &format!("{p}accountId"), &mut cut);
            cap_string(&mut i.user_name, s, &format!("{p}userName"), &mut cut);
            let a = &mut c.attributes;
            let p = "userIdentity.sessionContext.attributes.";
            cap_opt(
                &mut a.creation_date,
                s,
                &format!("{p}creationDate"),
                &mut cut,
            );
            cap_string(
                &mut a.mfa_authenticated,
                s,
                &format!("{p}mfaAuthenticated"),
                &mut cut,
            );
        }
        if let Some(t) = &mut self.tls_details {
            cap_string(&mut t.tls_version, s, "tlsDetails.tlsVersion", &mut cut);
            cap_string(&mut t.cipher_suite, s, "tlsDetails.cipherSuite", &mut cut);
            let h = "tlsDetails.clientProvidedHostHeader";
            cap_string(&mut t.client_provided_host_header, s, h, &mut cut);
        }
        if self.resources.len() > MAX_RESOURCES {
            self.resources.truncate(MAX_RESOURCES);
            cut.push("resources".to_owned());
        }
        for r in &mut self.resources {
            cap_string(&mut r.account_id, s, "resources.accountId", &mut cut);
            cap_string(&mut r.kind, s, "resources.type", &mut cut);
            cap_string(&mut r.arn, s, "resources.ARN", &mut cut);
        }
        cap_member(&mut self.request_parameters);
        cap_member(&mut self.response_elements);
        cap_member(&mut self.additional_event_data);
        cap_member(&mut self.service_event_details);
        if !cut.is_empty() {
            cut.sort();
            cut.dedup();
            let data = self
                .additional_event_data
                .get_or_insert_with(|| Value::Object(serde_json::Map::new()));
            match data {
                Value::Object(map) => {
                    map.insert(TRUNCATED_FIELDS.to_owned(), cut.into());
                }
                // Not an object (Trent writes none such): it cannot carry the list.
                _ => *data = serde_json::json!({ "omitted": true, TRUNCATED_FIELDS: cut }),
            }
        }
        // Each member is within its cap, but together they may not be: omit the largest
        // until the record fits (the strings alone are far below the record's cap).
        while serde_json::to_vec(&self).map_or(usize::MAX, |b| b.len()) > MAX_RECORD_BYTES {
            let members = [
                &mut self.request_parameters,
                &mut self.response_elements,
                &mut self.service_event_details,
                &mut self.additional_event_data,
            ];
            let largest = members
                .into_iter()
                .filter(|m| m.as_ref().is_some_and(|v| json_len(v) > 32))
                .max_by_key(|m| m.as_ref().map_or(0, json_len));
            match largest {
                Some(m) => *m = Some(serde_json::json!({ "omitted": true })),
                None => {
                    if self.resources.pop().is_none() {
                        break;
                    }
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_json_is_the_bounded_records_json() {
        let base =
            || Record::service_event("RotateKey", "111122223333", "us-east-1", "arn", None, 0);
        let mut cases = Vec::new();
        cases.push(base());
        for ua in [1000, 1024, 1025, 1500, 3000] {
            let mut r = base();
            r.user_agent = Some("u".repeat(ua));
            cases.push(r);
        }
        for msg in [500, 1100, 2048, 2049, 5000] {
            let mut r = base();
            r.error_message = Some("é".repeat(msg));
            cases.push(r);
        }
        let mut many = base();
        for i in 0..70 {
            many.resources.extend(Resource::kms(&format!(
                "arn:aws:kms:us-east-1:111122223333:key/{i}"
            )));
        }
        cases.push(many);
        let mut big = base();
        big.request_parameters = Some(serde_json::json!({ "x": "p".repeat(120_000) }));
        cases.push(big);
        for r in cases {
            let expected = serde_json::to_string(&r.clone().bounded()).unwrap();
            assert_eq!(r.bounded_json().unwrap(), expected);
        }
        let (a, b) = (random_uuid(), random_uuid());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    #[test]
    fn identities_have_cloudtrail_shapes() {
        let user = Actor::User {
            arn: "arn:aws:iam::111122223333:user/ops/Alice".into(),
            account_id: "111122223333".into(),
            access_key_id: "AKIAEXAMPLE".into(),
        };
        let v = serde_json::to_value(user.user_identity()).unwrap();
        assert_eq!(v["type"], "IAMUser");
        assert_eq!(v["userName"], "Alice");
        assert_eq!(v["accessKeyId"], "AKIAEXAMPLE");
        assert!(v["principalId"].as_str().unwrap().starts_with("AIDA"));
        assert!(v.get("sessionContext").is_none());

        let role = Actor::AssumedRole {
            arn: "arn:aws:sts::111122223333:assumed-role/app/s1".into(),
            account_id: "111122223333".into(),
            access_key_id: "ASIAEXAMPLE".into(),
            role_arn: None,
            creation_date: None,
        };
        let v = serde_json::to_value(role.user_identity()).unwrap();
        assert_eq!(v["type"], "AssumedRole");
        assert_eq!(
            v["sessionContext"]["sessionIssuer"]["arn"],
            "arn:aws:iam::111122223333:role/app"
        );
        assert_eq!(v["sessionContext"]["sessionIssuer"]["userName"], "app");
        assert!(v["principalId"].as_str().unwrap().ends_with(":s1"));

        let root = Actor::Root {
            account_id: "111122223333".into(),
            access_key_id: "AKIAROOT".into(),
        };
        let v = serde_json::to_value(root.user_identity()).unwrap();
        assert_eq!(v["type"], "Root");
        assert_eq!(v["principalId"], "111122223333");
        assert_eq!(v["arn"], "arn:aws:iam::111122223333:root");
    }

    #[test]
    fn times_are_utc_seconds_with_z() {
        assert_eq!(event_time(1_747_773_976_123), "2025-05-20T20:46:16Z");
        assert_eq!(
            parse_event_time("2025-05-20T20:46:16Z"),
            Some(1_747_773_976)
        );
        // The thread's last time is kept: the same second again, the next one, another
        // time read back than the one kept, and text that is no time.
        assert_eq!(event_time(1_747_773_976_999), "2025-05-20T20:46:16Z");
        assert_eq!(event_time(1_747_773_977_000), "2025-05-20T20:46:17Z");
        assert_eq!(
            parse_event_time("2025-05-20T20:46:17Z"),
            Some(1_747_773_977)
        );
        assert_eq!(
            parse_event_time("2025-05-20T20:46:16Z"),
            Some(1_747_773_976)
        );
        assert_eq!(parse_event_time(""), None);
        assert_eq!(parse_event_time("yesterday"), None);
        // Beyond what can be formatted: the epoch's text, never kept as that second.
        assert_eq!(event_time(i64::MAX), "1970-01-01T00:00:00Z");
        assert_eq!(parse_event_time("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn service_events_name_the_service_as_actor() {
        let r = Record::service_event(
            "DeleteKey",
            "111122223333",
            "us-east-1",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            None,
            0,
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["eventType"], "AwsServiceEvent");
        assert_eq!(v["userIdentity"]["invokedBy"], "kms.amazonaws.com");
        assert_eq!(v["userIdentity"]["accountId"], "111122223333");
        assert_eq!(v["resources"][0]["type"], "AWS::KMS::Key");
        assert_eq!(v["requestParameters"], Value::Null);
        assert_eq!(v["managementEvent"], true);
    }
    #[test]
    fn bounded_records_cap_every_client_string_and_the_whole() {
        let mut r = Record::service_event("X", "111122223333", "us-east-1", "", None, 0);
        r.user_agent = Some("u".repeat(60_000));
        r.error_message = Some(format!("Bearer {}", "s".repeat(60_000)));
        r.source_ip_address = Some("é".repeat(5000));
        r.event_name = "n".repeat(10_000);
        r.user_identity.access_key_id = Some("A".repeat(9000));
        r.request_parameters = Some(serde_json::json!({ "x": "p".repeat(200_000) }));
        r.resources = (0..1000)
            .map(|i| Resource {
                account_id: "1".repeat(3000),
                kind: KMS_KEY_TYPE.into(),
                arn: format!("arn:aws:kms:us-east-1:111122223333:key/{i}"),
            })
            .collect();
        let b = r.clone().bounded();
        assert_eq!(b.user_agent.as_ref().unwrap().len(), MAX_USER_AGENT_CHARS);
        assert_eq!(
            b.error_message.as_ref().unwrap().chars().count(),
            MAX_ERROR_MESSAGE_CHARS
        );
        // Cut at a character boundary, counted in characters.
        assert_eq!(
            b.source_ip_address.as_ref().unwrap().chars().count(),
            MAX_STRING_CHARS
        );
        assert_eq!(b.event_name.len(), MAX_STRING_CHARS);
        assert_eq!(
            b.request_parameters,
            Some(serde_json::json!({"omitted": true}))
        );
        assert_eq!(b.resources.len(), MAX_RESOURCES);
        assert_eq!(b.event_id, r.event_id);
        let cut = &b.additional_event_data.as_ref().unwrap()[TRUNCATED_FIELDS];
        for field in [
            "userAgent",
            "errorMessage",
            "sourceIPAddress",
            "eventName",
            "userIdentity.accessKeyId",
            "resources",
            "resources.accountId",
        ] {
            assert!(
                cut.as_array().unwrap().iter().any(|f| f == field),
                "{field}: {cut}"
            );
        }
        assert!(serde_json::to_vec(&b).unwrap().len() <= MAX_RECORD_BYTES);

        // Members each within their cap but too large together: the largest is omitted.
        let mut r = Record::service_event("X", "111122223333", "us-east-1", "", None, 0);
        r.request_parameters = Some(serde_json::json!({ "x": "p".repeat(90_000) }));
        r.response_elements = Some(serde_json::json!({ "x": "q".repeat(95_000) }));
        r.service_event_details = Some(serde_json::json!({ "x": "r".repeat(80_000) }));
        let b = r.bounded();
        assert_eq!(
            b.response_elements,
            Some(serde_json::json!({"omitted": true}))
        );
        assert!(b.request_parameters.as_ref().unwrap()["x"].is_string());
        assert!(serde_json::to_vec(&b).unwrap().len() <= MAX_RECORD_BYTES);

        // A record within its bounds is unchanged.
        let r = Record::service_event("DeleteKey", "111122223333", "us-east-1", "", None, 0);
        assert_eq!(r.clone().bounded(), r);
    }
}
