//! CreateKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html>

use std::collections::HashMap;
use std::sync::Arc;

use trent_crypto::SymmetricKey;
use trent_store::{KeyRecord, MaterialRecord, StoreError};
use trent_wire::{CreateKeyRequest, CreateKeyResponse, KeySpec, KeyUsageType, OriginType};

use super::common::{check_tags, merge_tags};
use crate::cache::LoadedKey;
use crate::error::internal;
use crate::ids::key_arn;
use crate::keys::{hex_encode, key_metadata, STATE_ENABLED};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn create_key(
        &self,
        caller: &Caller,
        req: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, KmsError> {
        if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
            return Err(KmsError::Validation {
                message: "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
            });
        }
        let key_spec = req
            .key_spec
            .map(|s| s.as_str())
            .or(req.customer_master_key_spec.map(|s| s.as_str()))
            .unwrap_or(KeySpec::SymmetricDefault.as_str());
        if key_spec != KeySpec::SymmetricDefault.as_str() {
            return Err(KmsError::Unsupported {
                what: format!("KeySpec {key_spec}"),
            });
        }
        let usage = req.key_usage.unwrap_or(KeyUsageType::EncryptDecrypt);
        if usage != KeyUsageType::EncryptDecrypt {
            return Err(KmsError::Validation {
                message: format!(
                    "KeyUsage {} is not compatible with KeySpec {key_spec}",
                    usage.as_str()
                ),
            });
        }
        let origin = req.origin.unwrap_or(OriginType::AwsKms);
        if origin != OriginType::AwsKms {
            return Err(KmsError::Unsupported {
                what: format!("Origin {}", origin.as_str()),
            });
        }
        if req.custom_key_store_id.is_some() || req.xks_key_id.is_some() {
            return Err(KmsError::Unsupported {
                what: "Custom key stores".into(),
            });
        }
        if req.multi_region == Some(true) {
            return Err(KmsError::Unsupported {
                what: "Multi-Region keys".into(),
            });
        }
        if req.policy.is_some() {
            return Err(KmsError::Unsupported {
                what: "A key policy other than the default key policy".into(),
            });
        }
        let tags = req.tags.unwrap_or_default();
        check_tags(&tags)?;
        let mut tag_list = Vec::new();
        merge_tags(&mut tag_list, &tags)?;

        let account = caller.account_id();
        let region = &caller.region;
        let now = self.clock.now_millis();
        let (key, material) =
            SymmetricKey::generate().map_err(internal("generating key material"))?;
        let key = Arc::new(key);
        loop {
            let uuid = uuid::Uuid::new_v4();
            let key_id = uuid.hyphenated().to_string();
            let arn = key_arn(region, account, &key_id);
            let material_bytes = trent_crypto::random_array::<32>().map_err(internal("random"))?;
            let material_id = hex_encode(&material_bytes);
            let record = KeyRecord {
                key_id: key_id.clone(),
                account_id: account.to_owned(),
                region: region.clone(),
                arn: arn.clone(),
                version: 1,
                created_at: now,
                description: req.description.clone().unwrap_or_default(),
                key_spec: key_spec.to_owned(),
                key_usage: usage.as_str().to_owned(),
                origin: origin.as_str().to_owned(),
                state: STATE_ENABLED.to_owned(),
                deletion_date: None,
                pending_deletion_window_days: None,
                current_material_id: material_id.clone(),
                multi_region: false,
                tags: tag_list.clone(),
            };
            let sealed = self.seal_material(&arn, &material_id, &material)?;
            let m = MaterialRecord {
                key_id: key_id.clone(),
                material_id,
                created_at: now,
                sealed,
            };
            let epoch = self.cache.epoch();
            match self.store.create_key(&record, &m).await {
                Ok(()) => {
                    let metadata = key_metadata(&record);
                    // The key is usable at once: cache the prepared key instead of
                    // reading back and unsealing what was just sealed.
                    self.cache.put_key(
                        Arc::new(LoadedKey {
                            record,
                            key_id_bytes: *uuid.as_bytes(),
                            materials: HashMap::from([(material_bytes, key.clone())]),
                            current_material: material_bytes,
                        }),
                        epoch,
                    );
                    return Ok(CreateKeyResponse {
                        key_metadata: Some(metadata),
                    });
                }
                // A UUID collision: draw another id.
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(internal("creating a key")(e)),
            }
        }
    }
}
