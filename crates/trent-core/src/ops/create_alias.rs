//! CreateAlias: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html>

use trent_store::{AliasRecord, StoreError};
use trent_wire::{CreateAliasRequest, CreateAliasResponse, Operation};

use crate::authz::Access;
use crate::error::internal;
use crate::ids::{alias_arn, Forms};
use crate::keys::require_manageable;
use crate::{Caller, KeyService, KmsError};

/// The alias name rules beyond the model's pattern and length.
pub(crate) fn check_alias_name(name: &str) -> Result<(), KmsError> {
    if !name.starts_with("alias/") {
        return Err(KmsError::AliasPrefix);
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::ReservedAlias);
    }
    if name.len() <= "alias/".len() || name.contains(':') {
        return Err(KmsError::Validation {
            message: format!("{name} contains invalid characters for an alias"),
        });
    }
    Ok(())
}

/// An alias target must be a key (id or ARN), never another alias.
pub(crate) fn check_target(target: &str) -> Result<(), KmsError> {
    if target.starts_with("alias/") || (target.starts_with("arn:") && target.contains(":alias/")) {
        return Err(KmsError::AliasTargetIsAlias);
    }
    Ok(())
}

impl KeyService {
    pub async fn create_alias(
        &self,
        caller: &Caller,
        req: CreateAliasRequest,
    ) -> Result<CreateAliasResponse, KmsError> {
        check_alias_name(&req.alias_name)?;
        check_target(&req.target_key_id)?;
        let account = caller.account_id();
        let region = &caller.region;
        let exists = || KmsError::AliasAlreadyExists {
            alias_arn: alias_arn(region, account, &req.alias_name),
        };
        if self
            .store
            .alias(account, region, &req.alias_name)
            .await
            .map_err(internal("reading an alias"))?
            .is_some()
        {
            return Err(exists());
        }
        // "kms:CreateAlias on the alias (IAM policy)" and "on the KMS key (key policy)".
        let key = self
            .locate(caller, &req.target_key_id, Forms::KeyOnly)
            .await?
            .key;
        let access = Access::of(Operation::CreateAlias);
        self.authorize_without_key(
            caller,
            &alias_arn(region, account, &req.alias_name),
            &access,
        )?;
        self.authorize(caller, &key, &access, None).await?;
        require_manageable(&key.record)?;
        self.check_alias_quota(account, region, &key.record.key_id)
            .await?;
        let now = self.clock.now_millis();
        let record = AliasRecord {
            account_id: account.to_owned().to_string(),
            region: region.to_string(),
            alias_name: req.alias_name.clone(),
            target_key_id: key.record.key_id.clone(),
            created_at: now,
            updated_at: now,
        };
        match self.store.create_alias(&record).await {
            Ok(()) => {
                // The key's alias list (kms:ResourceAliases) changed.
                self.cache.drop_alias(account, region, &req.alias_name);
                Ok(CreateAliasResponse::default())
            }
            Err(StoreError::AlreadyExists) => Err(exists()),
            Err(e) => Err(internal("creating an alias")(e)),
        }
    }
}
