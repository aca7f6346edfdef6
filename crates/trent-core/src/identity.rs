//! Who is calling: principals (account root, IAM users and roles) and their access keys.

use trent_crypto::SecretBytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `arn:aws:iam::ACCOUNT:root`
    Root,
    /// `arn:aws:iam::ACCOUNT:user/PATH/NAME`
    User,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`
    Role,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`
    AssumedRole,
}

/// An authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub arn: String,
    pub kind: PrincipalKind,
}

impl Principal {
    pub fn account_root(account_id: &str) -> Self {
        Principal {
            account_id: account_id.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            kind: PrincipalKind::Root,
        }
    }

    /// Parses an IAM/STS principal ARN; `None` if it is not one.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_partition), Some(service), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if !crate::is_account_id(account) {
            return None;
        }
        let kind = match (service, resource) {
            ("iam", "root") => PrincipalKind::Root,
            ("iam", r) if r.starts_with("user/") => PrincipalKind::User,
            ("iam", r) if r.starts_with("role/") => PrincipalKind::Role,
            ("sts", r) if r.starts_with("assumed-role/") => PrincipalKind::AssumedRole,
            _ => return None,
        };
        Some(Principal {
            account_id: account.to_owned(),
            arn: arn.to_owned(),
            kind,
        })
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The region of the request (from the SigV4 credential scope).
    pub region: String,
    pub access_key_id: String,
}

impl Caller {
    pub fn account_id(&self) -> &str {
        &self.principal.account_id
    }
}

/// An active access key with its (unsealed) secret, for SigV4 verification.
#[derive(Debug, Clone)]
pub struct AccessKeyEntry {
    pub access_key_id: String,
    pub secret: SecretBytes,
    pub principal: Principal,
}
