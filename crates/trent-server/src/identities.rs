//! The identity directory: accounts, IAM users and roles from the config file
//! (`[[accounts]]`, `[[users]]`, `[[roles]]`), their access keys, identity policies, trust
//! policies and tags, plus the bootstrap administrator of the store.
//!
//! The file is validated as a whole (ARNs, unique access key ids, every policy parsed
//! once); a bad file is refused with a message naming the entry. Secrets from the file
//! never reach `Debug` output, logs or error messages.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use trent_core::{AccessKeyEntry, Principal, PrincipalKind};
use trent_policy::arn::is_name_char;
use trent_policy::{ArnError, ArnKind, Policy, PolicyKind, PrincipalArn};
use trent_sigv4::SecretKey;

/// AWS's default (and minimum) `MaxSessionDuration` of a role, in seconds.
pub const DEFAULT_MAX_SESSION_SECONDS: u32 = 3600;
/// AWS's maximum `MaxSessionDuration`.
pub const MAX_MAX_SESSION_SECONDS: u32 = 43_200;
/// The bootstrap administrator's implicit `AdministratorAccess` policy.
const ADMINISTRATOR_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// A secret from the config file: printed as `[REDACTED]`, zeroized on drop.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct FileSecret(#[serde(deserialize_with = "secret_string")] SecretKey);

fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
    String::deserialize(d).map(SecretKey::new)
}

impl fmt::Debug for FileSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// `{ id = "AKIA...", secret = "..." }`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeySpec {
    pub id: String,
    pub secret: FileSecret,
}

/// `[[accounts]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    pub id: String,
    #[serde(default)]
    pub access_keys: Vec<AccessKeySpec>,
}

/// `[[users]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub arn: String,
    #[serde(default)]
    pub access_keys: Vec<AccessKeySpec>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
}

/// `[[roles]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub arn: String,
    /// The role's unique id (`AROA...`) [default: derived from the ARN]. IAM gives a role
    /// deleted and created again a new id, and its old sessions then name another
    /// principal: a new `id` does the same here (sessions of the old id are refused).
    pub id: Option<String>,
    pub trust_policy: String,
    pub max_session_duration_seconds: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
}

/// `[[services]]`: an AWS service that calls KMS on its callers' behalf (forward access
/// sessions, docs/services.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service's name (`s3`): `kms:ViaService` `<name>.<region>.amazonaws.com`,
    /// service principal `<name>.amazonaws.com`.
    pub name: String,
    /// The IAM user, or the role whose sessions, sign the service's own calls to Trent.
    pub principal: String,
    /// The SigV4 signing name of the requests its callers send it [default: `name`].
    pub signing_name: Option<String>,
}

/// The identity tables of the config file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdentitySpecs {
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
}

/// The signing names of Trent's own endpoints, which no service's callers sign for.
const RESERVED_SIGNING_NAMES: [&str; 4] = ["kms", "sts", "cloudtrail", "kms-xks-proxy"];

/// A service that may forward its callers' signed requests (`[[services]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdentity {
    /// `s3`.
    pub name: String,
    /// The SigV4 signing name of its callers' requests (`s3`).
    pub signing_name: String,
}

/// Who an access key authenticates, with what authorization needs to know about it.
#[derive(Debug)]
pub struct Identity {
    pub principal: Principal,
    pub policies: Arc<[Policy]>,
    pub tags: Arc<BTreeMap<String, String>>,
    /// An IAM user's unique id (`AIDA...`, `aws:userid`), derived once from its ARN.
    pub user_id: Option<Arc<str>>,
    /// Its policy principal and condition keys, built on its first request (a reload
    /// builds new identities, so it never outlives what it was built from).
    pub cache: Arc<trent_core::PrincipalCache>,
}

impl Identity {
    fn new(
        principal: Principal,
        policies: Arc<[Policy]>,
        tags: Arc<BTreeMap<String, String>>,
    ) -> Self {
        let user_id = (principal.kind == PrincipalKind::User)
            .then(|| Arc::from(trent_audit::unique_id("AIDA", &principal.arn)));
        Identity {
            principal,
            policies,
            tags,
            user_id,
            cache: Arc::default(),
        }
    }
}

