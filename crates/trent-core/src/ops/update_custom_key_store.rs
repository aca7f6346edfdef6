//! UpdateCustomKeyStore: <https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateCustomKeyStore.html>
//!
//! A connected store may only be renamed; every other property needs it `DISCONNECTED`.
//! A new `CloudHsmClusterId` must name a cluster related to the current one: for tokens,
//! one that is the same token (same module and label), as a backup of a cluster is.

use trent_store::{ConnectionStateType, StoreError};
use trent_wire::{ErrorCode, Operation, UpdateCustomKeyStoreRequest, UpdateCustomKeyStoreResponse};

use super::create_custom_key_store::name_in_use;
use crate::authz::Access;
use crate::custom_key_stores::{error, find, secret_aad};
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn update_custom_key_store(
        &self,
        caller: &Caller,
        req: UpdateCustomKeyStoreRequest,
    ) -> Result<UpdateCustomKeyStoreResponse, KmsError> {
        self.authorize_without_key(caller, "*", &Access::of(Operation::UpdateCustomKeyStore))?;
        let id = &req.custom_key_store_id;
        let xks_given = crate::custom_key_stores::names_xks_proxy!(req);
        for _ in 0..crate::optimistic::MAX_ATTEMPTS {
            let current = find(&*self.store, caller.account_id(), &caller.region, id).await?;
            if xks_given {
                return Err(crate::custom_key_stores::xks_properties_refused());
            }
            let only_name = req.key_store_password.is_none() && req.cloud_hsm_cluster_id.is_none();
            let allowed = current.connection_state == ConnectionStateType::Disconnected
                || (only_name && current.connection_state == ConnectionStateType::Connected);
            if !allowed {
                return Err(error(
                    ErrorCode::CustomKeyStoreInvalidStateException,
                    format!(
                        "Custom key store '{id}' is {}. Disconnect it before updating its properties.",
                        current.connection_state.as_str()
                    ),
                ));
            }
            let mut next = current.clone();
            if let Some(name) = &req.new_custom_key_store_name {
                next.name = name.clone();
            }
            if let Some(cluster_id) = &req.cloud_hsm_cluster_id {
                let cluster = self.custom_key_stores.cluster(cluster_id).ok_or_else(|| {
                    error(
                        ErrorCode::CloudHsmClusterNotFoundException,
                        format!("AWS CloudHSM cluster '{cluster_id}' could not be found."),
                    )
                })?;
                let related = current
                    .cloud_hsm_cluster_id
                    .as_deref()
                    .and_then(|c| self.custom_key_stores.cluster(c))
                    .is_some_and(|old| {
                        old.module == cluster.module && old.token_label == cluster.token_label
                    });
                if !related {
                    return Err(error(
                        ErrorCode::CloudHsmClusterNotRelatedException,
                        format!("AWS CloudHSM cluster '{cluster_id}' is not related to the cluster of custom key store '{id}'."),
                    ));
                }
                next.cloud_hsm_cluster_id = Some(cluster_id.clone());
            }
            if let Some(password) = &req.key_store_password {
                next.sealed_secret = Some(
                    self.root
                        .seal(&secret_aad(id), password.expose().as_bytes())
                        .map_err(internal("sealing a custom key store's password"))?,
                );
            }
            if next == current {
                return Ok(UpdateCustomKeyStoreResponse::default());
            }
            match self.store.update_custom_key_store(&next).await {
                Ok(_) => {
                    self.cache.clear();
                    return Ok(UpdateCustomKeyStoreResponse::default());
                }
                Err(StoreError::Conflict) => continue,
                Err(StoreError::AlreadyExists) => return Err(name_in_use(&next.name)),
                Err(StoreError::NotFound) => return Err(crate::custom_key_stores::not_found(id)),
                Err(e) => return Err(internal("updating a custom key store")(e)),
            }
        }
        Err(KmsError::Internal)
    }
}
