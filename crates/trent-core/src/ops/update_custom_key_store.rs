//! UpdateCustomKeyStore: <https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateCustomKeyStore.html>
//!
//! A connected store may only be renamed; every other property needs it `DISCONNECTED`.
//! A new `CloudHsmClusterId` must name a cluster related to the current one: for tokens,
//! one that is the same token (same module and label), as a backup of a cluster is.

use trent_store::{ConnectionStateType, CustomKeyStoreRecord, CustomKeyStoreType, StoreError};
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
            let cloudhsm_given =
                req.key_store_password.is_some() || req.cloud_hsm_cluster_id.is_some();
            match current.store_type {
                CustomKeyStoreType::AwsCloudhsm if xks_given => {
                    return Err(crate::custom_key_stores::xks_properties_refused())
                }
                CustomKeyStoreType::ExternalKeyStore if cloudhsm_given => {
                    return Err(KmsError::Validation {
                        message: "KeyStorePassword and CloudHsmClusterId are not valid for a custom key store of type EXTERNAL_KEY_STORE.".into(),
                    })
                }
                _ => {}
            }
            let only_name = !xks_given && !cloudhsm_given;
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
            if current.store_type == CustomKeyStoreType::ExternalKeyStore && xks_given {
                self.update_xks_properties(caller, &req, &mut next).await?;
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

impl KeyService {
    /// An external key store's new proxy properties, checked as CreateCustomKeyStore checks
    /// them: public endpoint connectivity, and a proxy that answers with the credential.
    async fn update_xks_properties(
        &self,
        caller: &Caller,
        req: &UpdateCustomKeyStoreRequest,
        next: &mut CustomKeyStoreRecord,
    ) -> Result<(), KmsError> {
        let connectivity = req
            .xks_proxy_connectivity
            .or(next.xks_proxy_connectivity)
            .unwrap_or(trent_store::XksProxyConnectivityType::PublicEndpoint);
        super::create_custom_key_store::check_connectivity(
            connectivity,
            req.xks_proxy_vpc_endpoint_service_name.is_some()
                || req.xks_proxy_vpc_endpoint_service_owner.is_some(),
        )?;
        next.xks_proxy_connectivity = Some(connectivity);
        if let Some(endpoint) = &req.xks_proxy_uri_endpoint {
            next.xks_proxy_uri_endpoint = Some(endpoint.clone());
        }
        if let Some(path) = &req.xks_proxy_uri_path {
            next.xks_proxy_uri_path = Some(path.clone());
        }
        let mut proxy = crate::external_key_stores::proxy_of(&*self.root, next)?;
        if let Some(credential) = &req.xks_proxy_authentication_credential {
            proxy.access_key_id = credential.access_key_id.expose().to_owned();
            proxy.secret_access_key =
                zeroize::Zeroizing::new(credential.raw_secret_access_key.expose().to_owned());
            next.xks_proxy_access_key_id = Some(proxy.access_key_id.clone());
            next.sealed_secret = Some(
                self.root
                    .seal(
                        &secret_aad(&next.custom_key_store_id),
                        proxy.secret_access_key.as_bytes(),
                    )
                    .map_err(internal("sealing a custom key store's secret"))?,
            );
        }
        let taken = self
            .store
            .custom_key_stores(caller.account_id(), &caller.region)
            .await
            .map_err(internal("reading custom key stores"))?
            .iter()
            .any(|s| {
                s.custom_key_store_id != next.custom_key_store_id
                    && s.xks_proxy_uri_endpoint == next.xks_proxy_uri_endpoint
                    && s.xks_proxy_uri_path == next.xks_proxy_uri_path
            });
        if taken {
            return Err(error(
                ErrorCode::XksProxyUriInUseException,
                "The XKS proxy URI is already associated with an external key store in this Region.",
            ));
        }
        crate::external_key_stores::check_proxy(
            &*self.xks_client()?,
            &proxy,
            &crate::external_key_stores::management_metadata()?,
        )
        .await
    }
}