/// A role that STS AssumeRole can hand out sessions of.
#[derive(Debug)]
pub struct Role {
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`
    pub arn: String,
    pub account_id: trent_wire::AccountId,
    /// `AROA...`, derived from the ARN: stable across restarts and nodes.
    pub role_id: String,
    pub trust_policy: Policy,
    pub max_session_seconds: u32,
    pub policies: Arc<[Policy]>,
    pub tags: Arc<BTreeMap<String, String>>,
}

/// The identities in force: replaced as a whole on SIGHUP.
#[derive(Debug, Default)]
pub struct Directory {
    keys: HashMap<String, (Arc<SecretKey>, Arc<Identity>)>,
    roles: HashMap<String, Arc<Role>>,
    /// `[[services]]`, by the ARN of the user or role that signs the service's calls.
    services: HashMap<String, Arc<ServiceIdentity>>,
    accounts: BTreeSet<String>,
    users: usize,
}

impl Directory {
    /// Builds the directory from the validated file tables and the store's access keys
    /// (the bootstrap administrator), refusing any clash between them.
    pub fn build(
        specs: &IdentitySpecs,
        store_keys: &[AccessKeyEntry],
        default_account: &str,
    ) -> Result<Directory, String> {
        let mut dir = Directory::default();
        dir.accounts.insert(default_account.to_owned());
        let admin_policy = Arc::<[Policy]>::from(vec![Policy::parse(
            ADMINISTRATOR_ACCESS,
            PolicyKind::IdentityPolicy,
        )
        .map_err(|e| format!("the AdministratorAccess policy: {e}"))?]);
        let mut store_principals = BTreeSet::new();
        for e in store_keys {
            let policies = match e.principal.kind {
                PrincipalKind::Root => Arc::from(Vec::new()),
                _ => admin_policy.clone(),
            };
            store_principals.insert(e.principal.arn.clone());
            dir.accounts.insert(e.principal.account_id.to_string());
            dir.keys.insert(
                e.access_key_id.clone(),
                (
                    Arc::new(SecretKey::new(
                        String::from_utf8_lossy(e.secret.expose()).into_owned(),
                    )),
                    Arc::new(Identity::new(e.principal.clone(), policies, Arc::default())),
                ),
            );
        }
        let store_key_ids: BTreeSet<String> = dir.keys.keys().cloned().collect();

        for (i, a) in specs.accounts.iter().enumerate() {
            let what = format!("[[accounts]] entry {} (id {:?})", i + 1, a.id);
            if !trent_core::is_account_id(&a.id) {
                return Err(format!("{what}: the account id must be 12 digits"));
            }
            if specs.accounts[..i].iter().any(|b| b.id == a.id) {
                return Err(format!("{what}: this account is listed twice"));
            }
            dir.accounts.insert(a.id.clone());
        }
        for a in &specs.accounts {
            let what = format!("[[accounts]] entry {:?}", a.id);
            let id = trent_wire::AccountId::parse(a.id.as_str())
                .map_err(|_| format!("{what}: the account id must be 12 digits"))?;
            let identity = Arc::new(Identity::new(
                Principal::account_root(&id),
                Arc::from(Vec::new()),
                Arc::default(),
            ));
            dir.add_keys(&what, &a.access_keys, &identity, &store_key_ids)?;
        }

        let mut seen = BTreeSet::new();
        for (i, u) in specs.users.iter().enumerate() {
            let what = format!("[[users]] entry {} ({:?})", i + 1, u.arn);
            let (account, _) =
                parse_iam_arn(&u.arn, ArnKind::User).map_err(|e| format!("{what}: {e}"))?;
            dir.check_account(&what, &account)?;
            if store_principals.contains(&u.arn) {
                return Err(format!(
                    "{what}: this is the bootstrap administrator of the data directory, which cannot be redefined in the config file"
                ));
            }
            if !seen.insert(u.arn.to_ascii_lowercase()) {
                return Err(format!("{what}: this user is listed twice"));
            }
            let principal = Principal::from_arn(&u.arn)
                .ok_or_else(|| format!("{what}: not an IAM user ARN"))?;
            let identity = Arc::new(Identity::new(
                principal,
                parse_policies(&what, &u.policies)?,
                Arc::new(check_tags(&what, &u.tags)?),
            ));
            dir.add_keys(&what, &u.access_keys, &identity, &store_key_ids)?;
            dir.users += 1;
        }

        for (i, r) in specs.roles.iter().enumerate() {
            let what = format!("[[roles]] entry {} ({:?})", i + 1, r.arn);
            let (account, name) =
                parse_iam_arn(&r.arn, ArnKind::Role).map_err(|e| format!("{what}: {e}"))?;
            dir.check_account(&what, &account)?;
            // Role names are unique in an account whatever their path (the session ARN
            // carries the name only).
            let key = format!("{account}:{}", name.to_ascii_lowercase());
            if !seen.insert(key) {
                return Err(format!(
                    "{what}: another role of account {account} has the name {name:?} (role names are unique in an account, whatever their path, and case-insensitive)"
                ));
            }
            let trust_policy = Policy::parse(&r.trust_policy, PolicyKind::TrustPolicy)
                .map_err(|e| format!("{what}: trust_policy: {e}"))?;
            let max = r
                .max_session_duration_seconds
                .unwrap_or(DEFAULT_MAX_SESSION_SECONDS);
            if !(DEFAULT_MAX_SESSION_SECONDS..=MAX_MAX_SESSION_SECONDS).contains(&max) {
                return Err(format!(
                    "{what}: max_session_duration_seconds {max} out of range (3600 to 43200)"
                ));
            }
            let role_id = match &r.id {
                None => trent_audit::unique_id("AROA", &r.arn),
                Some(id) => {
                    // IAM's unique ids: `[\w]+`, 16 to 128 characters; a role's start
                    // with AROA.
                    // <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids>
                    if !id.starts_with("AROA")
                        || !(16..=128).contains(&id.len())
                        || !id.bytes().all(|b| b.is_ascii_alphanumeric())
                    {
                        return Err(format!(
                            "{what}: id {id:?} must be AROA followed by letters and digits, 16 to 128 characters in all"
                        ));
                    }
                    id.clone()
                }
            };
            if dir.roles.values().any(|o| o.role_id == role_id) {
                return Err(format!(
                    "{what}: another role has the id {role_id:?} (role ids are unique)"
                ));
            }
            dir.roles.insert(
                r.arn.clone(),
                Arc::new(Role {
                    role_id,
                    arn: r.arn.clone(),
                    account_id: trent_wire::AccountId::parse(account)
                        .map_err(|_| format!("{what}: the account id must be 12 digits"))?,
                    trust_policy,
                    max_session_seconds: max,
                    policies: parse_policies(&what, &r.policies)?,
                    tags: Arc::new(check_tags(&what, &r.tags)?),
                }),
            );
        }

        for (i, svc) in specs.services.iter().enumerate() {
            let what = format!("[[services]] entry {} ({:?})", i + 1, svc.name);
            let signing_name = svc.signing_name.clone().unwrap_or_else(|| svc.name.clone());
            for (field, value) in [("name", &svc.name), ("signing_name", &signing_name)] {
                if value.is_empty()
                    || value.len() > 64
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(format!(
                        "{what}: {field} {value:?} must be 1 to 64 characters of a-z, 0-9 and -"
                    ));
                }
            }
            // Its callers sign for the service, never for Trent's own endpoints: a request
            // a principal sent to KMS (or STS, CloudTrail, the XKS proxy API) is not one a
            // service may relay as theirs.
            if RESERVED_SIGNING_NAMES.contains(&signing_name.as_str()) {
                return Err(format!(
                    "{what}: signing_name {signing_name:?} is one of Trent's own endpoints' (kms, sts, cloudtrail, kms-xks-proxy)"
                ));
            }
            // A user of the directory, or a role (its sessions sign): never an account's
            // root, nor an identity the directory does not know.
            let known = dir.roles.contains_key(&svc.principal)
                || specs.users.iter().any(|u| u.arn == svc.principal);
            if !known {
                return Err(format!(
                    "{what}: principal {:?} is neither a [[users]] nor a [[roles]] entry",
                    svc.principal
                ));
            }
            if dir.services.contains_key(&svc.principal) {
                return Err(format!(
                    "{what}: principal {:?} already signs for another service",
                    svc.principal
                ));
            }
            dir.services.insert(
                svc.principal.clone(),
                Arc::new(ServiceIdentity {
                    name: svc.name.clone(),
                    signing_name,
                }),
            );
        }
        Ok(dir)
    }

    /// The service `arn` (a user's ARN, or the role of a role session) signs for, if any.
    pub fn service_of(&self, arn: &str) -> Option<Arc<ServiceIdentity>> {
        self.services.get(arn).cloned()
    }

    fn check_account(&self, what: &str, account: &str) -> Result<(), String> {
        if self.accounts.contains(account) {
            Ok(())
        } else {
            Err(format!(
                "{what}: account {account} is neither the default account nor listed in [[accounts]]"
            ))
        }
    }

    fn add_keys(
        &mut self,
        what: &str,
        keys: &[AccessKeySpec],
        identity: &Arc<Identity>,
        store_key_ids: &BTreeSet<String>,
    ) -> Result<(), String> {
        for k in keys {
            if !(16..=128).contains(&k.id.len()) || !k.id.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!(
                    "{what}: access key id {:?} must be 16 to 128 characters of A-Z, a-z and 0-9",
                    k.id
                ));
            }
            if k.secret.0.expose().is_empty() {
                return Err(format!("{what}: access key {:?} has an empty secret", k.id));
            }
            if store_key_ids.contains(&k.id) {
                return Err(format!(
                    "{what}: access key id {:?} is the bootstrap administrator's",
                    k.id
                ));
            }
            if self.keys.contains_key(&k.id) {
                return Err(format!(
                    "{what}: access key id {:?} is used more than once",
                    k.id
                ));
            }
            self.keys.insert(
                k.id.clone(),
                (Arc::new(k.secret.0.clone()), Arc::clone(identity)),
            );
        }
        Ok(())
    }

    /// The secret and identity of a long-term access key.
    pub fn key(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, Arc<Identity>)> {
        self.keys.get(access_key_id).cloned()
    }

    pub fn role(&self, arn: &str) -> Option<Arc<Role>> {
        self.roles.get(arn).cloned()
    }

    /// `(accounts, users, roles, access keys)`, for the log.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.accounts.len(),
            self.users,
            self.roles.len(),
            self.keys.len(),
        )
    }
}

/// Checks `arn:aws:iam::ACCOUNT:KIND/PATH/NAME` with the policy crate's parser (the one
/// STS and the policies use too, so that a configured principal is always one they can
/// represent) and returns the account and the name.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html>
fn parse_iam_arn(arn: &str, kind: ArnKind) -> Result<(String, String), String> {
    let what = kind.resource_type();
    let expected = format!(
        "expected arn:aws:iam::ACCOUNT:{what}/NAME or arn:aws:iam::ACCOUNT:{what}/PATH/NAME"
    );
    let not_one = || format!("not an IAM {what} ARN: {expected}");
    let p = PrincipalArn::parse(arn).map_err(|e| match e {
        ArnError::NotAnArn | ArnError::ResourceType(_) => not_one(),
        e => format!("{e}: {expected}"),
    })?;
    if p.kind != kind {
        return Err(not_one());
    }
    Ok((p.account.to_owned(), p.name.to_owned()))
}

fn parse_policies(
    what: &str,
    policies: &BTreeMap<String, String>,
) -> Result<Arc<[Policy]>, String> {
    policies
        .iter()
        .map(|(name, json)| {
            if name.is_empty() || name.len() > 128 || !name.chars().all(is_name_char) {
                return Err(format!(
                    "{what}: policy name {name:?} must be 1 to 128 characters of letters, digits and +=,.@_-"
                ));
            }
            Policy::parse(json, PolicyKind::IdentityPolicy)
                .map_err(|e| format!("{what}: policy {name:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Arc::from)
}

/// IAM's tag limits: at most 50, keys 1–128 and values 0–256 characters, keys unique
/// case-insensitively.
fn check_tags(
    what: &str,
    tags: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    if tags.len() > 50 {
        return Err(format!("{what}: at most 50 tags"));
    }
    let mut lower = BTreeSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || !k.chars().all(is_tag_char) {
            return Err(format!(
                "{what}: tag key {k:?} must be 1 to 128 characters of letters, digits, spaces and _.:/=+-@"
            ));
        }
        if v.chars().count() > 256 || !v.chars().all(is_tag_char) {
            return Err(format!(
                "{what}: tag {k:?}: the value must be up to 256 characters of letters, digits, spaces and _.:/=+-@"
            ));
        }
        if !lower.insert(k.to_lowercase()) {
            return Err(format!(
                "{what}: tag key {k:?} is listed twice (tag keys are case-insensitive)"
            ));
        }
    }
    Ok(tags.clone())
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`
pub fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn specs(toml_text: &str) -> IdentitySpecs {
        toml::from_str(toml_text).unwrap()
    }

