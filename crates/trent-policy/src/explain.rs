//! Why a request was decided as it was, for the audit record of a denied request (and the
//! console's "Why was this denied?"): each policy that applied, each of its statements —
//! whether its principal matched the caller, and then whether its action, resource and
//! conditions matched the request — and the statement that decided, when one did (an
//! explicit deny). An implicit deny is decided by no statement: the reason says which kind
//! of policy had no allow.
//!
//! It is computed only for a request already decided (the hot path never pays for it) and
//! says nothing a policy reader could not see, but statement ids and positions only: never
//! a condition's values or the request's.

use serde_json::{json, Value};

use crate::context::RequestContext;
use crate::eval::{Decision, PolicySet, PolicySource};
use crate::policy::{Effect, Policy};

/// The explanation of `decision` (made by [`crate::evaluate`] on `set`, narrowed by
/// `session_policy` for a role session) as a JSON object.
pub fn explain(
    ctx: &RequestContext,
    set: &PolicySet<'_>,
    session_policy: Option<&Policy>,
    decision: Decision,
) -> Value {
    let decided_in = match decision {
        Decision::ExplicitDeny { source } => Some(source),
        _ => None,
    };
    let mut policies = Vec::new();
    let mut decided: Option<Value> = None;
    let mut trace = |kind: &str, index: Option<usize>, policy: &Policy, source: PolicySource| {
        let mut statements = Vec::new();
        for (i, s) in policy.statements().iter().enumerate() {
            let principal = s.principal_match(&ctx.principal).is_some();
            let request = principal && s.matches_request(ctx);
            let decides = decided.is_none()
                && decided_in == Some(source)
                && s.effect == Effect::Deny
                && request;
            if decides {
                let mut by = json!({ "policy": kind, "statement": i, "sid": s.sid });
                if let Some(index) = index {
                    by["policyIndex"] = json!(index);
                }
                decided = Some(by);
            }
            statements.push(json!({
                "statement": i,
                "sid": s.sid,
                "effect": match s.effect { Effect::Allow => "Allow", Effect::Deny => "Deny" },
                "principalMatched": principal,
                "requestMatched": request,
                "decided": decides,
            }));
        }
        let mut entry = json!({ "policy": kind, "statements": statements });
        if let Some(i) = index {
            entry["policyIndex"] = json!(i);
        }
        if let Some(id) = policy.id() {
            entry["id"] = json!(id);
        }
        policies.push(entry);
    };
    if let Some(key_policy) = set.key_policy {
        trace("KeyPolicy", None, key_policy, PolicySource::KeyPolicy);
    }
    for (i, p) in set.identity_policies.iter().enumerate() {
        trace("IdentityPolicy", Some(i), p, PolicySource::IdentityPolicy);
    }
    if let Some(session) = session_policy {
        trace("SessionPolicy", None, session, PolicySource::SessionPolicy);
    }
    let (kind, reason) = match decision {
        Decision::Allow(by) => ("Allow", format!("{by:?}")),
        Decision::ExplicitDeny { source } => ("ExplicitDeny", format!("{source:?}")),
        Decision::ImplicitDeny { reason } => ("ImplicitDeny", format!("{reason:?}")),
    };
    json!({
        "action": ctx.action,
        "resource": ctx.resource,
        "principal": ctx.principal.arn,
        "decision": kind,
        "reason": reason,
        "decidedBy": decided,
        "policies": policies,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::context::PrincipalContext;
    use crate::policy::PolicyKind;
    use crate::{evaluate, RequestContext};

    fn ctx(principal: &str) -> RequestContext {
        RequestContext::new(
            PrincipalContext::from_arn(principal).unwrap(),
            "kms:Encrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k",
        )
    }

    #[test]
    fn an_explicit_deny_names_its_statement_and_an_implicit_one_none() {
        let key = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
                {"Sid":"no-bob","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:Encrypt","Resource":"*"}]}"#,
            PolicyKind::KeyPolicy,
        )
        .unwrap();
        let set = PolicySet {
            key_policy: Some(&key),
            key_account: "111122223333",
            identity_policies: &[],
            grant_allows: false,
        };
        let bob = ctx("arn:aws:iam::111122223333:user/bob");
        let decision = evaluate(&bob, &set);
        let e = explain(&bob, &set, None, decision);
        assert_eq!(e["decision"], "ExplicitDeny");
        assert_eq!(e["decidedBy"]["sid"], "no-bob");
        assert_eq!(e["policies"][0]["statements"][1]["decided"], true);
        assert_eq!(e["policies"][0]["statements"][0]["principalMatched"], true);

        let alice = ctx("arn:aws:iam::111122223333:user/alice");
        let decision = evaluate(&alice, &set);
        let e = explain(&alice, &set, None, decision);
        assert_eq!(e["decision"], "ImplicitDeny");
        assert_eq!(e["reason"], "NoIdentityBasedPolicyAllows");
        assert!(e["decidedBy"].is_null());
        assert_eq!(e["policies"][0]["statements"][1]["principalMatched"], false);
        assert_eq!(e["policies"][0]["statements"][0]["requestMatched"], true);
    }
}
