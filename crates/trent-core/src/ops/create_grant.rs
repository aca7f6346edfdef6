//! CreateGrant: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html>
//!
//! Checks, in order: the principals are principal ARNs; the caller may create grants on
//! the key (by policy, or by a grant with CreateGrant whose operations and constraints the
//! new grant stays within); the key is not pending deletion; every operation is one the
//! key supports; constraints only with operations that take an encryption context and
//! only on symmetric encryption keys (GrantConstraints documentation); the quotas. A
//! retry with the same `Name` and parameters returns the original grant id with a new
//! token (CreateGrant's `Name` documentation).

use trent_store::{CreateGrantOutcome, GrantLimits, GrantRecord};
use trent_wire::{CreateGrantRequest, CreateGrantResponse, GrantOperation, Operation};

use crate::authz::Access;
use crate::error::internal;
use crate::grants::{
    new_grant_id, operation_supported, pairs_of, takes_encryption_context, NewGrant,
};
use crate::ids::Forms;
use crate::keys::require_manageable;
use crate::keyspec::KeyKind;
use crate::{Caller, KeyService, KmsError};

/// "Each constraint value can include up to 8 encryption context pairs. The encryption
/// context value in each constraint cannot exceed 384 characters."
const MAX_CONSTRAINT_PAIRS: usize = 8;
const MAX_CONSTRAINT_VALUE_CHARS: usize = 384;

impl KeyService {
    pub async fn create_grant(
        &self,
        caller: &Caller,
        req: CreateGrantRequest,
    ) -> Result<CreateGrantResponse, KmsError> {
        check_principal(&req.grantee_principal)?;
        if let Some(r) = &req.retiring_principal {
            check_principal(r)?;
        }
        let mut operations: Vec<GrantOperation> = Vec::with_capacity(req.operations.len());
        for op in &req.operations {
            if !operations.contains(op) {
                operations.push(*op);
            }
        }
        if operations.is_empty() {
            return Err(KmsError::Validation {
                message: "1 validation error detected: Value '[]' at 'operations' failed to \
                          satisfy constraint: Member must have length greater than or equal to 1"
                    .to_owned(),
            });
        }
        let constraints = req.constraints.clone().unwrap_or_default();
        for map in [
            &constraints.encryption_context_equals,
            &constraints.encryption_context_subset,
        ]
        .into_iter()
        .flatten()
        {
            if map.len() > MAX_CONSTRAINT_PAIRS
                || map
                    .values()
                    .any(|v| v.chars().count() > MAX_CONSTRAINT_VALUE_CHARS)
            {
                return Err(KmsError::Validation {
                    message: format!(
                        "Each grant constraint can include up to {MAX_CONSTRAINT_PAIRS} \
                         encryption context pairs, and each value up to \
                         {MAX_CONSTRAINT_VALUE_CHARS} characters."
                    ),
                });
            }
        }
        let new = NewGrant {
            operations: operations.iter().map(|o| o.as_str().to_owned()).collect(),
            constraint_equals: pairs_of(&constraints.encryption_context_equals),
            constraint_subset: pairs_of(&constraints.encryption_context_subset),
        };
        let has_constraints = new.constraint_equals.is_some() || new.constraint_subset.is_some();

        let key = self
            .creating_grant(
                new.clone(),
                self.resolve(caller, &req.key_id, Forms::KeyOnly, {
                    // The condition keys of CreateGrant (AWS KMS condition keys).
                    let mut constraint_types = Vec::new();
                    if new.constraint_equals.is_some() {
                        constraint_types.push("EncryptionContextEquals");
                    }
                    if new.constraint_subset.is_some() {
                        constraint_types.push("EncryptionContextSubset");
                    }
                    let access = Access::of(Operation::CreateGrant)
                        .with_all("kms:GrantOperations", operations.iter().map(|o| o.as_str()))
                        .with("kms:GranteePrincipal", req.grantee_principal.as_str())
                        .with_opt("kms:RetiringPrincipal", req.retiring_principal.as_deref())
                        .grant_tokens(req.grant_tokens.as_ref());
                    if constraint_types.is_empty() {
                        access
                    } else {
                        access.with_all("kms:GrantConstraintType", constraint_types)
                    }
                }),
            )
            .await?;
        require_manageable(&key.record)?;
        let kind = key.kind();
        let usage = key.record.key_usage;
        let unsupported: Vec<&str> = operations
            .iter()
            .filter(|op| !operation_supported(**op, kind, usage))
            .map(|op| op.as_str())
            .collect();
        if !unsupported.is_empty() {
            return Err(KmsError::Validation {
                message: format!(
                    "Grant operations [{}] are not supported for a KMS key with key spec {} \
                     and key usage {}.",
                    unsupported.join(", "),
                    key.record.key_spec,
                    usage.as_str()
                ),
            });
        }
        if has_constraints {
            if kind != KeyKind::Symmetric {
                return Err(KmsError::Validation {
                    message: format!(
                        "Grant constraints are not supported for a KMS key with key spec {}: \
                         its operations do not take an encryption context.",
                        key.record.key_spec
                    ),
                });
            }
            if let Some(op) = operations.iter().find(|op| !takes_encryption_context(**op)) {
                return Err(KmsError::Validation {
                    message: format!(
                        "Grant constraints are not supported with the {} operation: it does \
                         not take an encryption context.",
                        op.as_str()
                    ),
                });
            }
        }
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }

