//! DeleteAlias: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteAlias.html>

use trent_store::StoreError;
use trent_wire::{DeleteAliasRequest, DeleteAliasResponse, Operation};

use crate::authz::Access;
use crate::error::internal;
use crate::ids::alias_arn;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn delete_alias(
        &self,
        caller: &Caller,
        req: DeleteAliasRequest,
    ) -> Result<DeleteAliasResponse, KmsError> {
        let account = caller.account_id();
        let region = &caller.region;
        if !req.alias_name.starts_with("alias/") {
            return Err(KmsError::AliasPrefix);
        }
        if req.alias_name.starts_with("alias/aws/") {
            return Err(KmsError::ReservedAlias);
        }
        let not_found = || KmsError::AliasNotFound {
            alias_arn: alias_arn(region, account, &req.alias_name),
        };
        let alias = self
            .store
            .alias(account, region, &req.alias_name)
            .await
            .map_err(internal("reading an alias"))?
            .ok_or_else(not_found)?;
        // "kms:DeleteAlias on the alias (IAM policy)" and "on the KMS key (key policy)".
        let access = Access::of(Operation::DeleteAlias);
        self.authorize_without_key(
            caller,
            &alias_arn(region, account, &req.alias_name),
            &access,
        )?;
        if let Some(key) = self.load(&alias.target_key_id).await? {
            self.authorize(caller, &key, &access, None).await?;
        }
        match self
            .store
            .delete_alias(account, region, &req.alias_name)
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(e) => return Err(internal("deleting an alias")(e)),
        }
        self.cache.drop_alias(account, region, &req.alias_name);
        Ok(DeleteAliasResponse::default())
    }
}
