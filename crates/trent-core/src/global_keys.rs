//! The global condition keys (`aws:*`) of a request, built in this one place for every
//! protocol that authorizes: KMS (key policies, identity policies, grants) and STS
//! (AssumeRole's trust policy, LookupEvents and the test clock's identity policies).
//!
//! Which key a request has, and with which value, follows AWS's "AWS global condition
//! context keys" reference, key by key ("Availability"):
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>
//!
//! - `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType` and, for an IAM user,
//!   `aws:username`: every signed request; filled by [`trent_policy::RequestContext::new`]
//!   from the principal.
//! - `aws:userid`: every signed request; the account id for the account's root, the
//!   user's unique id (`AIDA...`) for an IAM user, `ROLEID:SESSION` for a role session
//!   ([`Caller::unique_id`]). A caller whose id cannot be formed has none: a condition on
//!   it then does not match, and `...IfExists`/`Null` see it absent.
//! - `aws:PrincipalTag/*`: the user's or role's tags (a session's over its role's).
//! - `aws:SourceIp`, `aws:UserAgent`: when the connection tells them;
//!   `aws:SecureTransport`: always.
//! - `aws:RequestedRegion`, `aws:CurrentTime`, `aws:EpochTime`: always.
//! - `aws:ViaAWSService`: always; `true` when a service calls on the principal's behalf
//!   (a forward access session, [`crate::ServiceCall`]), which also sets `aws:CalledVia`
//!   (the service principal, `s3.amazonaws.com`), `aws:CalledViaFirst` and
//!   `aws:CalledViaLast`, as AWS populates them for FAS requests. `aws:SourceIp` is then
//!   the principal's address as the service saw it ("the original requester's IP address
//!   is preserved"), and `aws:UserAgent` the service principal.
//! - `aws:PrincipalIsAWSService`: always, `false`: no service principal signs requests
//!   to Trent.
//! - `aws:MultiFactorAuthPresent`: only for temporary credentials (a role session), then
//!   `false` (Trent's sessions are never MFA-authenticated); absent for long-term access
//!   keys, as AWS leaves it ("not present in AWS CLI, AWS API, or AWS SDK requests that
//!   are made using long-term credentials"). `aws:MultiFactorAuthAge` is never present.
//! - `aws:TokenIssueTime`: only for temporary credentials (a role session).
//! - `aws:SourceIdentity`: a role session that has one (set by AssumeRole, kept across
//!   role chaining), in every request the session makes.

use std::sync::Arc;

use trent_policy::{ContextLayer, RequestContext};

use crate::{Caller, PrincipalKind, RoleSession};

impl Caller {
    /// The caller's unique id, `aws:userid` and STS GetCallerIdentity's `UserId`: the
    /// account id for the account's root, the unique id an IAM user was given when the
    /// identities were loaded (`AIDA...`), `ROLEID:SESSION` for a role session. `None`
    /// for a caller whose id cannot be formed (a user without its id, a role session
    /// without its session, a role itself as a caller).
    pub fn unique_id(&self) -> Option<String> {
        match (&self.principal.kind, self.attributes.session.as_deref()) {
            (PrincipalKind::Root, None) => Some(self.principal.account_id.to_string()),
            (PrincipalKind::User, None) => self.attributes.user_id.as_deref().map(str::to_owned),
            (
                PrincipalKind::AssumedRole,
                Some(RoleSession {
                    role_id,
                    session_name,
                    ..
                }),
            ) => Some(format!("{role_id}:{session_name}")),
            _ => None,
        }
    }

    /// The policy principal and the condition keys that follow from the caller alone
    /// (the principal's, its tags, `aws:userid`, a role session's), from the caller's
    /// [`crate::PrincipalCache`] when it has one; `None` for a caller the policies cannot
    /// represent.
    pub fn principal_keys(
        &self,
    ) -> Option<(
        Arc<trent_policy::PrincipalContext>,
        Arc<trent_policy::ContextLayer>,
    )> {
        let build = || {
            let principal = self.policy_principal()?;
            let mut layer = ContextLayer::of_principal(&principal);
            let a = &self.attributes;
            for (k, v) in a.principal_tags.iter() {
                layer.insert(&format!("aws:PrincipalTag/{k}"), v.as_str());
            }
            if let Some(id) = self.unique_id() {
                layer.insert_static("aws:userid", id);
            }
            // Temporary credentials: a role session (and only one that is what the
            // principal says it is).
            if let (PrincipalKind::AssumedRole, Some(s)) = (&self.principal.kind, &a.session) {
                layer.insert_static("aws:multifactorauthpresent", false);
                if let Some(t) = datetime(s.issued_at) {
                    layer.insert_static("aws:tokenissuetime", t);
                }
                if let Some(source) = &s.source_identity {
                    layer.insert_static("aws:sourceidentity", source.as_str());
                }
            }
            Some((Arc::new(principal), Arc::new(layer)))
        };
        match &self.attributes.principal_cache {
            Some(cache) => cache.0.get_or_init(build).clone(),
            None => build(),
        }
    }

    /// A request context for this caller calling `action` on `resource` at `now_millis`
    /// (Unix milliseconds), with every global condition key: the caller's (shared, see
    /// [`Caller::principal_keys`]) and the request's. `None` for a caller the policies
    /// cannot represent.
    pub fn request_context(
        &self,
        action: &str,
        resource: &str,
        now_millis: i64,
    ) -> Option<RequestContext> {
        let (principal, layer) = self.principal_keys()?;
        let mut ctx = RequestContext::with_layers(principal, action, resource, Some(layer), None);
        self.fill_request_keys(&mut ctx, now_millis);
        Some(ctx)
    }

