//! Why a policy document is refused.
//!
//! Messages are AWS's where AWS's wording is known:
//! - KMS (`MalformedPolicyDocumentException`): "Policy contains a statement with no
//!   principal.", "Policy contains a statement with one or more invalid principals.",
//!   "The new key policy will not allow you to update the key policy in the future."
//!   (recorded CreateKey/PutKeyPolicy responses;
//!   <https://repost.aws/knowledge-center/kms-policy-error-invalid-principals>).
//! - IAM (`MalformedPolicyDocument`): "Syntax errors in policy.", "Unknown field X",
//!   "Has prohibited field Principal", "Has prohibited field Resource", "Policy document must
//!   be version 2012-10-17 or greater.", "Policy statement
//!   must contain actions.", "Policy statement must contain resources.", "Statement IDs
//!   (SID) in a single policy must be unique.", "Statement IDs (SID) must be
//!   alpha-numeric. ...", "Actions/Conditions must be prefaced by a
//!   vendor, e.g., iam, sdb, ec2, etc.", "The policy failed legacy parsing", 'Invalid
//!   principal in policy: "AWS":"x"' (recorded IAM responses, also reproduced by moto's
//!   `moto/iam/policy_validation.py`).
//!
//! Where AWS's exact text is not known the message is written in the same style; those
//! are marked "(Trent's wording)" on the variant.

use crate::PolicyKind;

/// The KMS key policy size quota: 32 KiB.
/// <https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html>
pub const KEY_POLICY_MAX_BYTES: usize = 32_768;

/// Which AWS error a [`PolicyError`] becomes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyErrorCode {
    /// `MalformedPolicyDocumentException` (KMS) / `MalformedPolicyDocument` (IAM).
    MalformedPolicyDocument,
    /// `LimitExceededException`: KMS returns it for a key policy over the size quota
    /// (CreateKey/PutKeyPolicy `Policy` documentation).
    LimitExceeded,
}

/// A refused policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The key policy is larger than [`KEY_POLICY_MAX_BYTES`]. (Trent's wording.)
    #[error(
        "The key policy exceeds the maximum allowed size of {limit} bytes ({len} bytes given)."
    )]
    TooLarge { len: usize, limit: usize },
    /// Not JSON, not an object, an element of the wrong JSON type, a missing or empty
    /// `Statement`, an unsupported `Version`, an unknown condition operator, both
    /// `Action` and `NotAction`, ... IAM answers all of these with one message.
    #[error("Syntax errors in policy.")]
    Syntax { detail: SyntaxDetail },
    /// An element name that IAM's grammar does not have (element names are
    /// case-sensitive, so `"statement"` is unknown too).
    #[error("Unknown field {name}")]
    UnknownField { name: String },
    /// `Effect` written in another case than `Allow`/`Deny`, or a date condition value
    /// that is neither ISO 8601 nor epoch seconds.
    #[error("The policy failed legacy parsing")]
    LegacyParsing,
    /// A JSON object with the same name twice (`"Effect":"Deny","Effect":"Allow"`): JSON
    /// leaves its meaning to the reader, so what is shown and what is enforced could
    /// differ. AWS documents no message for it. (Trent's wording.)
    #[error("The policy document has the field {key} more than once in the same JSON object.")]
    DuplicateKey { key: String },
    #[error("Statement IDs (SID) in a single policy must be unique.")]
    DuplicateSid { sid: String },
    /// An identity-based policy `Sid` with other characters than letters and digits
    /// (key and trust policies take any string).
    #[error("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*")]
    InvalidSid { sid: String },
    /// A key policy statement without `Principal`/`NotPrincipal`.
    #[error("Policy contains a statement with no principal.")]
    NoPrincipal,
    /// A role trust policy statement without `Principal`/`NotPrincipal`.
    #[error("Missing required field Principal")]
    MissingPrincipal,
    /// A key policy principal that is not `*`, an account id, or an IAM/STS principal ARN
    /// without wildcards, or a principal type KMS does not take.
    #[error("Policy contains a statement with one or more invalid principals.")]
    InvalidPrincipal { principal: String },
    /// A role trust policy principal that is not valid.
    #[error("Invalid principal in policy: \"{principal_type}\":\"{principal}\"")]
    InvalidTrustPrincipal {
        principal_type: String,
        principal: String,
    },
    /// `Principal`/`NotPrincipal` in an identity-based policy, `Resource`/`NotResource`
    /// in a role trust policy.
    #[error("Has prohibited field {field}")]
    ProhibitedField { field: &'static str },
    /// An identity-based policy without `"Version": "2012-10-17"`.
    #[error("Policy document must be version 2012-10-17 or greater.")]
    VersionTooOld,
    #[error("Policy statement must contain actions.")]
    MissingAction,
    #[error("Policy statement must contain resources.")]
    MissingResource,
    /// An action or a condition key without `vendor:`.
    #[error("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")]
    MissingVendor { name: String },
    #[error("Actions/Condition can contain only one colon.")]
    ActionWithTwoColons { action: String },
    #[error("Vendor {vendor} is not valid")]
    InvalidVendor { vendor: String },
    /// A role trust policy action outside `sts:`. (Trent's wording.)
    #[error("Policy statement action {action} is not valid in a role trust policy; only sts actions are.")]
    NonStsActionInTrustPolicy { action: String },
    #[error("Resource {resource} must be in ARN format or \"*\".")]
    InvalidResource { resource: String },
    /// The policy-lockout safety check failed (CreateKey/PutKeyPolicy without
    /// `BypassPolicyLockoutSafetyCheck`).
    #[error("The new key policy will not allow you to update the key policy in the future.")]
    Lockout,
}

/// What exactly was wrong, for logs and tests; the client only sees the AWS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxDetail {
    InvalidJson,
    NotAnObject,
    WrongType { element: &'static str },
    UnsupportedVersion { version: String },
    MissingStatement,
    EmptyStatement,
    MissingEffect,
    InvalidEffect { effect: String },
    ActionAndNotAction,
    ResourceAndNotResource,
    PrincipalAndNotPrincipal,
    UnknownConditionOperator { operator: String },
    EmptyConditionValues { operator: String, key: String },
    InvalidConditionValue { operator: String, value: String },
}

impl PolicyError {
    /// The AWS error this becomes.
    pub fn code(&self) -> PolicyErrorCode {
        match self {
            PolicyError::TooLarge { .. } => PolicyErrorCode::LimitExceeded,
            _ => PolicyErrorCode::MalformedPolicyDocument,
        }
    }

    pub(crate) fn syntax(detail: SyntaxDetail) -> Self {
        PolicyError::Syntax { detail }
    }

    pub(crate) fn invalid_principal(kind: PolicyKind, ptype: &str, principal: &str) -> Self {
        match kind {
            PolicyKind::TrustPolicy => PolicyError::InvalidTrustPrincipal {
                principal_type: ptype.to_owned(),
                principal: principal.to_owned(),
            },
            _ => PolicyError::InvalidPrincipal {
                principal: principal.to_owned(),
            },
        }
    }
}
