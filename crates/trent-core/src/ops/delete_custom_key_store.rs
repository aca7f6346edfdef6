//! DeleteCustomKeyStore: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteCustomKeyStore.html>
//!
//! Only a `DISCONNECTED` store without keys (whatever their state: "delete all KMS keys
//! from the key store, then delete the key store").

use trent_store::{ConnectionStateType, StoreError};
use trent_wire::{DeleteCustomKeyStoreRequest, DeleteCustomKeyStoreResponse, ErrorCode, Operation};

use crate::authz::Access;
use crate::custom_key_stores::{error, find};
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn delete_custom_key_store(
        &self,
        caller: &Caller,
        req: DeleteCustomKeyStoreRequest,
    ) -> Result<DeleteCustomKeyStoreResponse, KmsError> {
        self.authorize_without_key(caller, "*", &Access::of(Operation::DeleteCustomKeyStore))?;
        let id = &req.custom_key_store_id;
        for _ in 0..crate::optimistic::MAX_ATTEMPTS {
            let current = find(&*self.store, caller.account_id(), &caller.region, id).await?;
            if current.connection_state != ConnectionStateType::Disconnected {
                return Err(error(
                    ErrorCode::CustomKeyStoreInvalidStateException,
                    format!(
                        "Custom key store '{id}' is {}. Disconnect it before deleting it.",
                        current.connection_state.as_str()
                    ),
                ));
            }
            let keys = self
                .store
                .custom_key_store_key_count(id)
                .await
                .map_err(internal("counting a custom key store's keys"))?;
            if keys > 0 {
                return Err(error(
                    ErrorCode::CustomKeyStoreHasCMKsException,
                    format!("Custom key store '{id}' contains KMS keys. Delete them before deleting the custom key store."),
                ));
            }
            match self
                .store
                .delete_custom_key_store(id, current.version)
                .await
            {
                Ok(()) => {
                    self.custom_key_stores.close(id);
                    self.cache.clear();
                    return Ok(DeleteCustomKeyStoreResponse::default());
                }
                // Changed since, or a key was created in it: decide again.
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(crate::custom_key_stores::not_found(id)),
                Err(e) => return Err(internal("deleting a custom key store")(e)),
            }
        }
        Err(KmsError::Internal)
    }
}
