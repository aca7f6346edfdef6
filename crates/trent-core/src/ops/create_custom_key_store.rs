//! CreateCustomKeyStore: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateCustomKeyStore.html>
//!
//! `AWS_CLOUDHSM` stores on PKCS#11 tokens (see `custom_key_stores.rs`): as on AWS, the
//! password is not checked until ConnectCustomKeyStore. `EXTERNAL_KEY_STORE` stores on an
//! XKS proxy (see `external_key_stores.rs`): the proxy must answer GetHealthStatus, signed
//! with the credential, before the store is created. Either is created `DISCONNECTED`.

use trent_store::{
    ConnectionStateType, CustomKeyStoreRecord, CustomKeyStoreType, StoreError,
    XksProxyConnectivityType,
};
use trent_wire::{CreateCustomKeyStoreRequest, CreateCustomKeyStoreResponse, ErrorCode, Operation};

use crate::authz::Access;
use crate::custom_key_stores::{error, same_pem, secret_aad};
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
        if let Some(quota) = self.quotas.custom_key_stores {
            if existing.len() as u64 >= quota {
                return Err(error(
                    ErrorCode::LimitExceededException,
                    format!("An account can have at most {quota} custom key stores in a Region."),
                ));
            }
        }
        // What each type keeps: its own properties, and the secret to seal.
        let mut record = CustomKeyStoreRecord {
            custom_key_store_id: String::new(),
            account_id: account.to_owned(),
            region: region.clone(),
            name: req.custom_key_store_name.clone(),
            store_type,
            cloud_hsm_cluster_id: None,
            trust_anchor_certificate: None,
            sealed_secret: None,
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
        let secret: &str = match store_type {
            CustomKeyStoreType::AwsCloudhsm => {
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
                if existing
                    .iter()
                    .any(|s| s.cloud_hsm_cluster_id.as_deref() == Some(cluster_id))
                {
                    return Err(error(
                        ErrorCode::CloudHsmClusterInUseException,
                        format!("AWS CloudHSM cluster '{cluster_id}' is already associated with a custom key store."),
                    ));
                }
                record.cloud_hsm_cluster_id = Some(cluster_id.to_owned());
                record.trust_anchor_certificate = Some(trust_anchor.to_owned());
                password.expose()
            }
            CustomKeyStoreType::ExternalKeyStore => {
                if req.cloud_hsm_cluster_id.is_some()
                    || req.trust_anchor_certificate.is_some()
                    || req.key_store_password.is_some()
                {
                    return Err(KmsError::Validation {
                        message: "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are not valid for a custom key store of type EXTERNAL_KEY_STORE.".into(),
                    });
                }
                let (Some(endpoint), Some(path), Some(credential)) = (
                    req.xks_proxy_uri_endpoint.as_deref(),
                    req.xks_proxy_uri_path.as_deref(),
                    req.xks_proxy_authentication_credential.as_ref(),
                ) else {
                    return Err(KmsError::Validation {
                        message: "XksProxyUriEndpoint, XksProxyUriPath and XksProxyAuthenticationCredential are required for a custom key store of type EXTERNAL_KEY_STORE.".into(),
                    });
                };
                let connectivity = req
                    .xks_proxy_connectivity
                    .unwrap_or(XksProxyConnectivityType::PublicEndpoint);
                check_connectivity(
                    connectivity,
                    req.xks_proxy_vpc_endpoint_service_name.is_some()
                        || req.xks_proxy_vpc_endpoint_service_owner.is_some(),
                )?;
                if existing.iter().any(|s| {
                    s.xks_proxy_uri_endpoint.as_deref() == Some(endpoint)
                        && s.xks_proxy_uri_path.as_deref() == Some(path)
                }) {
                    return Err(error(
                        ErrorCode::XksProxyUriInUseException,
                        format!("The XKS proxy URI {endpoint}{path} is already associated with an external key store in this Region."),
                    ));
                }
                record.xks_proxy_uri_endpoint = Some(endpoint.to_owned());
                record.xks_proxy_uri_path = Some(path.to_owned());
                record.xks_proxy_connectivity = Some(connectivity);
                record.xks_proxy_access_key_id = Some(credential.access_key_id.expose().to_owned());
                // The proxy must answer, with this credential, before the store exists.
                let proxy = crate::external_key_stores::XksProxy {
                    uri_endpoint: endpoint.to_owned(),
                    uri_path: path.to_owned(),
                    access_key_id: credential.access_key_id.expose().to_owned(),
                    secret_access_key: zeroize::Zeroizing::new(
                        credential.raw_secret_access_key.expose().to_owned(),
                    ),
                    region: region.to_string(),
                };
                crate::external_key_stores::check_proxy(
                    &*self.xks_client()?,
                    &proxy,
                    &crate::external_key_stores::management_metadata()?,
                )
                .await?;
                credential.raw_secret_access_key.expose()
            }
        };
        loop {
            let id = new_custom_key_store_id()?;
            let sealed = self
                .root
                .seal(&secret_aad(&id), secret.as_bytes())
                .map_err(internal("sealing a custom key store's secret"))?;
            record.custom_key_store_id = id.clone();
            record.sealed_secret = Some(sealed);
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

/// Only public endpoint connectivity: Trent cannot reach an AWS VPC endpoint service, and
/// answers as AWS does for one it cannot find.
pub(crate) fn check_connectivity(
    connectivity: XksProxyConnectivityType,
    vpc_properties: bool,
) -> Result<(), KmsError> {
    match connectivity {
        XksProxyConnectivityType::PublicEndpoint if vpc_properties => Err(KmsError::Validation {
            message: "XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are valid only with XksProxyConnectivity VPC_ENDPOINT_SERVICE.".into(),
        }),
        XksProxyConnectivityType::PublicEndpoint => Ok(()),
        XksProxyConnectivityType::VpcEndpointService => Err(error(
            ErrorCode::XksProxyVpcEndpointServiceNotFoundException,
            "KMS cannot find the VPC endpoint service: this KMS reaches external key store proxies through public endpoints only (XksProxyConnectivity PUBLIC_ENDPOINT).",
        )),
    }
}
