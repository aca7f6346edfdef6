//! DeleteAlias: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteAlias.html>

use trent_store::StoreError;
use trent_wire::{DeleteAliasRequest, DeleteAliasResponse};

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
        match self
            .store
            .delete_alias(account, region, &req.alias_name)
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Err(KmsError::AliasNotFound {
                    alias_arn: alias_arn(region, account, &req.alias_name),
                })
            }
            Err(e) => return Err(internal("deleting an alias")(e)),
        }
        self.cache.drop_alias(account, region, &req.alias_name);
        Ok(DeleteAliasResponse::default())
    }
}
