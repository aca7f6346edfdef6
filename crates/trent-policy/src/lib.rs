//! # trent-policy — the IAM policy language, as AWS KMS enforces it
//!
//! This crate parses key policies, IAM identity policies and role trust policies into a
//! compiled form (with AWS's `MalformedPolicyDocumentException` messages for bad
//! documents), and evaluates a request against the key policy, the caller's identity
//! policies and the outcome of its grants with KMS's authorization logic, returning a
//! [`Decision`] from which AWS's `AccessDeniedException` message is rendered.
//!
//! It is pure: it must never do I/O, keep global state, depend on other Trent crates,
//! block or spawn, log, or panic on any input. Callers parse a policy once (when it is
//! stored or loaded) and keep the [`Policy`].
//!
//! ## Using it
//!
//! ```
//! use trent_policy::{
//!     check_lockout, default_key_policy, evaluate, Decision, Policy, PolicyKind, PolicySet,
//!     PrincipalContext, RequestContext,
//! };
//!
//! let account = "111122223333";
//! let key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
//!
//! // CreateKey without a policy: the default key policy delegates to the account's IAM.
//! let key_policy = Policy::parse(&default_key_policy(account), PolicyKind::KeyPolicy)?;
//!
//! // Identity policies come from the configuration, parsed once.
//! let alice_policies = vec![Policy::parse(
//!     r#"{"Version": "2012-10-17",
//!         "Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
//!                       "Condition": {"StringEquals": {"kms:EncryptionContext:project": "alpha"}}}}"#,
//!     PolicyKind::IdentityPolicy,
//! )?];
//!
//! // Per request: who, what, on which key, and the condition keys.
//! let alice = PrincipalContext::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
//! let mut ctx = RequestContext::new(alice, "kms:Encrypt", key_arn);
//! ctx.insert_encryption_context([("project", "alpha")]);
//! ctx.insert("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
//!
//! let set = PolicySet {
//!     key_policy: Some(&key_policy),
//!     key_account: account,
//!     identity_policies: &alice_policies,
//!     grant_allows: false, // from trent_policy::Grant::allows over the key's grants
//! };
//! assert!(evaluate(&ctx, &set).is_allowed());
//!
//! // Another project: denied, with AWS's message.
//! ctx.insert_encryption_context([("project", "beta")]);
//! let decision = evaluate(&ctx, &set);
//! assert_eq!(
//!     decision.access_denied_message(&ctx).unwrap(),
//!     format!("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
//!              kms:Encrypt on resource: {key_arn} because no identity-based policy allows \
//!              the kms:Encrypt action")
//! );
//!
//! // PutKeyPolicy: the lockout safety check, unless BypassPolicyLockoutSafetyCheck.
//! let root = RequestContext::new(PrincipalContext::root(account), "kms:PutKeyPolicy", key_arn);
//! assert!(check_lockout(&key_policy, &root).is_ok());
//! # Ok::<(), trent_policy::PolicyError>(())
//! ```
//!
//! ## Role trust policies
//!
//! For `sts:AssumeRole`, parse the role's trust policy with [`PolicyKind::TrustPolicy`]
//! and evaluate it in the `key_policy` slot of [`PolicySet`] (it is the resource-based
//! policy there too), with `key_account` the role's account, the role ARN as the
//! resource and `sts:AssumeRole` as the action: a trust policy naming the caller allows
//! it; one naming the caller's account root needs an identity policy of the caller that
//! allows `sts:AssumeRole` on the role, exactly as IAM decides.
//!
//! ## Errors
//!
//! [`PolicyError`]'s `Display` is the message to send; [`PolicyError::code`] says whether
//! it is a `MalformedPolicyDocumentException` or (a key policy over 32 KiB) a
//! `LimitExceededException`. KMS also requires that the principals a key policy names
//! exist: check [`Policy::aws_principals`] against the configured identities and answer
//! "Policy contains a statement with one or more invalid principals." for unknown ones.
//!
//! ## Condition keys the caller feeds
//!
//! [`RequestContext::new`] fills `aws:PrincipalArn` (the role ARN for a role session),
//! `aws:PrincipalAccount`, `aws:PrincipalType`, `kms:CallerAccount` and, for IAM users,
//! `aws:username`. The caller adds, where the request has them (an absent key is what
//! AWS does when the request lacks it — do not insert empty values instead):
//!
//! | key | value |
//! |---|---|
//! | `kms:EncryptionContext:KEY`, `kms:EncryptionContextKeys` | [`RequestContext::insert_encryption_context`] |
//! | `kms:ViaService` | string, e.g. `s3.us-east-1.amazonaws.com` (only for calls made by a service) |
//! | `kms:GrantOperations` | strings (multi-valued), CreateGrant |
//! | `kms:GranteePrincipal`, `kms:RetiringPrincipal` | string, CreateGrant |
//! | `kms:GrantIsForAWSResource` | bool |
//! | `kms:KeySpec`, `kms:KeyUsage`, `kms:KeyOrigin`, `kms:CustomerMasterKeySpec`, `kms:CustomerMasterKeyUsage` | string |
//! | `kms:RequestAlias` | string (the alias in the request's KeyId) |
//! | `kms:ResourceAliases` | strings (multi-valued: every alias of the key) |
//! | `kms:SigningAlgorithm`, `kms:EncryptionAlgorithm`, `kms:MessageType`, `kms:MacAlgorithm`, `kms:KeyAgreementAlgorithm`, `kms:DataKeyPairSpec`, `kms:WrappingAlgorithm`, `kms:WrappingKeySpec`, `kms:ExpirationModel` | string |
//! | `kms:BypassPolicyLockoutSafetyCheck`, `kms:MultiRegion` | bool |
//! | `kms:ReplicaRegion` | string |
//! | `kms:ScheduleKeyDeletionPendingWindowInDays`, `kms:RotationPeriodInDays` | number |
//! | `kms:ValidTo` | date (or epoch seconds as a number) |
//! | `kms:RecipientAttestation:ImageSha384`, `kms:RecipientAttestation:PCR<n>` | string |
//! | `aws:userid` | string (the unique id; `ACCOUNT` for root, `ROLEID:SESSION` for sessions) |
//! | `aws:PrincipalTag/TAG` | string per tag of the user or role |
//! | `aws:ResourceTag/TAG` | string per tag of the key |
//! | `aws:RequestTag/TAG`, `aws:TagKeys` | TagResource/CreateKey tags (TagKeys multi-valued) |
//! | `aws:SourceIp` | [`std::net::IpAddr`] |
//! | `aws:CurrentTime` | [`time::OffsetDateTime`]; `aws:EpochTime`: number |
//! | `aws:SecureTransport`, `aws:MultiFactorAuthPresent`, `aws:ViaAWSService` | bool |
//! | `aws:RequestedRegion` | string |
//! | `aws:CalledVia` (multi-valued), `aws:CalledViaFirst`, `aws:CalledViaLast` | strings |
//!
//! Key names are case-insensitive everywhere, including the tag or encryption context
//! key after the prefix.

pub mod arn;
mod condition;
mod context;
mod error;
mod eval;
mod explain;
mod glob;
mod grant;
mod policy;

pub use arn::{ArnError, ArnKind, PrincipalArn};
pub use condition::Cidr;
pub use context::{ContextLayer, ContextValue, PrincipalContext, PrincipalKind, RequestContext};
pub use error::{PolicyError, PolicyErrorCode, SyntaxDetail, KEY_POLICY_MAX_BYTES};
pub use eval::{
    check_lockout, default_key_policy, evaluate, limit_by_session_policy, AllowedBy, Decision,
    ImplicitDenyReason, PolicySet, PolicySource,
};
pub use explain::explain;
pub use grant::{EncryptionContextPairs, Grant, GrantConstraints};
pub use policy::{Effect, Policy, PolicyKind, PolicyVersion, PrincipalEntry, Statement};
