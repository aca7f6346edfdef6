//! Authentication: SigV4 over the access keys of the identity directory (the config file's
//! users and accounts, and the store's bootstrap administrator), STS session credentials
//! (the session token carries its own sealed secret), and the development switch.
//!
//! Authentication also fills what authorization needs to know about the caller
//! ([`CallerAttributes`]): identity policies, principal tags, the role session, and the
//! connection's address, transport and user agent.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use trent_core::{Caller, CallerAttributes, Clock, Principal, RoleSession};
use trent_crypto::RootKeyProvider;
use trent_sigv4::{CredentialLookup, Payload, ScopeFaults, SecretKey, SigV4Error, Verifier};
use trent_wire::{AccountId, Region};

use crate::identities::{Directory, Identity};
use crate::sts::SessionClaims;

/// AWS's allowed clock skew between client and service.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// Opened session tokens kept at most (the cache is emptied when full).
const SESSION_CACHE_LIMIT: usize = 10_000;

/// The identity directory in force, replaced as a whole on SIGHUP.
pub type SharedDirectory = Arc<RwLock<Arc<Directory>>>;

/// Long-term access keys, looked up in the directory in force.
struct DirectoryLookup(SharedDirectory);

impl CredentialLookup for DirectoryLookup {
    type Principal = Arc<Identity>;

    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, Arc<Identity>)> {
        self.0.read().key(access_key_id)
    }
}

/// The one temporary access key of a session token.
struct SessionLookup {
    access_key_id: String,
    secret: Arc<SecretKey>,
}

impl CredentialLookup for SessionLookup {
    type Principal = ();

    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, ())> {
        (access_key_id == self.access_key_id).then(|| (Arc::clone(&self.secret), ()))
    }
}

/// Why a request did not authenticate.
#[derive(Debug)]
pub enum AuthError {
    SigV4(SigV4Error),
    /// A valid session token past its expiry.
    ExpiredToken,
    /// The request forwards a principal's request ([`FORWARDED_REQUEST`]) and its signer
    /// is no configured service identity, or this endpoint takes no forwarded requests.
    NotAService {
        arn: String,
    },
    /// The forwarded request cannot be read, or is not one a service may forward here.
    BadForward(&'static str),
    /// The forwarded request did not authenticate its principal.
    Forwarded(Box<AuthError>),
}

/// The header in which a configured service identity (`[[services]]`) forwards the
/// request its caller signed, to call KMS on that caller's behalf (docs/services.md):
/// base64 of a JSON object with the caller's `method`, `path`, `query`, `headers`
/// (`[name, value]` pairs: at least the signed ones and `Authorization`), and optionally
/// `payloadHash` (else the signed `x-amz-content-sha256`) and `sourceIp` (the caller's
/// address as the service saw it).
pub const FORWARDED_REQUEST: &str = "x-trent-forwarded-request";
/// The most bytes of a forwarded request's header value.
const MAX_FORWARDED_BYTES: usize = 16 * 1024;

/// The decoded [`FORWARDED_REQUEST`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ForwardedRequest {
    method: String,
    path: String,
    #[serde(default)]
    query: String,
    headers: Vec<(String, String)>,
    payload_hash: Option<String>,
    source_ip: Option<String>,
}

impl AuthError {
    /// The message every protocol answers it with.
    pub fn message(&self) -> String {
        match self {
            AuthError::SigV4(e) => e.message(),
            AuthError::ExpiredToken => {
                "The security token included in the request is expired".into()
            }
            AuthError::NotAService { arn } => format!(
                "User: {arn} is not authorized to call on another principal's behalf: it is not a configured service identity"
            ),
            AuthError::BadForward(reason) => format!("X-Trent-Forwarded-Request: {reason}"),
            AuthError::Forwarded(inner) => format!("The forwarded request: {}", inner.message()),
        }
    }
}

impl From<SigV4Error> for AuthError {
    fn from(e: SigV4Error) -> Self {
        AuthError::SigV4(e)
    }
}

/// What the connection says about a request.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
    pub user_agent: Option<String>,
}

