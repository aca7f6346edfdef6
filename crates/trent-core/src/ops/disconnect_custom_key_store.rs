//! DisconnectCustomKeyStore: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DisconnectCustomKeyStore.html>
//!
//! Valid in every state but `DISCONNECTING` and `DISCONNECTED`. The store is
//! `DISCONNECTED` when this answers: every node's cache forgets the store's keys (the
//! write announces a change of everything) and closes its connection when it next loads
//! one, so the keys are `Unavailable` everywhere within the change feed's delay.

use trent_store::{ConnectionStateType, StoreError};
use trent_wire::{
    DisconnectCustomKeyStoreRequest, DisconnectCustomKeyStoreResponse, ErrorCode, Operation,
};

use crate::authz::Access;
use crate::custom_key_stores::{error, find};
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn disconnect_custom_key_store(
        &self,
        caller: &Caller,
        req: DisconnectCustomKeyStoreRequest,
    ) -> Result<DisconnectCustomKeyStoreResponse, KmsError> {
        self.authorize_without_key(
            caller,
            "*",
            &Access::of(Operation::DisconnectCustomKeyStore),
        )?;
        let id = &req.custom_key_store_id;
        for _ in 0..crate::optimistic::MAX_ATTEMPTS {
            let current = find(&*self.store, caller.account_id(), &caller.region, id).await?;
            if matches!(
                current.connection_state,
                ConnectionStateType::Disconnecting | ConnectionStateType::Disconnected
            ) {
                return Err(error(
                    ErrorCode::CustomKeyStoreInvalidStateException,
                    format!(
                        "Custom key store '{id}' is {}.",
                        current.connection_state.as_str()
                    ),
                ));
            }
            let mut next = current.clone();
            next.connection_state = ConnectionStateType::Disconnected;
            next.connection_error_code = None;
            match self.store.update_custom_key_store(&next).await {
                Ok(_) => {
                    self.custom_key_stores.close(id);
                    self.cache.clear();
                    return Ok(DisconnectCustomKeyStoreResponse::default());
                }
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(crate::custom_key_stores::not_found(id)),
                Err(e) => return Err(internal("disconnecting a custom key store")(e)),
            }
        }
        Err(KmsError::Internal)
    }
}
