//! Who is calling: principals (account root, IAM users and roles) and their access keys.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_wire::{AccountId, Region};

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
    pub account_id: AccountId,
    pub arn: String,
    pub kind: PrincipalKind,
}

impl Principal {
    pub fn account_root(account_id: &AccountId) -> Self {
        Principal {
            account_id: account_id.clone(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            kind: PrincipalKind::Root,
        }
    }

    /// Parses an IAM/STS principal ARN with the policy crate's parser (the one every part
    /// of Trent shares, accepting exactly what IAM does); `None` if it is not a root,
    /// user, role or role session ARN.
    pub fn from_arn(arn: &str) -> Option<Self> {
        use trent_policy::ArnKind;
        let p = trent_policy::PrincipalArn::parse(arn).ok()?;
        let kind = match p.kind {
            ArnKind::Root => PrincipalKind::Root,
            ArnKind::User => PrincipalKind::User,
            ArnKind::Role => PrincipalKind::Role,
            ArnKind::AssumedRole => PrincipalKind::AssumedRole,
            ArnKind::FederatedUser => return None,
        };
        Some(Principal {
            account_id: AccountId::parse(p.account).ok()?,
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
    pub region: Region,
    pub access_key_id: String,
    /// What authorization needs to know about the caller besides its ARN.
    pub attributes: CallerAttributes,
}

/// What authorization knows about a caller beyond its ARN: resolved at authentication from
/// the identity directory (the configuration) or the caller's STS session, and from the
/// connection.
#[derive(Debug, Clone, Default)]
pub struct CallerAttributes {
    /// The identity-based (IAM) policies of the user, or of the role for a role session,
    /// parsed once when the configuration was loaded.
    pub identity_policies: Arc<[trent_policy::Policy]>,
    /// `aws:PrincipalTag/*`: the user's or role's tags, with a session's tags over them.
    pub principal_tags: Arc<BTreeMap<String, String>>,
    /// Set for a role session (`PrincipalKind::AssumedRole`).
    pub session: Option<Arc<RoleSession>>,
    /// The session policy a role session was created with (AssumeRole's `Policy`), parsed
    /// once when its token was first opened: it narrows the session's permissions.
    pub session_policy: Option<Arc<trent_policy::Policy>>,
    /// An IAM user's unique id (`AIDA...`), derived once when the identities were loaded:
    /// `aws:userid` and STS's `UserId` ([`Caller::unique_id`]). Set for every user.
    pub user_id: Option<Arc<str>>,
    /// `aws:SourceIp`: the client's address.
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`: the request came over TLS.
    pub secure_transport: bool,
    /// `aws:UserAgent`.
    pub user_agent: Option<String>,
    /// Set when an AWS service calls on the principal's behalf (a forward access session:
    /// a configured service identity forwarded the principal's own signed request).
    pub via: Option<Arc<ServiceCall>>,
    /// What authorization derives from the principal alone, computed on the first request
    /// and shared by the next ones: set by whoever keeps the identity (the identity
    /// directory, rebuilt whenever the identities change); `None` computes it per request.
    pub principal_cache: Option<Arc<PrincipalCache>>,
}

/// The policy principal of an identity and its condition keys (`aws:PrincipalArn`,
/// `aws:PrincipalTag/*`, `aws:userid`, ...), built once for all its requests
/// ([`CallerAttributes::principal_cache`]).
#[derive(Debug, Default)]
pub struct PrincipalCache(
    pub(crate)  std::sync::OnceLock<
        Option<(
            Arc<trent_policy::PrincipalContext>,
            Arc<trent_policy::ContextLayer>,
        )>,
    >,
);

/// An AWS service calling KMS on a principal's behalf, as AWS services do with forward
/// access sessions (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access_forward_access_sessions.html>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCall {
    /// Its service principal (`s3.amazonaws.com`): `aws:CalledVia`, `aws:CalledViaFirst`
    /// and `aws:CalledViaLast`, and the audit event's `userIdentity.invokedBy`,
    /// `sourceIPAddress` and `userAgent`.
    pub service_principal: String,
    /// `kms:ViaService`: the service's endpoint in the request's region
    /// (`s3.us-east-1.amazonaws.com`).
    pub via_service: String,
    /// The service's name (`s3`): the `alias/aws/<name>` AWS managed key it may create.
    pub name: String,
}

impl ServiceCall {
    /// The call of the service `name` (`s3`) in `region`.
    pub fn new(name: &str, region: &str) -> ServiceCall {
        ServiceCall {
            service_principal: format!("{name}.amazonaws.com"),
            via_service: format!("{name}.{region}.amazonaws.com"),
            name: name.to_owned(),
        }
    }
}

/// A role session created by STS AssumeRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSession {
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME` (with its path; the session ARN has none).
    pub role_arn: String,
    /// The role's unique id (`AROA...`), for `principalId` `AROA...:SESSION`.
    pub role_id: String,
    pub session_name: String,
    /// When the session's credentials were issued (Unix milliseconds):
    /// `aws:TokenIssueTime`, and the audit trail's `sessionContext.attributes.creationDate`.
    pub issued_at: i64,
    /// The principal that called AssumeRole (the audit trail's `sessionIssuer` is the role).
    pub source_identity: Option<String>,
}

impl Caller {
    pub fn account_id(&self) -> &AccountId {
        &self.principal.account_id
    }

    /// The caller as the policy evaluator sees it; `None` when the policy crate cannot
    /// represent it (an ARN it does not parse, a role session without its role, a role
    /// itself as a caller). Such a caller is denied whatever it asks: it is never
    /// replaced by a broader principal such as its account's root.
    pub fn policy_principal(&self) -> Option<trent_policy::PrincipalContext> {
        let p = &self.principal;
        let ctx = match (&p.kind, &self.attributes.session) {
            (PrincipalKind::AssumedRole, Some(s)) => {
                trent_policy::PrincipalContext::assumed_role(&p.arn, &s.role_arn)
            }
            (PrincipalKind::Root | PrincipalKind::User, None) => {
                trent_policy::PrincipalContext::from_arn(&p.arn)
            }
            _ => None,
        }?;
        // The parsed ARN must agree with what authentication said about the caller.
        let same_kind = matches!(
            (&p.kind, &ctx.kind),
            (PrincipalKind::Root, trent_policy::PrincipalKind::Root)
                | (PrincipalKind::User, trent_policy::PrincipalKind::User)
                | (
                    PrincipalKind::AssumedRole,
                    trent_policy::PrincipalKind::AssumedRole { .. }
                )
        );
        (same_kind && ctx.account == p.account_id).then_some(ctx)
    }

    /// [`Caller::policy_principal`], or the `AccessDeniedException` of a caller that
    /// cannot be represented (AWS's message without a reason: no policy is to blame).
    pub fn policy_principal_for(
        &self,
        action: &str,
        resource: &str,
    ) -> Result<trent_policy::PrincipalContext, crate::KmsError> {
        self.policy_principal()
            .ok_or_else(|| self.unrepresentable(action, resource))
    }

    /// The refusal of a caller the policies cannot represent.
    pub fn unrepresentable(&self, action: &str, resource: &str) -> crate::KmsError {
        crate::KmsError::AccessDenied {
            message: format!(
                "User: {} is not authorized to perform: {action} on resource: {resource}",
                self.principal.arn
            ),
        }
    }

    /// Decides a request for this caller as IAM does: [`trent_policy::evaluate`],
    /// narrowed by the session policy of a role session.
    pub fn evaluate(
        &self,
        ctx: &trent_policy::RequestContext,
        set: &trent_policy::PolicySet<'_>,
    ) -> trent_policy::Decision {
        let decision = trent_policy::evaluate(ctx, set);
        match &self.attributes.session_policy {
            Some(session) => {
                trent_policy::limit_by_session_policy(decision, ctx, session, set.key_policy)
            }
            None => decision,
        }
    }
}

/// An active access key with its (unsealed) secret, for SigV4 verification.
#[derive(Debug, Clone)]
pub struct AccessKeyEntry {
    pub access_key_id: String,
    pub secret: SecretBytes,
    pub principal: Principal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_arns() {
        let kind = |arn: &str| Principal::from_arn(arn).map(|p| (p.kind, p.account_id));
        let acct = || AccountId::parse("111122223333").unwrap();
        assert_eq!(
            kind("arn:aws:iam::111122223333:root"),
            Some((PrincipalKind::Root, acct()))
        );
        assert_eq!(
            kind("arn:aws:iam::111122223333:user/ops/admin"),
            Some((PrincipalKind::User, acct()))
        );
        assert_eq!(
            kind("arn:aws:iam::111122223333:role/app"),
            Some((PrincipalKind::Role, acct()))
        );
        assert_eq!(
            kind("arn:aws:sts::111122223333:assumed-role/app/session"),
            Some((PrincipalKind::AssumedRole, acct()))
        );
        // IAM ARNs have no region; accounts have 12 digits; only IAM/STS principals.
        assert_eq!(kind("arn:aws:iam:us-east-1:111122223333:root"), None);
        assert_eq!(kind("arn:aws:iam::1111:root"), None);
        assert_eq!(kind("arn:aws:kms::111122223333:root"), None);
        assert_eq!(kind("arn:aws:iam::111122223333:group/x"), None);
        assert_eq!(kind("not-an-arn"), None);
        // Any printable ASCII in a path, as IAM allows; names by IAM's rules.
        assert_eq!(
            kind("arn:aws:iam::111122223333:user/x~y/alice"),
            Some((PrincipalKind::User, acct()))
        );
        assert_eq!(kind("arn:aws:iam::111122223333:user/x y/alice"), None);
        assert_eq!(kind("arn:aws:iam::111122223333:user/al~ice"), None);
    }

    fn caller(principal: Principal, session: Option<RoleSession>) -> Caller {
        Caller {
            principal,
            region: trent_wire::Region::parse("us-east-1").unwrap(),
            access_key_id: "AKIAEXAMPLE".into(),
            attributes: CallerAttributes {
                session: session.map(Arc::new),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_principal_the_policies_cannot_represent_is_nobody() {
        let p = |arn: &str, kind| Principal {
            account_id: AccountId::parse("111122223333").unwrap(),
            arn: arn.into(),
            kind,
        };
        let ok = caller(
            p(
                "arn:aws:iam::111122223333:user/x~y/alice",
                PrincipalKind::User,
            ),
            None,
        );
        assert_eq!(
            ok.policy_principal().map(|c| c.arn),
            Some("arn:aws:iam::111122223333:user/x~y/alice".to_owned())
        );
        // Never the account's root instead.
        for bad in [
            p(
                "arn:aws:iam::111122223333:user/x y/alice",
                PrincipalKind::User,
            ),
            p("arn:aws:iam::111122223333:user/alice", PrincipalKind::Root),
            p("arn:aws:iam::444455556666:user/alice", PrincipalKind::User),
            p("arn:aws:iam::111122223333:role/app", PrincipalKind::Role),
            p(
                "arn:aws:sts::111122223333:assumed-role/app/s1",
                PrincipalKind::AssumedRole,
            ),
        ] {
            let c = caller(bad, None);
            assert!(c.policy_principal().is_none(), "{:?}", c.principal);
            let e = c.policy_principal_for("kms:CreateKey", "*").unwrap_err();
            assert!(matches!(e, crate::KmsError::AccessDenied { .. }));
        }
        let session = RoleSession {
            role_arn: "arn:aws:iam::111122223333:role/other".into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: "s1".into(),
            issued_at: 0,
            source_identity: None,
        };
        let c = caller(
            p(
                "arn:aws:sts::111122223333:assumed-role/app/s1",
                PrincipalKind::AssumedRole,
            ),
            Some(session),
        );
        assert!(c.policy_principal().is_none());
    }
}
