//! Does a grant allow a request?
//!
//! Grants are stored elsewhere; this is the matching rule. A grant only ever allows (an
//! explicit Deny in a policy still wins, see [`crate::evaluate`]). It allows a request
//! when the caller is its grantee principal (a role grantee covers the role's sessions),
//! the operation is one of its operations, and its constraints hold.
//!
//! Constraints apply only to operations that take an encryption context; in a
//! constraint, keys compare case-insensitively and values case-sensitively (KMS
//! `GrantConstraints` documentation).
//! <https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html>

use crate::context::{PrincipalContext, PrincipalKind};

/// The encryption context constraints of a grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantConstraints {
    /// The request's encryption context must be exactly these pairs.
    pub encryption_context_equals: Option<Vec<(String, String)>>,
    /// The request's encryption context must include these pairs.
    pub encryption_context_subset: Option<Vec<(String, String)>>,
}

/// The parts of a grant that decide whether it allows a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The grantee principal ARN (`arn:aws:iam::ACCOUNT:root`, a user, a role, an
    /// assumed-role session).
    pub grantee_principal: String,
    /// Grant operation names as in the API (`Encrypt`, `Decrypt`, `ReEncryptFrom`, ...).
    pub operations: Vec<String>,
    pub constraints: Option<GrantConstraints>,
}

/// The request encryption context seen by grant constraints.
pub type EncryptionContextPairs<'a> = &'a [(&'a str, &'a str)];

impl Grant {
    /// Is `principal` this grant's grantee? The grantee named as a role covers the
    /// role's sessions.
    pub fn is_grantee(&self, principal: &PrincipalContext) -> bool {
        if self.grantee_principal == principal.arn {
            return true;
        }
        matches!(&principal.kind, PrincipalKind::AssumedRole { role_arn } if *role_arn == self.grantee_principal)
    }

    /// Does the grant allow `operation` (the grant operation name, e.g. `Decrypt`, or the
    /// IAM action `kms:Decrypt`) by `principal`? `encryption_context` is the request's
    /// encryption context for operations that take one, `None` for the others (their
    /// constraints are not applied).
    pub fn allows(
        &self,
        principal: &PrincipalContext,
        operation: &str,
        encryption_context: Option<EncryptionContextPairs<'_>>,
    ) -> bool {
        let op = operation.strip_prefix("kms:").unwrap_or(operation);
        if !self.is_grantee(principal) || !self.operations.iter().any(|o| o == op) {
            return false;
        }
        match (&self.constraints, encryption_context) {
            (Some(c), Some(ec)) => constraints_hold(c, ec),
            _ => true,
        }
    }
}

fn has_pair(ec: EncryptionContextPairs<'_>, k: &str, v: &str) -> bool {
    ec.iter()
        .any(|(rk, rv)| rk.eq_ignore_ascii_case(k) && *rv == v)
}

fn constraints_hold(c: &GrantConstraints, ec: EncryptionContextPairs<'_>) -> bool {
    if let Some(eq) = &c.encryption_context_equals {
        let all_in = eq.iter().all(|(k, v)| has_pair(ec, k, v));
        let nothing_else = ec.iter().all(|(k, v)| {
            eq.iter()
                .any(|(ck, cv)| ck.eq_ignore_ascii_case(k) && cv == v)
        });
        if !(all_in && nothing_else) {
            return false;
        }
    }
    if let Some(sub) = &c.encryption_context_subset {
        if !sub.iter().all(|(k, v)| has_pair(ec, k, v)) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(constraints: Option<GrantConstraints>) -> Grant {
        Grant {
            grantee_principal: "arn:aws:iam::111122223333:role/app".into(),
            operations: vec!["Encrypt".into(), "Decrypt".into()],
            constraints,
        }
    }

    fn session() -> PrincipalContext {
        PrincipalContext::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/app/s1",
            "arn:aws:iam::111122223333:role/app",
        )
        .unwrap()
    }

    fn pairs(p: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn grantee_and_operations() {
        let g = grant(None);
        assert!(g.allows(&session(), "Decrypt", None));
        assert!(g.allows(&session(), "kms:Encrypt", Some(&[])));
        assert!(!g.allows(&session(), "GenerateDataKey", None));
        let other = PrincipalContext::from_arn("arn:aws:iam::111122223333:user/app").unwrap();
        assert!(!g.allows(&other, "Decrypt", None));
        let root = PrincipalContext::root("111122223333");
        assert!(!g.allows(&root, "Decrypt", None));
    }

    #[test]
    fn equals_constraint() {
        let g = grant(Some(GrantConstraints {
            encryption_context_equals: Some(pairs(&[("Project", "alpha")])),
            encryption_context_subset: None,
        }));
        let p = session();
        assert!(g.allows(&p, "Decrypt", Some(&[("Project", "alpha")])));
        // Keys are case-insensitive in constraints, values are not.
        assert!(g.allows(&p, "Decrypt", Some(&[("project", "alpha")])));
        assert!(!g.allows(&p, "Decrypt", Some(&[("Project", "Alpha")])));
        assert!(!g.allows(&p, "Decrypt", Some(&[("Project", "alpha"), ("x", "y")])));
        assert!(!g.allows(&p, "Decrypt", Some(&[])));
        // Operations without an encryption context are not constrained.
        assert!(g.allows(&p, "Decrypt", None));
    }

    #[test]
    fn subset_constraint() {
        let g = grant(Some(GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(pairs(&[("a", "1"), ("b", "2")])),
        }));
        let p = session();
        assert!(g.allows(&p, "Encrypt", Some(&[("b", "2"), ("a", "1"), ("c", "3")])));
        assert!(!g.allows(&p, "Encrypt", Some(&[("a", "1")])));
        assert!(!g.allows(&p, "Encrypt", Some(&[("a", "1"), ("b", "3")])));
    }
}