    fn build(toml_text: &str) -> Result<Directory, String> {
        Directory::build(&specs(toml_text), &[], ACCOUNT)
    }

    const ALLOW_ENCRYPT: &str = r#"'''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}'''"#;
    const TRUST_ALICE: &str = r#"'''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/engineering/alice"},"Action":"sts:AssumeRole"}]}'''"#;

    fn example() -> String {
        format!(
            r#"
[[accounts]]
id = "444455556666"
access_keys = [{{ id = "AKIAROOT444455556666", secret = "root-secret-1" }}]

[[users]]
arn = "arn:aws:iam::111122223333:user/engineering/alice"
access_keys = [{{ id = "AKIAALICE00000000001", secret = "alice-secret" }}]
tags = {{ team = "blue" }}
[users.policies]
encrypt = {ALLOW_ENCRYPT}

[[roles]]
arn = "arn:aws:iam::111122223333:role/app/encryptor"
trust_policy = {TRUST_ALICE}
max_session_duration_seconds = 7200
tags = {{ team = "red" }}
[roles.policies]
encrypt = {ALLOW_ENCRYPT}
"#
        )
    }

    #[test]
    fn services_name_a_configured_user_or_role_and_a_signing_name_of_their_own() {
        let service = |name: &str, principal: &str, signing: Option<&str>| {
            let signing = signing
                .map(|s| format!("signing_name = \"{s}\"\n"))
                .unwrap_or_default();
            format!(
                "{}\n[[services]]\nname = \"{name}\"\nprincipal = \"{principal}\"\n{signing}",
                example()
            )
        };
        let alice = "arn:aws:iam::111122223333:user/engineering/alice";
        let role = "arn:aws:iam::111122223333:role/app/encryptor";
        let dir = build(&service("s3", alice, None)).unwrap();
        let s3 = dir.service_of(alice).unwrap();
        assert_eq!((s3.name.as_str(), s3.signing_name.as_str()), ("s3", "s3"));
        let dir = build(&service("ebs", role, Some("ec2"))).unwrap();
        assert_eq!(dir.service_of(role).unwrap().signing_name, "ec2");
        assert!(dir.service_of(alice).is_none());
        for (text, needle) in [
            (
                service("s3", "arn:aws:iam::111122223333:user/ghost", None),
                "is neither a [[users]] nor a [[roles]] entry",
            ),
            (
                service("s3", "arn:aws:iam::111122223333:root", None),
                "is neither a [[users]] nor a [[roles]] entry",
            ),
            (service("S3", alice, None), "name \"S3\" must be"),
            (
                service("s3", alice, Some("kms")),
                "one of Trent's own endpoints'",
            ),
            (
                service("proxy", alice, Some("sts")),
                "one of Trent's own endpoints'",
            ),
            (
                format!(
                    "{}[[services]]\nname = \"sqs\"\nprincipal = \"{alice}\"\n",
                    service("s3", alice, None)
                ),
                "already signs for another service",
            ),
        ] {
            let err = build(&text).unwrap_err();
            assert!(
                err.contains("[[services]] entry") && err.contains(needle),
                "{err}"
            );
        }
    }

