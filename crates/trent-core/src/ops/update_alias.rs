//! UpdateAlias: <https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateAlias.html>
//! The new target must be a key of the same type and usage as the current one.

use trent_store::StoreError;
use trent_wire::{Operation, UpdateAliasRequest, UpdateAliasResponse};

use super::create_alias::check_target;
use crate::authz::Access;
use crate::error::internal;
use crate::ids::{alias_arn, Forms};
use crate::keys::require_manageable;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn update_alias(
        &self,
        caller: &Caller,
        req: UpdateAliasRequest,
    ) -> Result<UpdateAliasResponse, KmsError> {
        let account = caller.account_id();
        let region = &caller.region;
        if !req.alias_name.starts_with("alias/") {
            return Err(KmsError::AliasPrefix);
        }
        if req.alias_name.starts_with("alias/aws/") {
            return Err(KmsError::ReservedAlias);
        }
        check_target(&req.target_key_id)?;
        let not_found = || KmsError::AliasNotFound {
            alias_arn: alias_arn(region, account, &req.alias_name),
        };
        let mut alias = self
            .store
            .alias(account, region, &req.alias_name)
            .await
            .map_err(internal("reading an alias"))?
            .ok_or_else(not_found)?;
        // "kms:UpdateAlias on the alias (IAM policy)", "on the current KMS key (key
        // policy)" and "on the new KMS key (key policy)".
        let key = self
            .locate(caller, &req.target_key_id, Forms::KeyOnly)
            .await?
            .key;
        let access = Access::of(Operation::UpdateAlias);
        self.authorize_without_key(
            caller,
            &alias_arn(region, account, &req.alias_name),
            &access,
        )?;
        let current = self.load(&alias.target_key_id).await?;
        if let Some(current) = &current {
            self.authorize(caller, current, &access, None).await?;
        }
        self.authorize(caller, &key, &access, None).await?;
        require_manageable(&key.record)?;
        if let Some(current) = current {
            if current.record.key_usage != key.record.key_usage
                || current.record.key_spec != key.record.key_spec
            {
                return Err(KmsError::Validation {
                    message: format!(
                        "Alias {} cannot be changed from a key of type {} {} to a key of type {} {}.",
                        alias_arn(region, account, &req.alias_name),
                        current.record.key_spec,
                        current.record.key_usage,
                        key.record.key_spec,
                        key.record.key_usage
                    ),
                });
            }
        }
        if alias.target_key_id != key.record.key_id {
            self.check_alias_quota(account, region, &key.record.key_id)
                .await?;
        }
        alias.target_key_id = key.record.key_id.clone();
        alias.updated_at = self.clock.now_millis();
        match self.store.update_alias(&alias).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(e) => return Err(internal("updating an alias")(e)),
        }
        self.cache.drop_alias(account, region, &req.alias_name);
        Ok(UpdateAliasResponse::default())
    }
}
