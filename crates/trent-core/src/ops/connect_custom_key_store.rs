//! ConnectCustomKeyStore: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ConnectCustomKeyStore.html>
//!
//! Answers at once, the store `CONNECTING`, and connects in the background
//! (`custom_key_stores::finish_connect`), as AWS does. A store already `CONNECTED` or
//! `CONNECTING` answers success and changes nothing; `DISCONNECTING` and `FAILED` are
//! refused ("To reconnect a custom key store in a FAILED state, disconnect it, then
//! connect it").

use trent_store::{ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, StoreError};
use trent_wire::{
    ConnectCustomKeyStoreRequest, ConnectCustomKeyStoreResponse, ErrorCode, Operation,
};

use crate::authz::Access;
use crate::custom_key_stores::{error, find, finish_connect};
use crate::error::internal;
use crate::external_key_stores;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn connect_custom_key_store(
        &self,
        caller: &Caller,
        req: ConnectCustomKeyStoreRequest,
    ) -> Result<ConnectCustomKeyStoreResponse, KmsError> {
        self.authorize_without_key(caller, "*", &Access::of(Operation::ConnectCustomKeyStore))?;
        let id = &req.custom_key_store_id;
        for _ in 0..crate::optimistic::MAX_ATTEMPTS {
            let current = find(&*self.store, caller.account_id(), &caller.region, id).await?;
            match current.connection_state {
                ConnectionStateType::Connected | ConnectionStateType::Connecting => {
                    return Ok(ConnectCustomKeyStoreResponse::default())
                }
                ConnectionStateType::Disconnecting | ConnectionStateType::Failed => {
                    return Err(error(
                        ErrorCode::CustomKeyStoreInvalidStateException,
                        format!(
                            "Custom key store '{id}' is {}. To connect a custom key store in this state, disconnect it first.",
                            current.connection_state.as_str()
                        ),
                    ))
                }
                ConnectionStateType::Disconnected => {}
            }
            if let Some(cluster) = current.cloud_hsm_cluster_id.as_deref() {
                if self.custom_key_stores.cluster(cluster).is_none() {
                    return Err(error(
                        ErrorCode::CloudHsmClusterNotActiveException,
                        format!("AWS CloudHSM cluster '{cluster}' is not active."),
                    ));
                }
            }
            let mut connecting = current.clone();
            connecting.connection_state = ConnectionStateType::Connecting;
            connecting.connection_error_code = None;
            match self.store.update_custom_key_store(&connecting).await {
                Ok(stored) => {
                    self.cache.clear();
                    let (store, root, stores, cache) = (
                        self.store.clone(),
                        self.root.clone(),
                        self.custom_key_stores.clone(),
                        self.cache.clone(),
                    );
                    let xks = self.xks_client.get().cloned();
                    // An external key store's proxy is told of this request.
                    let metadata = match stored.store_type {
                        CustomKeyStoreType::ExternalKeyStore => {
                            Some(external_key_stores::management_metadata()?)
                        }
                        CustomKeyStoreType::AwsCloudhsm => None,
                    };
                    let task = async move {
                        let outcome = match stored.store_type {
                            CustomKeyStoreType::AwsCloudhsm => {
                                stores.connect(&root, &stored).await.map(|_| ())
                            }
                            CustomKeyStoreType::ExternalKeyStore => {
                                match (
                                    xks,
                                    external_key_stores::proxy_of(&*root, &stored),
                                    metadata,
                                ) {
                                    (Some(client), Ok(proxy), Some(metadata)) => {
                                        external_key_stores::connect(&*client, &proxy, &metadata)
                                            .await
                                    }
                                    _ => Err(ConnectionErrorCodeType::InternalError),
                                }
                            }
                        };
                        finish_connect(store, stores, cache, stored, outcome).await
                    };
                    // The background writes are recorded as this request's.
                    match crate::write_ahead::current_hook() {
                        Some(hook) => {
                            tokio::spawn(crate::write_ahead::scope(hook, task));
                        }
                        None => {
                            tokio::spawn(task);
                        }
                    }
                    return Ok(ConnectCustomKeyStoreResponse::default());
                }
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(crate::custom_key_stores::not_found(id)),
                Err(e) => return Err(internal("connecting a custom key store")(e)),
            }
        }
        Err(KmsError::Internal)
    }
}