/// Seals and opens STS session tokens (under the root key, so that every node of a
/// cluster accepts every node's tokens), with a cache of opened ones.
pub struct Sessions {
    root: Arc<dyn RootKeyProvider>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Arc<SessionClaims>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    pub fn new(root: Arc<dyn RootKeyProvider>, clock: Arc<dyn Clock>) -> Self {
        Sessions {
            root,
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &dyn RootKeyProvider {
        self.root.as_ref()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The claims of a token this deployment sealed; `None` for anything else.
    pub fn open(&self, token: &str) -> Option<Arc<SessionClaims>> {
        if let Some(c) = self.cache.lock().get(token) {
            return Some(Arc::clone(c));
        }
        let claims = Arc::new(SessionClaims::open(self.root.as_ref(), token)?);
        let mut cache = self.cache.lock();
        if cache.len() >= SESSION_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(token.to_owned(), Arc::clone(&claims));
        Some(claims)
    }
}

pub struct Authenticator {
    verifier: Verifier<DirectoryLookup>,
    service: String,
    directory: SharedDirectory,
    sessions: Arc<Sessions>,
    dev_any_credentials: bool,
    default_account_id: AccountId,
    /// Whether configured services may forward their callers' requests here (KMS only),
    /// and the authenticators of those requests, by signing name (made on first use).
    forwarding: Option<Mutex<HashMap<String, Arc<Authenticator>>>>,
}

impl Authenticator {
    /// For the signing name `service` (`kms`, `cloudtrail`, `sts`) on the same endpoint.
    pub fn new(
        service: &str,
        directory: SharedDirectory,
        sessions: Arc<Sessions>,
        dev_any_credentials: bool,
        default_account_id: AccountId,
    ) -> Self {
        let mut verifier = Verifier::new(DirectoryLookup(directory.clone()), service, CLOCK_SKEW);
        if service == "s3" {
            verifier = verifier.with_s3_paths();
        }
        Authenticator {
            verifier,
            service: service.to_owned(),
            directory,
            sessions,
            dev_any_credentials,
            default_account_id,
            forwarding: None,
        }
    }

    /// Takes requests that configured services forward on their callers' behalf
    /// ([`FORWARDED_REQUEST`]); without this, such a request is refused.
    pub fn with_forwarding(mut self) -> Self {
        self.forwarding = Some(Mutex::new(HashMap::new()));
        self
    }

    /// Authenticates a request: its signer is the caller, unless it forwards a request
    /// its signer (a configured service) received: then the caller is whoever signed
    /// that one, calling through the service.
    pub fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        now: SystemTime,
        connection: &Connection,
    ) -> Result<Caller, AuthError> {
        let caller = self.authenticate_payload(parts, Payload::Body(body), now, connection)?;
        match parts.headers.get(FORWARDED_REQUEST) {
            None => Ok(caller),
            Some(forwarded) => self.authenticate_forwarded(&caller, forwarded, now, connection),
        }
    }

    /// The caller of a request that `service` (authenticated) forwards: the principal
    /// whose signature the forwarded request carries, verified with that principal's
    /// own key for the service's signing name, in the same region, within the same clock
    /// skew. The service's signature alone never makes a caller.
    fn authenticate_forwarded(
        &self,
        service: &Caller,
        forwarded: &http::HeaderValue,
        now: SystemTime,
        connection: &Connection,
    ) -> Result<Caller, AuthError> {
        let Some(forwarding) = &self.forwarding else {
            return Err(AuthError::BadForward(
                "this endpoint takes no forwarded requests",
            ));
        };
        // The signer must be a configured service identity: an IAM user, or a session of
        // a role (never an account root, nor the development switch's stand-in).
        let signer_arn = match (&service.principal.kind, &service.attributes.session) {
            (trent_core::PrincipalKind::User, None) => Some(service.principal.arn.as_str()),
            (trent_core::PrincipalKind::AssumedRole, Some(s)) => Some(s.role_arn.as_str()),
            _ => None,
        };
        let identity = signer_arn
            .and_then(|arn| self.directory.read().service_of(arn))
            .ok_or_else(|| AuthError::NotAService {
                arn: service.principal.arn.clone(),
            })?;
        let request = decode_forwarded(forwarded)?;
        let parts = request.parts()?;
        if parts.headers.contains_key(FORWARDED_REQUEST) {
            return Err(AuthError::BadForward(
                "a forwarded request cannot itself forward one",
            ));
        }
        let payload_hash = match (
            &request.payload_hash,
            parts.headers.get("x-amz-content-sha256"),
        ) {
            (Some(h), _) => h.as_str(),
            (None, Some(h)) => h
                .to_str()
                .map_err(|_| AuthError::BadForward("x-amz-content-sha256 is not text"))?,
            (None, None) => {
                return Err(AuthError::BadForward(
                    "neither payloadHash nor x-amz-content-sha256 is given",
                ))
            }
        };
        let source_ip = match &request.source_ip {
            None => None,
            Some(ip) => Some(
                ip.parse::<IpAddr>()
                    .map_err(|_| AuthError::BadForward("sourceIp is not an IP address"))?,
            ),
        };
        let authenticator = {
            let mut map = forwarding.lock();
            Arc::clone(map.entry(identity.signing_name.clone()).or_insert_with(|| {
                Arc::new(Authenticator::new(
                    &identity.signing_name,
                    self.directory.clone(),
                    self.sessions.clone(),
                    self.dev_any_credentials,
                    self.default_account_id.clone(),
                ))
            }))
        };
        let service_call = Arc::new(trent_core::ServiceCall::new(
            &identity.name,
            service.region.as_str(),
        ));
        let principal_connection = Connection {
            source_ip,
            secure_transport: connection.secure_transport,
            user_agent: Some(service_call.service_principal.clone()),
        };
        let mut caller = authenticator
            .authenticate_payload(
                &parts,
                Payload::Hash(payload_hash),
                now,
                &principal_connection,
            )
            .map_err(|e| AuthError::Forwarded(Box::new(e)))?;
        // The principal asked the service in the region the service asks KMS in.
        if caller.region != service.region {
            return Err(AuthError::BadForward(
                "the forwarded request is signed for another region than this request",
            ));
        }
        caller.attributes.via = Some(service_call);
        Ok(caller)
    }

    fn authenticate_payload(
        &self,
        parts: &http::request::Parts,
        payload: Payload<'_>,
        now: SystemTime,
        connection: &Connection,
    ) -> Result<Caller, AuthError> {
        let attributes = |identity_policies, principal_tags, session| CallerAttributes {
            identity_policies,
            principal_tags,
            session,
            session_policy: None,
            user_id: None,
            source_ip: connection.source_ip,
            secure_transport: connection.secure_transport,
            user_agent: connection.user_agent.clone(),
            via: None,
            principal_cache: None,
        };
        if parts.headers.contains_key("x-amz-security-token") {
            match self.authenticate_session(parts, payload, now) {
                Ok((claims, region, access_key_id)) => {
                    let dir = self.directory.read().clone();
                    // The role's policies and tags as configured now. A session whose
                    // role is gone from the directory in force, or is another role now
                    // under the same ARN (another role id: deleted and created again),
                    // is refused as an invalid token: key policies and grants naming the
                    // role's ARN must not outlive the role. AWS documents no other error
                    // for it. Checked here, not in `authenticate_session`, so that the
                    // development switch cannot turn it into its account's root.
                    let role = dir
                        .role(&claims.role_arn)
                        .filter(|r| r.role_id == claims.role_id)
                        .ok_or(AuthError::SigV4(SigV4Error::UnrecognizedClient))?;
                    let (policies, mut tags) = (role.policies.clone(), (*role.tags).clone());
                    // Session tags win over the role's tags with the same key (tag keys
                    // are case-insensitive).
                    for (k, v) in &claims.tags {
                        tags.retain(|rk, _| !rk.eq_ignore_ascii_case(k));
                        tags.insert(k.clone(), v.clone());
                    }
                    let session = RoleSession {
                        role_arn: claims.role_arn.clone(),
                        role_id: claims.role_id.clone(),
                        session_name: claims.session_name.clone(),
                        issued_at: claims.issued_at,
                        source_identity: claims.source_identity.clone(),
                    };
                    return Ok(Caller {
                        principal: claims.principal(),
                        region: scoped_region(region)?,
                        access_key_id,
                        attributes: CallerAttributes {
                            session_policy: claims.policy.clone(),
                            ..attributes(policies, Arc::new(tags), Some(Arc::new(session)))
                        },
                    });
                }
                // Development mode accepts any credentials, dummy session tokens included.
                Err(AuthError::SigV4(SigV4Error::UnrecognizedClient))
                    if self.dev_any_credentials => {}
                Err(e) => return Err(e),
            }
        }
        if self.dev_any_credentials {
            let auth = self.verifier.check_unsigned(parts, now)?;
            // Known keys are still verified, so that their principal is really theirs.
            if self.verifier.lookup().lookup(&auth.access_key_id).is_none() {
                let account = match AccountId::parse(auth.access_key_id.as_str()) {
                    Ok(account) => account,
                    Err(_) => self.default_account_id.clone(),
                };
                return Ok(Caller {
                    principal: Principal::account_root(&account),
                    region: scoped_region(auth.region)?,
                    access_key_id: auth.access_key_id,
                    attributes: attributes(Arc::from(Vec::new()), Arc::default(), None),
                });
            }
        }
        let v = self.verifier.verify_payload(parts, payload, now)?;
        Ok(Caller {
            principal: v.principal.principal.clone(),
            region: scoped_region(v.region)?,
            access_key_id: v.access_key_id,
            attributes: CallerAttributes {
                user_id: v.principal.user_id.clone(),
                principal_cache: Some(v.principal.cache.clone()),
                ..attributes(v.principal.policies.clone(), v.principal.tags.clone(), None)
            },
        })
    }

    /// A request signed with session credentials: the token must be one of ours, name
    /// the access key the request is signed with, and be unexpired (by the injected
    /// clock); then the signature is checked with the token's secret.
    fn authenticate_session(
        &self,
        parts: &http::request::Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(Arc<SessionClaims>, String, String), AuthError> {
        let auth = self.verifier.check_unsigned(parts, now)?;
        let token = auth
            .session_token
            .as_deref()
            .ok_or(SigV4Error::UnrecognizedClient)?;
        let claims = self
            .sessions
            .open(token)
            .filter(|c| c.access_key_id == auth.access_key_id)
            .ok_or(SigV4Error::UnrecognizedClient)?;
        if claims.is_expired(self.sessions.clock.now_millis()) {
            return Err(AuthError::ExpiredToken);
        }
        let verifier = Verifier::new(
            SessionLookup {
                access_key_id: claims.access_key_id.clone(),
                secret: Arc::clone(&claims.secret),
            },
            &self.service,
            CLOCK_SKEW,
        );
        let v = verifier.verify_payload(parts, payload, now)?;
        Ok((claims, v.region, v.access_key_id))
    }
}

/// The forwarded request of a [`FORWARDED_REQUEST`] header value.
fn decode_forwarded(value: &http::HeaderValue) -> Result<ForwardedRequest, AuthError> {
    use base64::Engine;
    if value.len() > MAX_FORWARDED_BYTES {
        return Err(AuthError::BadForward("the forwarded request is too large"));
    }
    let json = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| AuthError::BadForward("the forwarded request is not base64"))?;
    serde_json::from_slice(&json)
        .map_err(|_| AuthError::BadForward("the forwarded request is not the JSON object expected"))
}

impl ForwardedRequest {
    /// The request as its signer sent it to the service.
    fn parts(&self) -> Result<http::request::Parts, AuthError> {
        let uri = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        if !self.path.starts_with('/') {
            return Err(AuthError::BadForward(
                "the forwarded path must start with /",
            ));
        }
        let mut builder = http::Request::builder()
            .method(self.method.as_str())
            .uri(uri);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(()).map(|r| r.into_parts().0).map_err(|_| {
            AuthError::BadForward("the forwarded method, path or headers are not valid")
        })
    }
}

/// The request's region as the key service holds it. The verifier accepted it by the same
/// rule ([`trent_wire::ids::is_region_name`]); should the two ever disagree, the request
/// is refused as a credential scoped to an invalid region, never served in another.
fn scoped_region(region: String) -> Result<Region, AuthError> {
    Region::parse(region).map_err(|_| {
        AuthError::SigV4(SigV4Error::InvalidScope(Box::new(ScopeFaults {
            region: true,
            ..ScopeFaults::default()
        })))
    })
}

#[cfg(test)]
mod tests {
    use trent_core::{ManualClock, PrincipalKind};
    use trent_crypto::FileRootKey;
    use trent_sigv4::{Credentials, Signer};

    use super::*;
    use crate::identities::IdentitySpecs;
    use crate::sts::SessionClaims;

    const ROLE: &str = "arn:aws:iam::111122223333:role/app/encryptor";
    const NOW: i64 = 1_700_000_000_000;

    struct Setup {
        auth: Authenticator,
        clock: Arc<ManualClock>,
        sessions: Arc<Sessions>,
        _dir: tempfile::TempDir,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root: Arc<dyn RootKeyProvider> =
            Arc::new(FileRootKey::create(&dir.path().join("root.key")).unwrap());
        let clock = Arc::new(ManualClock::new(NOW));
        let sessions = Arc::new(Sessions::new(root, clock.clone()));
        let specs: IdentitySpecs = toml::from_str(&format!(
            r#"[[roles]]
arn = "{ROLE}"
trust_policy = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"sts:AssumeRole"}}]}}'
tags = {{ team = "red", env = "prod" }}
[roles.policies]
all = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}'
"#
        ))
        .unwrap();
        let directory = Directory::build(&specs, &[], "111122223333").unwrap();
        let auth = Authenticator::new(
            "kms",
            Arc::new(RwLock::new(Arc::new(directory))),
            sessions.clone(),
            false,
            AccountId::parse("111122223333").unwrap(),
        );
        Setup {
            auth,
            clock,
            sessions,
            _dir: dir,
        }
    }

    fn claims(expires_in_ms: i64) -> SessionClaims {
        SessionClaims {
            access_key_id: "ASIATESTTESTTESTTEST".into(),
            secret: Arc::new(SecretKey::new("session-secret")),
            account_id: AccountId::parse("111122223333").unwrap(),
            role_arn: ROLE.into(),
            role_id: trent_audit::unique_id("AROA", ROLE),
            session_name: "s1".into(),
            tags: [("team".to_owned(), "blue".to_owned())].into(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            policy_text: None,
            policy: None,
            issued_at: NOW,
            expires_at: NOW + expires_in_ms,
        }
    }

    fn request(access_key_id: &str, secret: &str, token: &str) -> http::request::Parts {
        let signer = Signer::new(
            Credentials {
                access_key_id: access_key_id.into(),
                secret_access_key: SecretKey::new(secret),
                session_token: Some(token.into()),
            },
            "us-east-1",
            "kms",
        );
        let headers = [("host", "localhost")];
        let mut builder = http::Request::builder()
            .method("POST")
            .uri("http://localhost/")
            .header("host", "localhost");
        for (k, v) in signer.sign("POST", "/", "", &headers, b"{}", SystemTime::now()) {
            builder = builder.header(k, v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn authenticate(s: &Setup, parts: &http::request::Parts) -> Result<Caller, AuthError> {
        s.auth
            .authenticate(parts, b"{}", SystemTime::now(), &Connection::default())
    }

    #[test]
    fn a_session_token_authenticates_as_the_assumed_role_until_it_expires() {
        let s = setup();
        let token = claims(900_000).seal(s.sessions.root()).unwrap();
        assert!(!token.contains("session-secret"));
        let parts = request("ASIATESTTESTTESTTEST", "session-secret", &token);
        let caller = authenticate(&s, &parts).unwrap();
        assert_eq!(
            caller.principal.arn,
            "arn:aws:sts::111122223333:assumed-role/encryptor/s1"
        );
        assert_eq!(caller.principal.kind, PrincipalKind::AssumedRole);
        let session = caller.attributes.session.as_ref().unwrap();
        assert_eq!(session.role_arn, ROLE);
        assert_eq!(session.session_name, "s1");
        assert_eq!(session.issued_at, NOW);
        assert!(session.role_id.starts_with("AROA"));
        // The role's policies; session tags over the role's.
        assert_eq!(caller.attributes.identity_policies.len(), 1);
        assert_eq!(
            caller
                .attributes
                .principal_tags
                .get("team")
                .map(String::as_str),
            Some("blue")
        );
        assert_eq!(
            caller
                .attributes
                .principal_tags
                .get("env")
                .map(String::as_str),
            Some("prod")
        );

        // One millisecond before expiry it still works; at expiry it does not.
        s.clock.advance_millis(900_000 - 1);
        assert!(authenticate(&s, &parts).is_ok());
        s.clock.advance_millis(1);
        assert!(matches!(
            authenticate(&s, &parts),
            Err(AuthError::ExpiredToken)
        ));
    }

    #[test]
    fn tampered_tokens_and_wrong_secrets_are_refused() {
        let s = setup();
        let token = claims(900_000).seal(s.sessions.root()).unwrap();
        // Another access key id than the token's.
        let parts = request("ASIAOTHEROTHEROTHERX", "session-secret", &token);
        assert!(matches!(
            authenticate(&s, &parts),
            Err(AuthError::SigV4(SigV4Error::UnrecognizedClient))
        ));
        // A flipped byte in the token.
        let mut raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &token).unwrap();
        let mid = raw.len() / 2;
        raw[mid] ^= 1;
        let tampered = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
        let parts = request("ASIATESTTESTTESTTEST", "session-secret", &tampered);
        assert!(matches!(
            authenticate(&s, &parts),
            Err(AuthError::SigV4(SigV4Error::UnrecognizedClient))
        ));
        // Garbage.
        let parts = request("ASIATESTTESTTESTTEST", "session-secret", "not-a-token");
        assert!(matches!(
            authenticate(&s, &parts),
            Err(AuthError::SigV4(SigV4Error::UnrecognizedClient))
        ));
        // The right token signed with another secret.
        let parts = request("ASIATESTTESTTESTTEST", "wrong-secret", &token);
        assert!(matches!(
            authenticate(&s, &parts),
            Err(AuthError::SigV4(SigV4Error::SignatureMismatch))
        ));
        // A token sealed under another root key.
        let other = setup();
        let foreign = claims(900_000).seal(other.sessions.root()).unwrap();
        let parts = request("ASIATESTTESTTESTTEST", "session-secret", &foreign);
        assert!(matches!(
            authenticate(&s, &parts),
            Err(AuthError::SigV4(SigV4Error::UnrecognizedClient))
        ));
    }

    #[test]
    fn sessions_of_a_removed_or_recreated_role_are_refused() {
        let s = setup();
        let token = claims(900_000).seal(s.sessions.root()).unwrap();
        let parts = request("ASIATESTTESTTESTTEST", "session-secret", &token);
        assert!(authenticate(&s, &parts).is_ok());
        let with_roles = |roles: &str, dev_any_credentials: bool| {
            let specs: IdentitySpecs = toml::from_str(roles).unwrap();
            Authenticator::new(
                "kms",
                Arc::new(RwLock::new(Arc::new(
                    Directory::build(&specs, &[], "111122223333").unwrap(),
                ))),
                s.sessions.clone(),
                dev_any_credentials,
                AccountId::parse("111122223333").unwrap(),
            )
        };
        let trust = r#"'{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}'"#;
        let removed = "";
        let recreated =
            format!("[[roles]]\narn = \"{ROLE}\"\nid = \"AROARECREATED0000000001\"\ntrust_policy = {trust}\n");
        let same = format!("[[roles]]\narn = \"{ROLE}\"\ntrust_policy = {trust}\n");
        let run = |a: &Authenticator| {
            a.authenticate(&parts, b"{}", SystemTime::now(), &Connection::default())
        };
        for (roles, dev) in [
            (removed, false),
            (&recreated, false),
            (removed, true),
            (&recreated, true),
        ] {
            let r = run(&with_roles(roles, dev));
            assert!(
                matches!(r, Err(AuthError::SigV4(SigV4Error::UnrecognizedClient))),
                "{roles:?} dev={dev}: {r:?}"
            );
        }
        // The same role (same derived id) still takes its sessions.
        assert!(run(&with_roles(&same, false)).is_ok());
    }

    #[test]
    fn claims_never_print_their_secret() {
        let c = claims(1);
        assert!(!format!("{c:?}").contains("session-secret"));
    }
}