    #[test]
    fn the_documented_example_builds() {
        let dir = build(&example()).unwrap();
        let (secret, alice) = dir.key("AKIAALICE00000000001").unwrap();
        assert_eq!(secret.expose(), "alice-secret");
        assert_eq!(
            alice.principal.arn,
            "arn:aws:iam::111122223333:user/engineering/alice"
        );
        assert_eq!(alice.principal.kind, PrincipalKind::User);
        assert_eq!(alice.policies.len(), 1);
        assert_eq!(alice.tags.get("team").map(String::as_str), Some("blue"));
        let (_, root) = dir.key("AKIAROOT444455556666").unwrap();
        assert_eq!(
            root.principal,
            Principal::account_root(&trent_wire::AccountId::parse("444455556666").unwrap())
        );
        assert!(root.policies.is_empty());
        let role = dir
            .role("arn:aws:iam::111122223333:role/app/encryptor")
            .unwrap();
        assert_eq!(role.max_session_seconds, 7200);
        assert_eq!(role.role_id, trent_audit::unique_id("AROA", &role.arn));
        assert_eq!(dir.counts(), (2, 1, 1, 2));
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let s = specs(&example());
        let text = format!("{s:?}");
        assert!(
            !text.contains("alice-secret") && !text.contains("root-secret-1"),
            "{text}"
        );
        let dir = build(&example()).unwrap();
        let text = format!("{dir:?}");
        assert!(
            !text.contains("alice-secret") && !text.contains("root-secret-1"),
            "{text}"
        );
    }