        let record = GrantRecord {
            grant_id: new_grant_id()?,
            key_id: key.record.key_id.clone(),
            key_arn: key.record.arn.to_string(),
            name: req.name.clone(),
            grantee_principal: req.grantee_principal.clone(),
            retiring_principal: req.retiring_principal.clone(),
            issuing_account: caller.account_id().to_owned().to_string(),
            operations: new.operations,
            constraint_equals: new.constraint_equals,
            constraint_subset: new.constraint_subset,
            created_at: self.clock.now_millis(),
        };
        let limits = GrantLimits {
            per_key: crate::quotas::as_limit(self.quotas.grants),
            per_grantee_per_key: crate::quotas::as_limit(self.quotas.grants_per_grantee),
        };
        let grant_id = match self
            .store
            .create_grant(&record, limits)
            .await
            .map_err(internal("creating a grant"))?
        {
            CreateGrantOutcome::Created => {
                self.cache.drop_grants(&record.key_id);
                record.grant_id
            }
            CreateGrantOutcome::Existing(existing) => existing.grant_id,
            CreateGrantOutcome::TooManyForKey => {
                return Err(KmsError::QuotaExceeded {
                    message: format!(
                        "The number of grants on the KMS key exceeds the limit of {}",
                        limits.per_key
                    ),
                })
            }
            CreateGrantOutcome::TooManyForGrantee => {
                return Err(KmsError::QuotaExceeded {
                    message: format!(
                        "The number of grants for the grantee principal on the KMS key exceeds the limit of {}",
                        limits.per_grantee_per_key
                    ),
                })
            }
        };
        let token = self
            .issue_grant_token(crate::keys::public_key_id(&key.record), &grant_id)
            .await?;
        Ok(CreateGrantResponse {
            grant_token: Some(token),
            grant_id: Some(grant_id),
        })
    }
}

/// Grantee and retiring principals are principal ARNs: an account
/// (`arn:aws:iam::ACCOUNT:root`), an IAM user or role, an assumed-role session or a
/// federated user (CreateGrant's GranteePrincipal documentation). Anything else is
/// `InvalidArnException`.
pub(crate) fn check_principal(arn: &str) -> Result<(), KmsError> {
    if trent_policy::PrincipalArn::parse(arn).is_ok() {
        Ok(())
    } else {
        Err(KmsError::InvalidArn {
            arn: arn.to_owned(),
        })
    }
}
