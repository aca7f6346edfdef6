//! DescribeCustomKeyStores: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeCustomKeyStores.html>

use trent_store::{CustomKeyStoreRecord, CustomKeyStoreType};
use trent_wire::{
    CustomKeyStoresListEntry, DescribeCustomKeyStoresRequest, DescribeCustomKeyStoresResponse,
    ErrorCode, Operation, SensitiveString, Timestamp, XksProxyConfigurationType,
};

use crate::authz::Access;
use crate::custom_key_stores::{error, not_found};
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn describe_custom_key_stores(
        &self,
        caller: &Caller,
        req: DescribeCustomKeyStoresRequest,
    ) -> Result<DescribeCustomKeyStoresResponse, KmsError> {
        self.authorize_without_key(caller, "*", &Access::of(Operation::DescribeCustomKeyStores))?;
        if req.custom_key_store_id.is_some() && req.custom_key_store_name.is_some() {
            return Err(KmsError::Validation {
                message: "You cannot specify both CustomKeyStoreId and CustomKeyStoreName.".into(),
            });
        }
        let mut stores = self
            .store
            .custom_key_stores(caller.account_id(), &caller.region)
            .await
            .map_err(internal("reading custom key stores"))?;
        if let Some(id) = &req.custom_key_store_id {
            stores.retain(|s| &s.custom_key_store_id == id);
            if stores.is_empty() {
                return Err(not_found(id));
            }
        }
        if let Some(name) = &req.custom_key_store_name {
            stores.retain(|s| &s.name == name);
            if stores.is_empty() {
                return Err(error(
                    ErrorCode::CustomKeyStoreNotFoundException,
                    format!("Custom key store with name '{name}' does not exist."),
                ));
            }
        }
        // The marker is the id of the last store of the previous page.
        let start = match &req.marker {
            None => 0,
            Some(marker) => {
                stores
                    .iter()
                    .position(|s| &s.custom_key_store_id == marker)
                    .ok_or_else(|| error(ErrorCode::InvalidMarkerException, "Invalid marker."))?
                    + 1
            }
        };
        let limit = req.limit.map_or(100, |l| l as usize);
        let page: Vec<&CustomKeyStoreRecord> = stores.iter().skip(start).take(limit).collect();
        let truncated = start + page.len() < stores.len();
        Ok(DescribeCustomKeyStoresResponse {
            next_marker: truncated
                .then(|| page.last().map(|s| s.custom_key_store_id.clone()))
                .flatten(),
            truncated: Some(truncated),
            custom_key_stores: Some(page.into_iter().map(entry).collect()),
        })
    }
}

fn entry(s: &CustomKeyStoreRecord) -> CustomKeyStoresListEntry {
    CustomKeyStoresListEntry {
        custom_key_store_id: Some(s.custom_key_store_id.clone()),
        custom_key_store_name: Some(s.name.clone()),
        cloud_hsm_cluster_id: s.cloud_hsm_cluster_id.clone(),
        trust_anchor_certificate: s.trust_anchor_certificate.clone(),
        connection_state: Some(s.connection_state),
        connection_error_code: s.connection_error_code,
        creation_date: Some(Timestamp::from_millis(s.created_at)),
        custom_key_store_type: Some(s.store_type),
        xks_proxy_configuration: (s.store_type == CustomKeyStoreType::ExternalKeyStore).then(
            || XksProxyConfigurationType {
                connectivity: s.xks_proxy_connectivity,
                access_key_id: s.xks_proxy_access_key_id.clone().map(SensitiveString::new),
                uri_endpoint: s.xks_proxy_uri_endpoint.clone(),
                uri_path: s.xks_proxy_uri_path.clone(),
                vpc_endpoint_service_name: s.xks_proxy_vpc_endpoint_service_name.clone(),
                ..XksProxyConfigurationType::default()
            },
        ),
    }
}
