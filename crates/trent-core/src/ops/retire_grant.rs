//! RetireGrant: <https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html>
//!
//! The grant is named by a grant token, or by its key (id or ARN) and grant id. The grant
//! decides who may retire it ("Retiring and revoking grants",
//! <https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html>): its
//! retiring principal; its grantee principal if the grant includes RetireGrant; and the
//! account in which the grant was created (its root, or a principal of it whose IAM
//! policies allow `kms:RetireGrant` on the key). Nobody else, whatever the key policy
//! says. Allowed in every key state.

use trent_policy::PolicySet;
use trent_wire::{Operation, RetireGrantRequest, RetireGrantResponse};

use crate::error::internal;
use crate::grants::{grant_id_bytes, names_principal};
use crate::ids::{key_arn, Forms, KeyRef, StorageKeyId};
use crate::{Caller, KeyService, KmsError};

const ACTION: &str = Operation::RetireGrant.iam_action();

impl KeyService {
    pub async fn retire_grant(
        &self,
        caller: &Caller,
        req: RetireGrantRequest,
    ) -> Result<RetireGrantResponse, KmsError> {
        // Which key (id, and the account the request names it in) and which grant.
        let named_key = match &req.key_id {
            Some(k) => Some(match KeyRef::parse(k, Forms::KeyOnly)? {
                KeyRef::Id(id) => (id, caller.account_id().to_string()),
                KeyRef::KeyArn {
                    region,
                    account,
                    key_id,
                } => {
                    if region != caller.region {
                        return Err(KmsError::ArnInOtherRegion { region });
                    }
                    (key_id, account)
                }
                _ => return Err(KmsError::InvalidKeyId { key_id: k.clone() }),
            }),
            None => None,
        };
        let (key_id, key_account, grant_id) = match (&req.grant_token, named_key, &req.grant_id) {
            (Some(token), named, id) => {
                let r = self.verify_grant_token(token).await?;
                let key_matches = named.as_ref().is_none_or(|(k, _)| *k == r.key_id);
                let id_matches = id.as_ref().is_none_or(|i| *i == r.grant_id);
                if !key_matches || !id_matches {
                    return Err(KmsError::Validation {
                        message: format!(
                            "Invalid KeyId={} specified for grant {}",
                            req.key_id.as_deref().unwrap_or(&r.key_id),
                            id.as_deref().unwrap_or(&r.grant_id)
                        ),
                    });
                }
                (r.key_id, None, r.grant_id)
            }
            (None, Some((key_id, account)), Some(grant_id)) => {
                (key_id, Some(account), grant_id.clone())
            }
            _ => {
                return Err(KmsError::Validation {
                    message: "Grant token OR (grant ID, key ID) must be specified".to_owned(),
                })
            }
        };
        if grant_id_bytes(&grant_id).is_none() {
            return Err(KmsError::InvalidGrantId);
        }
        // `key_id` is a public id: a multi-Region key's names its key in the caller's region.
        let key = self
            .load(StorageKeyId::named(&key_id, &caller.region).as_str())
            .await?;
        let key = match key {
            Some(k)
                if k.record.region == caller.region
                    && key_account
                        .as_ref()
                        .is_none_or(|a| *a == k.record.account_id) =>
            {
                k
            }
            _ => {
                let account =
                    key_account.unwrap_or_else(|| caller.account_id().to_owned().to_string());
                return Err(KmsError::KeyNotFound {
                    arn: key_arn(&caller.region, &account, &key_id),
                });
            }
        };
        crate::keys_used::note(&key.record.arn);
        let grant = self
            .store
            .grant(&key.record.key_id, &grant_id)
            .await
            .map_err(internal("reading a grant"))?
            .ok_or(KmsError::InvalidGrantId)?;

        let principal = caller.policy_principal_for(ACTION, &key.record.arn)?;
        let by_retiring = grant
            .retiring_principal
            .as_deref()
            .is_some_and(|r| names_principal(r, &principal));
        let by_grantee = grant.operations.iter().any(|o| o == "RetireGrant")
            && names_principal(&grant.grantee_principal, &principal);
        let by_account = *caller.account_id() == grant.issuing_account && {
            let ctx = caller
                .request_context(ACTION, &key.record.arn, self.clock.now_millis())
                .ok_or_else(|| caller.unrepresentable(ACTION, &key.record.arn))?;
            caller
                .evaluate(
                    &ctx,
                    &PolicySet {
                        key_policy: None,
                        key_account: &key.record.account_id,
                        identity_policies: &caller.attributes.identity_policies,
                        grant_allows: false,
                    },
                )
                .is_allowed()
        };
        if !(by_retiring || by_grantee || by_account) {
            return Err(KmsError::AccessDenied {
                message: format!(
                    "User: {} is not authorized to perform: {ACTION} on resource: {} because no resource-based policy allows the {ACTION} action",
                    caller.principal.arn, key.record.arn
                ),
            });
        }
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        self.delete_grant(&key.record.key_id, &grant_id).await?;
        Ok(RetireGrantResponse::default())
    }
}
