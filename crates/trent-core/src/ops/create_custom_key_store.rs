//! CreateCustomKeyStore: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateCustomKeyStore.html>
//!
//! `AWS_CLOUDHSM` stores on PKCS#11 tokens (see `custom_key_stores.rs`). The store is
//! created `DISCONNECTED`; as on AWS, the password is not checked until
//! ConnectCustomKeyStore.

use trent_store::{ConnectionStateType, CustomKeyStoreRecord, CustomKeyStoreType, StoreError};
use trent_wire::{CreateCustomKeyStoreRequest, CreateCustomKeyStoreResponse, ErrorCode, Operation};

use crate::authz::Access;
use crate::custom_key_stores::{error, same_pem, secret_aad, MAX_STORES};
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn create_custom_key_store(
        &self,
        caller: &Caller,
        req: CreateCustomKeyStoreRequest,
    ) -> Result<CreateCustomKeyStoreResponse, KmsError> {
        self.authorize_without_key(caller, "*", &Access::of(Operation::CreateCustomKeyStore))?;
        let store_type = req
            .custom_key_store_type
            .unwrap_or(CustomKeyStoreType::AwsCloudhsm);
        if store_type == CustomKeyStoreType::ExternalKeyStore {
            return Err(KmsError::Unsupported {
                what: "External key stores".into(),
            });
        }
        if crate::custom_key_stores::names_xks_proxy!(req) {
            return Err(crate::custom_key_stores::xks_properties_refused());
        }
        let (Some(cluster_id), Some(trust_anchor), Some(password)) = (
            req.cloud_hsm_cluster_id.as_deref(),
            req.trust_anchor_certificate.as_deref(),
            req.key_store_password.as_ref(),
        ) else {
            return Err(KmsError::Validation {
                message: "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are required for a custom key store of type AWS_CLOUDHSM.".into(),
            });
        };
        let cluster = self.custom_key_stores.cluster(cluster_id).ok_or_else(|| {
            error(
                ErrorCode::CloudHsmClusterNotFoundException,
                format!("AWS CloudHSM cluster '{cluster_id}' could not be found."),
            )
        })?;
        if !same_pem(trust_anchor, &cluster.trust_anchor) {
            return Err(error(
                ErrorCode::IncorrectTrustAnchorException,
                format!("The trust anchor certificate does not match the trust anchor certificate of AWS CloudHSM cluster '{cluster_id}'."),
            ));
        }
        let account = caller.account_id();
        let region = &caller.region;
        let existing = self
            .store
            .custom_key_stores(account, region)
            .await
            .map_err(internal("reading custom key stores"))?;
        if existing.iter().any(|s| s.name == req.custom_key_store_name) {
            return Err(name_in_use(&req.custom_key_store_name));
        }
        if existing
            .iter()
            .any(|s| s.cloud_hsm_cluster_id.as_deref() == Some(cluster_id))
        {
            return Err(error(
                ErrorCode::CloudHsmClusterInUseException,
                format!("AWS CloudHSM cluster '{cluster_id}' is already associated with a custom key store."),
            ));
        }
        if existing.len() >= MAX_STORES {
            return Err(error(
                ErrorCode::LimitExceededException,
                format!("An account can have at most {MAX_STORES} custom key stores in a Region."),
            ));
        }
        loop {
            let id = new_custom_key_store_id()?;
            let sealed = self
                .root
                .seal(&secret_aad(&id), password.expose().as_bytes())
                .map_err(internal("sealing a custom key store's password"))?;
            let record = CustomKeyStoreRecord {
                custom_key_store_id: id.clone(),
                account_id: account.to_owned(),
                region: region.clone(),
                name: req.custom_key_store_name.clone(),
                store_type,
                cloud_hsm_cluster_id: Some(cluster_id.to_owned()),
                trust_anchor_certificate: Some(trust_anchor.to_owned()),
                sealed_secret: Some(sealed),
                xks_proxy_uri_endpoint: None,
                xks_proxy_uri_path: None,
                xks_proxy_connectivity: None,
                xks_proxy_vpc_endpoint_service_name: None,
                xks_proxy_vpc_endpoint_service_owner: None,
                xks_proxy_access_key_id: None,
                connection_state: ConnectionStateType::Disconnected,
                connection_error_code: None,
                created_at: self.clock.now_millis(),
                version: 1,
            };
            match self.store.create_custom_key_store(&record).await {
                Ok(()) => {
                    return Ok(CreateCustomKeyStoreResponse {
                        custom_key_store_id: Some(id),
                    })
                }
                Err(StoreError::AlreadyExists) => {
                    // The name was taken meanwhile, or (most unlikely) the id.
                    let taken = self
                        .store
                        .custom_key_stores(account, region)
                        .await
                        .map_err(internal("reading custom key stores"))?
                        .iter()
                        .any(|s| s.name == req.custom_key_store_name);
                    if taken {
                        return Err(name_in_use(&req.custom_key_store_name));
                    }
                }
                Err(e) => return Err(internal("creating a custom key store")(e)),
            }
        }
    }
}

pub(crate) fn name_in_use(name: &str) -> KmsError {
    error(
        ErrorCode::CustomKeyStoreNameInUseException,
        format!("Custom key store name '{name}' is already in use."),
    )
}

/// `cks-` and 17 lowercase hex digits, as AWS's custom key store ids.
fn new_custom_key_store_id() -> Result<String, KmsError> {
    let bytes = trent_crypto::random_array::<9>().map_err(internal("random"))?;
    let hex = crate::keys::hex_encode(&bytes);
    Ok(format!("cks-{}", &hex[..17]))
}
