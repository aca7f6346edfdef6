//! Authorization as KMS decides it.
//!
//! - An explicit `Deny` that matches, in the key policy or in an identity policy of the
//!   caller, wins over everything, grants included.
//! - Otherwise the request is allowed when
//!   - the key policy allows the caller itself (its ARN, its role for a session, `*`,
//!     the root user when the root is named), or
//!   - the key policy allows the caller's account (`arn:aws:iam::ACCOUNT:root`, i.e.
//!     `"AWS": "ACCOUNT"`) — it delegates to that account's IAM — and an identity policy
//!     of the caller allows, or
//!   - a grant allows (the caller decides with [`crate::Grant::allows`]).
//! - A caller from another account than the key's additionally needs its own identity
//!   policies to allow, whichever way the key policy allows it (the account root of the
//!   other account needs none: it holds every permission of its account).
//! - Operations on no key (CreateKey, ListKeys, ...) need an identity policy that allows
//!   (or the account root).
//!
//! <https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html>
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html>
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>

use std::fmt;

use crate::context::{PrincipalKind, RequestContext};
use crate::error::PolicyError;
use crate::policy::{Effect, Policy, PrincipalMatch};

/// The policies that apply to one request.
#[derive(Debug, Clone, Copy)]
pub struct PolicySet<'a> {
    /// The key policy; `None` for operations on no key (CreateKey, ListKeys, ...).
    pub key_policy: Option<&'a Policy>,
    /// The account that owns the key (the account of the key ARN).
    pub key_account: &'a str,
    /// The caller's identity-based policies (those of the user, or of the role for a
    /// role session), from the caller's own account.
    pub identity_policies: &'a [Policy],
    /// Whether a grant on the key allows this request (see [`crate::Grant::allows`]).
    pub grant_allows: bool,
}

/// Which kind of policy an explicit deny came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// The key policy ("resource-based policy" in AWS's messages).
    KeyPolicy,
    /// An identity-based (IAM) policy of the caller.
    IdentityPolicy,
    /// The session policy passed to AssumeRole for the caller's role session.
    SessionPolicy,
}

/// Why nothing allowed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplicitDenyReason {
    /// The key policy allows neither the caller nor its account.
    NoResourceBasedPolicyAllows,
    /// The key policy delegates to the account (or, cross-account, allows the caller),
    /// but no identity policy of the caller allows the action.
    NoIdentityBasedPolicyAllows,
    /// The policies allow the action, but the session policy of the caller's role session
    /// does not.
    NoSessionPolicyAllows,
}

/// What allowed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedBy {
    KeyPolicy,
    /// The key policy delegating to the account plus an identity policy.
    KeyPolicyAndIdentityPolicy,
    /// An identity policy alone (operations on no key).
    IdentityPolicy,
    Grant,
    /// The account root on an operation on no key.
    AccountRoot,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow(AllowedBy),
    ExplicitDeny { source: PolicySource },
    ImplicitDeny { reason: ImplicitDenyReason },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// AWS's `AccessDeniedException` message for a denial, `None` for an allow.
    ///
    /// `User: arn:aws:iam::111122223333:user/bob is not authorized to perform:
    /// kms:Encrypt on resource: arn:aws:kms:...:key/... because no resource-based policy
    /// allows the kms:Encrypt action` (and "... with an explicit deny in a resource-based
    /// policy", "... with an explicit deny in an identity-based policy", "... because no
    /// identity-based policy allows the kms:Encrypt action").
    pub fn access_denied_message(&self, ctx: &RequestContext) -> Option<String> {
        let why: &dyn fmt::Display = match self {
            Decision::Allow(_) => return None,
            Decision::ExplicitDeny {
                source: PolicySource::KeyPolicy,
            } => &"with an explicit deny in a resource-based policy",
            Decision::ExplicitDeny {
                source: PolicySource::IdentityPolicy,
            } => &"with an explicit deny in an identity-based policy",
            Decision::ExplicitDeny {
                source: PolicySource::SessionPolicy,
            } => &"with an explicit deny in a session policy",
            Decision::ImplicitDeny {
                reason: ImplicitDenyReason::NoResourceBasedPolicyAllows,
            } => &format_args!(
                "because no resource-based policy allows the {} action",
                ctx.action
            ),
            Decision::ImplicitDeny {
                reason: ImplicitDenyReason::NoIdentityBasedPolicyAllows,
            } => &format_args!(
                "because no identity-based policy allows the {} action",
                ctx.action
            ),
            Decision::ImplicitDeny {
                reason: ImplicitDenyReason::NoSessionPolicyAllows,
            } => &format_args!("because no session policy allows the {} action", ctx.action),
        };
        Some(format!(
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            ctx.principal.arn, ctx.action, ctx.resource
        ))
    }
}

/// What one policy says about a request.
#[derive(Debug, Clone, Copy, Default)]
struct Verdict {
    deny: bool,
    /// The best principal match among matching Allow statements.
    allow: Option<PrincipalMatch>,
}

fn judge(policy: &Policy, ctx: &RequestContext) -> Verdict {
    let mut v = Verdict::default();
    for s in policy.statements() {
        let Some(pm) = s.principal_match(&ctx.principal) else {
            continue;
        };
        // An Allow that cannot improve on what we have is not worth its conditions.
        if s.effect == Effect::Allow && v.allow >= Some(pm) {
            continue;
        }
        if !s.matches_request(ctx) {
            continue;
        }
        match s.effect {
            Effect::Deny => {
                v.deny = true;
                return v;
            }
            Effect::Allow => v.allow = Some(pm),
        }
    }
    v
}