    #[test]
    fn malformed_entries_are_refused_with_their_name() {
        let err = |t: &str| build(t).unwrap_err();
        let e = err(r#"[[users]]
arn = "arn:aws:iam::111122223333:alice""#);
        assert!(
            e.contains("[[users]] entry 1") && e.contains("not an IAM user ARN"),
            "{e}"
        );
        let e = err(r#"[[users]]
arn = "arn:aws:iam::1111:user/alice""#);
        assert!(e.contains("12 digits"), "{e}");
        // IAM's path pattern is `/` or `/[\u0021-\u007E]+/`: no space, nothing beyond ASCII.
        let e = err(r#"[[users]]
arn = "arn:aws:iam::111122223333:user/a b/alice""#);
        assert!(e.contains("[[users]] entry 1") && e.contains("path"), "{e}");
        let e = err(r#"[[users]]
arn = "arn:aws:iam::111122223333:user/é/alice""#);
        assert!(e.contains("path"), "{e}");
        let e = err(&format!(
            "[[users]]\narn = \"arn:aws:iam::111122223333:user/{}/alice\"",
            "p".repeat(511)
        ));
        assert!(e.contains("path"), "{e}");
        let e = err(&format!(
            "[[users]]\narn = \"arn:aws:iam::111122223333:user/{}\"",
            "n".repeat(65)
        ));
        assert!(e.contains("name") && e.contains("1 to 64"), "{e}");
        let e = err(r#"[[roles]]
arn = "arn:aws:iam::111122223333:role/app"
id = "AIDANOTAROLEID000001"
trust_policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}'"#);
        assert!(e.contains("role/app") && e.contains("id"), "{e}");
        // Any printable ASCII in a path is IAM's, so it is Trent's (and the policies').
        let dir = build(
            r#"[[users]]
arn = "arn:aws:iam::111122223333:user/x~y/a//b!/alice"
access_keys = [{ id = "AKIATILDE00000000001", secret = "t" }]"#,
        )
        .unwrap();
        let (_, tilde) = dir.key("AKIATILDE00000000001").unwrap();
        assert!(trent_policy::PrincipalContext::from_arn(&tilde.principal.arn).is_some());
        let e = err(r#"[[users]]
arn = "arn:aws:iam::111122223333:user/al ice""#);
        assert!(e.contains("name"), "{e}");
        let e = err(r#"[[users]]
arn = "arn:aws:iam::999999999999:user/alice""#);
        assert!(e.contains("account 999999999999"), "{e}");
        // Access key ids are unique across accounts, users and the store.
        let e = err(r#"[[accounts]]
id = "444455556666"
access_keys = [{ id = "AKIASAME000000000001", secret = "a" }]
[[users]]
arn = "arn:aws:iam::111122223333:user/bob"
access_keys = [{ id = "AKIASAME000000000001", secret = "b" }]"#);
        assert!(
            e.contains("used more than once") && e.contains("user/bob"),
            "{e}"
        );
        assert!(!e.contains("\"a\"") && !e.contains("\"b\""), "{e}");
        let admin = AccessKeyEntry {
            access_key_id: "AKIAADMIN00000000001".into(),
            secret: trent_crypto::SecretBytes::new(b"admin-secret".to_vec()),
            principal: Principal::from_arn("arn:aws:iam::111122223333:user/admin").unwrap(),
        };
        let e = Directory::build(
            &specs(
                r#"[[users]]
arn = "arn:aws:iam::111122223333:user/bob"
access_keys = [{ id = "AKIAADMIN00000000001", secret = "b" }]"#,
            ),
            std::slice::from_ref(&admin),
            ACCOUNT,
        )
        .unwrap_err();
        assert!(e.contains("bootstrap administrator"), "{e}");
        let e = Directory::build(
            &specs(
                r#"[[users]]
arn = "arn:aws:iam::111122223333:user/admin""#,
            ),
            std::slice::from_ref(&admin),
            ACCOUNT,
        )
        .unwrap_err();
        assert!(e.contains("bootstrap administrator"), "{e}");
        // Policies are parsed, with the policy's name and the parser's message.
        let e = err(r#"[[users]]
arn = "arn:aws:iam::111122223333:user/bob"
policies = { broken = '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}' }"#);
        assert!(
            e.contains("user/bob") && e.contains("policy \"broken\""),
            "{e}"
        );
        let e = err(r#"[[roles]]
arn = "arn:aws:iam::111122223333:role/r"
trust_policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}'"#);
        assert!(e.contains("role/r") && e.contains("trust_policy"), "{e}");
        let e = err(&format!(
            r#"[[roles]]
arn = "arn:aws:iam::111122223333:role/r"
trust_policy = {TRUST_ALICE}
max_session_duration_seconds = 100"#
        ));
        assert!(e.contains("max_session_duration_seconds"), "{e}");
        let e = err(&format!(
            r#"[[roles]]
arn = "arn:aws:iam::111122223333:role/a/r"
trust_policy = {TRUST_ALICE}
[[roles]]
arn = "arn:aws:iam::111122223333:role/b/R"
trust_policy = {TRUST_ALICE}"#
        ));
        assert!(e.contains("[[roles]] entry 2"), "{e}");
        let e = err(r#"[[users]]
arn = "arn:aws:iam::111122223333:user/bob"
tags = { "bad!key" = "x" }"#);
        assert!(e.contains("tag key"), "{e}");
        let e = err(r#"[[users]]
arn = "arn:aws:iam::111122223333:user/bob"
access_keys = [{ id = "short", secret = "b" }]"#);
        assert!(e.contains("16 to 128"), "{e}");
    }

    #[test]
    fn the_administrator_gets_administrator_access() {
        let admin = AccessKeyEntry {
            access_key_id: "AKIAADMIN00000000001".into(),
            secret: trent_crypto::SecretBytes::new(b"admin-secret".to_vec()),
            principal: Principal::from_arn("arn:aws:iam::111122223333:user/admin").unwrap(),
        };
        let dir = Directory::build(&IdentitySpecs::default(), &[admin], ACCOUNT).unwrap();
        let (_, id) = dir.key("AKIAADMIN00000000001").unwrap();
        assert_eq!(id.policies.len(), 1);
        let ctx = trent_policy::RequestContext::new(
            trent_policy::PrincipalContext::from_arn(&id.principal.arn).unwrap(),
            "cloudtrail:LookupEvents",
            "*",
        );
        let set = trent_policy::PolicySet {
            key_policy: None,
            key_account: ACCOUNT,
            identity_policies: &id.policies,
            grant_allows: false,
        };
        assert!(trent_policy::evaluate(&ctx, &set).is_allowed());
    }
}