    /// The global condition keys that vary with each request.
    fn fill_request_keys(&self, ctx: &mut RequestContext, now_millis: i64) {
        let a = &self.attributes;
        if let Some(ip) = a.source_ip {
            ctx.insert_static("aws:sourceip", ip);
        }
        ctx.insert_static("aws:securetransport", a.secure_transport);
        if let Some(ua) = &a.user_agent {
            ctx.insert_static("aws:useragent", ua.as_str());
        }
        ctx.insert_static("aws:requestedregion", self.region.as_str());
        if let Some(t) = datetime(now_millis) {
            ctx.insert_static("aws:currenttime", t);
        }
        ctx.insert_static("aws:epochtime", now_millis.div_euclid(1000));
        match &a.via {
            None => {
                ctx.insert_static("aws:viaawsservice", false);
            }
            Some(via) => {
                ctx.insert_static("aws:viaawsservice", true);
                let service = via.service_principal.as_str();
                ctx.insert_all("aws:CalledVia", [service]);
                ctx.insert_static("aws:calledviafirst", service);
                ctx.insert_static("aws:calledvialast", service);
            }
        }
        ctx.insert_static("aws:principalisawsservice", false);
    }
}

/// Unix milliseconds as a date, `None` out of its range.
pub(crate) fn datetime(unix_millis: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use trent_policy::ContextValue;

    use super::*;
    use crate::{CallerAttributes, Principal};

    const ACCOUNT: &str = "111122223333";

    fn caller(arn: &str, attributes: CallerAttributes) -> Caller {
        Caller {
            principal: Principal::from_arn(arn).unwrap(),
            region: trent_wire::Region::parse("eu-west-1").unwrap(),
            access_key_id: "AKIAEXAMPLE".into(),
            attributes,
        }
    }

    fn session(source_identity: Option<&str>) -> Arc<RoleSession> {
        Arc::new(RoleSession {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/app"),
            role_id: "AROAEXAMPLE0000000000".into(),
            session_name: "s1".into(),
            issued_at: 1_700_000_000_000,
            source_identity: source_identity.map(str::to_owned),
        })
    }

    fn keys(c: &Caller) -> RequestContext {
        c.request_context("kms:Encrypt", "*", 1_700_000_123_456)
            .unwrap()
    }

    fn string(ctx: &RequestContext, key: &str) -> Option<String> {
        match ctx.values(key)? {
            [ContextValue::String(s)] => Some(s.clone()),
            other => panic!("{key}: {other:?}"),
        }
    }

    fn boolean(ctx: &RequestContext, key: &str) -> Option<bool> {
        match ctx.values(key)? {
            [ContextValue::Bool(b)] => Some(*b),
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn root_user_and_role_session_keys() {
        let root = keys(&caller(
            &format!("arn:aws:iam::{ACCOUNT}:root"),
            CallerAttributes::default(),
        ));
        assert_eq!(string(&root, "aws:userid").as_deref(), Some(ACCOUNT));
        assert_eq!(
            string(&root, "aws:RequestedRegion").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(boolean(&root, "aws:ViaAWSService"), Some(false));
        assert_eq!(boolean(&root, "aws:PrincipalIsAWSService"), Some(false));
        assert_eq!(boolean(&root, "aws:SecureTransport"), Some(false));
        // Long-term credentials: no MFA key, no token, no source identity.
        for absent in [
            "aws:MultiFactorAuthPresent",
            "aws:MultiFactorAuthAge",
            "aws:TokenIssueTime",
            "aws:SourceIdentity",
            "aws:SourceIp",
            "aws:UserAgent",
        ] {
            assert!(root.values(absent).is_none(), "{absent}");
        }

        let user = keys(&caller(
            &format!("arn:aws:iam::{ACCOUNT}:user/alice"),
            CallerAttributes {
                user_id: Some(Arc::from("AIDAEXAMPLE0000000000")),
                ..Default::default()
            },
        ));
        assert_eq!(
            string(&user, "aws:userid").as_deref(),
            Some("AIDAEXAMPLE0000000000")
        );
        assert!(user.values("aws:MultiFactorAuthPresent").is_none());
        assert!(user.values("aws:TokenIssueTime").is_none());

        let arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/s1");
        for source in [None, Some("alice@example.com")] {
            let s = keys(&caller(
                &arn,
                CallerAttributes {
                    session: Some(session(source)),
                    ..Default::default()
                },
            ));
            assert_eq!(
                string(&s, "aws:userid").as_deref(),
                Some("AROAEXAMPLE0000000000:s1")
            );
            assert_eq!(boolean(&s, "aws:MultiFactorAuthPresent"), Some(false));
            assert!(s.values("aws:TokenIssueTime").is_some());
            assert_eq!(string(&s, "aws:SourceIdentity").as_deref(), source);
        }
    }

    #[test]
    fn a_caller_without_its_unique_id_has_no_aws_userid() {
        // A user whose id was not given, never another id in its place.
        let user = caller(
            &format!("arn:aws:iam::{ACCOUNT}:user/alice"),
            CallerAttributes::default(),
        );
        assert_eq!(user.unique_id(), None);
        assert!(keys(&user).values("aws:userid").is_none());
        // A session that does not match its principal's kind.
        let root_with_session = caller(
            &format!("arn:aws:iam::{ACCOUNT}:root"),
            CallerAttributes {
                session: Some(session(Some("x"))),
                ..Default::default()
            },
        );
        assert_eq!(root_with_session.unique_id(), None);
    }
}