fn identity_verdict(policies: &[Policy], ctx: &RequestContext) -> Verdict {
    let mut v = Verdict::default();
    for p in policies {
        let pv = judge(p, ctx);
        if pv.deny {
            return pv;
        }
        v.allow = v.allow.max(pv.allow);
    }
    v
}

/// Decides one request. See the module documentation for the rules.
pub fn evaluate(ctx: &RequestContext, set: &PolicySet<'_>) -> Decision {
    let key = set.key_policy.map(|p| judge(p, ctx)).unwrap_or_default();
    if key.deny {
        return Decision::ExplicitDeny {
            source: PolicySource::KeyPolicy,
        };
    }
    let identity = identity_verdict(set.identity_policies, ctx);
    if identity.deny {
        return Decision::ExplicitDeny {
            source: PolicySource::IdentityPolicy,
        };
    }
    let is_root = ctx.principal.kind == PrincipalKind::Root;
    // The root user holds every permission of its own account without IAM policies.
    let identity_allows = is_root || identity.allow.is_some();

    let Some(_) = set.key_policy else {
        return if is_root {
            Decision::Allow(AllowedBy::AccountRoot)
        } else if identity.allow.is_some() {
            Decision::Allow(AllowedBy::IdentityPolicy)
        } else {
            Decision::ImplicitDeny {
                reason: ImplicitDenyReason::NoIdentityBasedPolicyAllows,
            }
        };
    };

    if set.grant_allows {
        return Decision::Allow(AllowedBy::Grant);
    }
    // A service principal named in the key policy needs nothing else; it has no IAM
    // policies of its own.
    let key_policy_suffices =
        ctx.principal.account == set.key_account || ctx.principal.kind == PrincipalKind::Service;
    match key.allow {
        None => Decision::ImplicitDeny {
            reason: ImplicitDenyReason::NoResourceBasedPolicyAllows,
        },
        Some(PrincipalMatch::Direct) if key_policy_suffices => {
            Decision::Allow(AllowedBy::KeyPolicy)
        }
        Some(_) if identity_allows => Decision::Allow(AllowedBy::KeyPolicyAndIdentityPolicy),
        Some(_) => Decision::ImplicitDeny {
            reason: ImplicitDenyReason::NoIdentityBasedPolicyAllows,
        },
    }
}

/// Narrows a decision by the session policy of a role session (the `Policy` passed to
/// AssumeRole), as IAM does: the session's permissions are those the other policies
/// grant *and* the session policy allows; an explicit deny in it denies. One exception:
/// a key policy that names the session's own ARN (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/
/// SESSION`, not the role) grants after the session was made, and the session policy
/// does not limit it.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>
pub fn limit_by_session_policy(
    decision: Decision,
    ctx: &RequestContext,
    session_policy: &Policy,
    key_policy: Option<&Policy>,
) -> Decision {
    if matches!(decision, Decision::ExplicitDeny { .. }) {
        return decision;
    }
    let session = judge(session_policy, ctx);
    if session.deny {
        return Decision::ExplicitDeny {
            source: PolicySource::SessionPolicy,
        };
    }
    match decision {
        Decision::Allow(_) if session.allow.is_some() => decision,
        Decision::Allow(AllowedBy::KeyPolicy)
            if key_policy.is_some_and(|p| allows_exact_principal(p, ctx)) =>
        {
            decision
        }
        Decision::Allow(_) => Decision::ImplicitDeny {
            reason: ImplicitDenyReason::NoSessionPolicyAllows,
        },
        other => other,
    }
}

/// Does an Allow statement of `policy` name the caller's own ARN and match the request?
fn allows_exact_principal(policy: &Policy, ctx: &RequestContext) -> bool {
    policy.statements().iter().any(|s| {
        s.effect == Effect::Allow && s.names_principal(&ctx.principal.arn) && s.matches_request(ctx)
    })
}

/// The policy-lockout safety check of CreateKey and PutKeyPolicy: would `policy` let
/// `caller` call `kms:PutKeyPolicy` on the key later? The key policy alone decides
/// (allowing the caller, or delegating to its account, without a matching Deny), as the
/// caller's IAM policies may change. `ctx` is the current request's context; its action
/// is taken as `kms:PutKeyPolicy`.
/// <https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-bypass-policy-lockout-safety-check>
pub fn check_lockout(policy: &Policy, ctx: &RequestContext) -> Result<(), PolicyError> {
    let mut probe = ctx.clone();
    probe.action = "kms:PutKeyPolicy".to_owned();
    let v = judge(policy, &probe);
    if v.deny || v.allow.is_none() {
        return Err(PolicyError::Lockout);
    }
    Ok(())
}

/// The key policy KMS attaches when CreateKey gets none: the account root may do
/// everything, which delegates to the account's IAM policies. Formatted as KMS returns
/// it from GetKeyPolicy.
/// <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html>
pub fn default_key_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyKind;

    #[test]
    fn default_policy_parses() {
        let p = Policy::parse(&default_key_policy("111122223333"), PolicyKind::KeyPolicy).unwrap();
        assert_eq!(p.id(), Some("key-default-1"));
        assert_eq!(
            p.aws_principals().collect::<Vec<_>>(),
            vec!["arn:aws:iam::111122223333:root"]
        );
    }
}
