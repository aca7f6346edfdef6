//! Authentication: SigV4 over the access keys of the store, and the development switch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use trent_core::{AccessKeyEntry, Caller, Principal};
use trent_sigv4::{CredentialLookup, SecretKey, SigV4Error, Verifier};

/// AWS's allowed clock skew between client and service.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The access keys Trent knows, by access key id.
#[derive(Debug, Default)]
pub struct AccessKeys {
    keys: HashMap<String, (Arc<SecretKey>, Principal)>,
}

impl AccessKeys {
    pub fn new(entries: Vec<AccessKeyEntry>) -> Self {
        let keys = entries
            .into_iter()
            .filter_map(|e| {
                let secret = String::from_utf8(e.secret.expose().to_vec()).ok()?;
                Some((
                    e.access_key_id,
                    (Arc::new(SecretKey::new(secret)), e.principal),
                ))
            })
            .collect();
        AccessKeys { keys }
    }
}

impl CredentialLookup for AccessKeys {
    type Principal = Principal;

    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, Principal)> {
        self.keys.get(access_key_id).cloned()
    }
}

pub struct Authenticator {
    verifier: Verifier<AccessKeys>,
    dev_any_credentials: bool,
    default_account_id: String,
    /// `{"Effect":"Allow","Action":"*","Resource":"*"}`, parsed once.
    administrator_access: Arc<[trent_policy::Policy]>,
}

/// AWS's `AdministratorAccess` managed policy.
const ADMINISTRATOR_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

impl Authenticator {
    pub fn new(keys: AccessKeys, dev_any_credentials: bool, default_account_id: String) -> Self {
        Self::for_service(keys, "kms", dev_any_credentials, default_account_id)
    }

    /// For another signing name on the same endpoint (CloudTrail's `cloudtrail`).
    pub fn for_service(
        keys: AccessKeys,
        service: &str,
        dev_any_credentials: bool,
        default_account_id: String,
    ) -> Self {
        let administrator_access =
            trent_policy::Policy::parse(ADMINISTRATOR_ACCESS, trent_policy::PolicyKind::IdentityPolicy)
                .map(|p| Arc::from(vec![p]))
                .unwrap_or_else(|_| Arc::from(Vec::new()));
        Authenticator {
            verifier: Verifier::new(keys, service, CLOCK_SKEW),
            dev_any_credentials,
            default_account_id,
            administrator_access,
        }
    }

    pub fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Caller, SigV4Error> {
        if self.dev_any_credentials {
            let auth = self.verifier.check_unsigned(parts, now)?;
            // Known keys are still verified, so that their principal is really theirs.
            if self.verifier.lookup().lookup(&auth.access_key_id).is_none() {
                let account = if trent_core::is_account_id(&auth.access_key_id) {
                    auth.access_key_id.as_str()
                } else {
                    self.default_account_id.as_str()
                };
                return Ok(Caller {
                    principal: Principal::account_root(account),
                    region: auth.region,
                    access_key_id: auth.access_key_id,
                    keys_used: Default::default(),
                    attributes: Default::default(),
                });
            }
        }
        let v = self.verifier.verify(parts, body, now)?;
        // The bootstrap administrator holds AdministratorAccess.
        let attributes = if v.principal.arn
            == format!("arn:aws:iam::{}:user/admin", self.default_account_id)
        {
            trent_core::CallerAttributes {
                identity_policies: self.administrator_access.clone(),
                ..Default::default()
            }
        } else {
            Default::default()
        };
        Ok(Caller {
            principal: v.principal,
            region: v.region,
            access_key_id: v.access_key_id,
            keys_used: Default::default(),
            attributes,
        })
    }
}
