//! CreateKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html>

use std::sync::Arc;

use trent_policy::{Policy, PolicyKind};
use trent_store::{KeyRecord, MaterialRecord, StoreError};
use trent_wire::{
    CreateKeyRequest, CreateKeyResponse, KeyManagerType, KeySpec, KeyState, KeyUsageType,
    Operation, OriginType,
};

use super::common::{check_tags, merge_tags};
use crate::authz::{with_request_tags, Access};
use crate::backend::{Handle, KeyBackend};
use crate::error::internal;
use crate::ids::{new_key_arn, StorageKeyId};
use crate::keys::{hex_encode, key_metadata, multi_region_configuration, Key};
use crate::keyspec::KeyKind;
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
        let spec_name = req
            .key_spec
            .map(|s| s.as_str())
            .or(req.customer_master_key_spec.map(|s| s.as_str()))
            .unwrap_or(KeySpec::SymmetricDefault.as_str());
        // Every CustomerMasterKeySpec is a KeySpec too.
        let key_spec = KeySpec::parse(spec_name).ok_or_else(|| KmsError::Unsupported {
            what: format!("KeySpec {spec_name}"),
        })?;
        let kind = KeyKind::of(key_spec);
        // KeyUsage defaults to ENCRYPT_DECRYPT (CreateKey's KeyUsage documentation), so an
        // asymmetric spec that cannot encrypt fails the pair check below; HMAC keys must
        // name their usage (AWS: "You must specify a KeyUsage value for all KMS keys except
        // for symmetric encryption keys.").
        let usage = match (req.key_usage, kind) {
            (Some(u), _) => u,
            (None, KeyKind::Hmac(_)) => {
                return Err(KmsError::Validation {
                    message: "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into(),
                })
            }
            (None, _) => KeyUsageType::EncryptDecrypt,
        };
        if !kind.allowed_usages().contains(&usage) {
            return Err(KmsError::Validation {
                message: format!(
                    "KeyUsage {} is not compatible with KeySpec {key_spec}",
                    usage.as_str()
                ),
            });
        }
        let origin = req.origin.unwrap_or(OriginType::AwsKms);
        // EXTERNAL: a key without material, PendingImport until its material is imported
        // (<https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-create-cmk.html>).
        let external = origin == OriginType::External;
        // AWS_CLOUDHSM: a key generated inside the token of a custom key store
        // (<https://docs.aws.amazon.com/kms/latest/developerguide/create-cmk-keystore.html>).
        let in_token = origin == OriginType::AwsCloudhsm;
        // EXTERNAL_KEY_STORE: a key of an external key store, its XksKeyId the external key
        // (<https://docs.aws.amazon.com/kms/latest/developerguide/create-xks-keys.html>).
        let in_xks = origin == OriginType::ExternalKeyStore;
        match (&req.custom_key_store_id, in_token || in_xks) {
            (Some(_), true) | (None, false) => {}
            (Some(_), false) => {
                return Err(KmsError::Validation {
                    message: "The Origin must be AWS_CLOUDHSM or EXTERNAL_KEY_STORE to create a KMS key in a custom key store.".into(),
                })
            }
            (None, true) => {
                return Err(KmsError::Validation {
                    message: format!(
                        "A CustomKeyStoreId is required to create a KMS key with Origin {}.",
                        origin.as_str()
                    ),
                })
            }
        }
        match (&req.xks_key_id, in_xks) {
            (Some(_), true) | (None, false) => {}
            (Some(_), false) => {
                return Err(KmsError::Validation {
                    message: "XksKeyId is valid only with Origin EXTERNAL_KEY_STORE.".into(),
                })
            }
            (None, true) => return Err(KmsError::Validation {
                message:
                    "An XksKeyId is required to create a KMS key with Origin EXTERNAL_KEY_STORE."
                        .into(),
            }),
        }
        // A multi-Region primary key (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html>):
        // any key spec; replicas are made by ReplicateKey. (With Origin EXTERNAL it is
        // refused above, with every imported key.)
        let multi_region = req.multi_region == Some(true);
        if (in_token || in_xks) && (key_spec != KeySpec::SymmetricDefault || multi_region) {
            return Err(KmsError::Unsupported {
                what: if multi_region {
                    "Multi-Region keys in a custom key store".into()
                } else {
                    format!("KeySpec {key_spec} in a custom key store")
                },
            });
        }
        let tags = req.tags.unwrap_or_default();
        check_tags(&tags)?;
        let mut tag_list = Vec::new();
        merge_tags(&mut tag_list, &tags)?;
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        let access = Access::of(Operation::CreateKey)
            .with("kms:KeySpec", key_spec.as_str())
            .with("kms:KeyUsage", usage.as_str())
            .with("kms:KeyOrigin", origin.as_str())
            .with("kms:MultiRegion", multi_region)
            .with("kms:BypassPolicyLockoutSafetyCheck", bypass)
            .with_opt(
                "kms:CustomerMasterKeySpec",
                req.customer_master_key_spec.map(|s| s.as_str()),
            )
            .with_opt(
                "kms:CustomerMasterKeyUsage",
                req.key_usage.map(|u| u.as_str()),
            );
        self.authorize_without_key(caller, "*", &with_request_tags(access, &tags))?;
        self.check_key_quota(caller.account_id(), &caller.region)
            .await?;
        // The token of the custom key store, which must be connected.
        let (token, cluster_id, xks) = match (&req.custom_key_store_id, &req.xks_key_id) {
            (Some(id), None) => {
                let (record, token) = self.connected_key_store(caller, id).await?;
                (Some(token), record.cloud_hsm_cluster_id, None)
            }
            (Some(id), Some(xks_key_id)) => (
                None,
                None,
                Some((
                    self.external_key_connection(caller, id, xks_key_id).await?,
                    xks_key_id.clone(),
                )),
            ),
            _ => (None, None, None),
        };

        let account = caller.account_id();
        let region = &caller.region;
        // The key policy as given (GetKeyPolicy returns it byte for byte), else AWS's
        // default key policy, which delegates to the account's IAM policies.
        let policy_text = req
            .policy
            .clone()
            .unwrap_or_else(|| trent_policy::default_key_policy(account));
        let policy = Arc::new(Policy::parse(&policy_text, PolicyKind::KeyPolicy)?);
        let now = self.clock.now_millis();
        let backend = self.local_backend();
        let mut generated = if external || in_token {
            None
        } else {
            Some(backend.generate(kind).await?)
        };
        loop {
            // The public key id, the storage id, and the 16 bytes blobs carry: a UUID's, or
            // for a multi-Region key `mrk-` and 32 lowercase hex digits of 16 random bytes.
            let (public_id, key_id, key_id_bytes) = if multi_region {
                let bytes = trent_crypto::random_array::<16>().map_err(internal("random"))?;
                let mrk_id = format!("mrk-{}", hex_encode(&bytes));
                let storage_id = StorageKeyId::region_key(&mrk_id, region).into_string();
                (mrk_id, storage_id, bytes)
            } else {
                let uuid = uuid::Uuid::new_v4();
                let id = uuid.hyphenated().to_string();
                (id.clone(), id, *uuid.as_bytes())
            };
            let arn = new_key_arn(region, account, &public_id)?;
            if req.policy.is_some() && !bypass {
                self.check_lockout(caller, &policy, &arn)?;
            }
            let material_bytes = trent_crypto::random_array::<32>().map_err(internal("random"))?;
            let material_id = hex_encode(&material_bytes);
            // A key of a custom key store: its object in the token, labelled with its id.
            let object = match &token {
                Some(t) => {
                    let (t, label) = (t.clone(), public_id.clone());
                    let made = tokio::task::spawn_blocking(move || t.generate_key(&label))
                        .await
                        .map_err(internal("generating a key in a token"))?
                        .map_err(internal("generating a key in a token"))?;
                    Some(made)
                }
                None => None,
            };
            let record = KeyRecord {
                key_id: key_id.clone(),
                account_id: account.to_owned(),
                region: region.clone(),
                arn: arn.clone(),
                version: 1,
                created_at: now,
                description: req.description.clone().unwrap_or_default(),
                key_spec,
                key_usage: usage,
                origin,
                state: if external {
                    KeyState::PendingImport
                } else {
                    KeyState::Enabled
                },
                // Every key Trent makes is a customer managed key.
                key_manager: KeyManagerType::Customer,
                custom_key_store_id: req.custom_key_store_id.clone(),
                xks_key_id: req.xks_key_id.clone(),
                deletion_date: None,
                pending_deletion_window_days: None,
                current_material_id: (generated.is_some() || object.is_some())
                    .then(|| material_id.clone()),
                multi_region,
                mrk_id: multi_region.then(|| public_id.clone()),
                primary_region: multi_region.then(|| region.clone()),
                tags: tag_list.clone(),
                policy: policy_text.clone(),
            };
            let first = match (&generated, &object) {
                (Some(material), _) => Some(MaterialRecord {
                    key_id: key_id.clone(),
                    sealed: backend.store_form(&arn, &material_id, material)?,
                    material_id,
                    created_at: now,
                }),
                // What the store keeps of a token key: its object's id, no material.
                (None, Some(object)) => Some(MaterialRecord {
                    key_id: key_id.clone(),
                    sealed: crate::backend::token::stored_form(object),
                    material_id,
                    created_at: now,
                }),
                (None, None) => None,
            };
            let epoch = self.cache.epoch();
            let created = self.store.create_key(&record, first.as_ref()).await;
            if let (Err(_), Some(t), Some(object)) = (&created, &token, object) {
                // The key was not stored: its token object is nobody's.
                let t = t.clone();
                let destroyed = tokio::task::spawn_blocking(move || t.destroy_key(&object)).await;
                if !matches!(destroyed, Ok(Ok(_))) {
                    tracing::error!(key_id = %key_id, "a token object of a key that was not created could not be destroyed");
                }
            }
            match created {
                Ok(()) => {
                    let mut metadata = key_metadata(&record);
                    metadata.cloud_hsm_cluster_id = cluster_id.clone();
                    if multi_region {
                        // A new primary key, without replicas.
                        metadata.multi_region_configuration = Some(multi_region_configuration(
                            &record,
                            std::slice::from_ref(&record),
                        ));
                    }
                    // The key is usable at once: cache the prepared key instead of
                    // reading back and unsealing what was just sealed.
                    let handle = match (generated.take(), &token, object) {
                        (Some(material), _, _) => {
                            let local = backend.new_handle(material_bytes, material);
                            match (&xks, local) {
                                (Some((connection, xks_key_id)), Handle::Local(local)) => {
                                    Handle::External(crate::backend::external::ExternalKey {
                                        local,
                                        arn: record.arn.to_string(),
                                        xks_key_id: xks_key_id.clone(),
                                        connection: Some(connection.clone()),
                                    })
                                }
                                (_, local) => local,
                            }
                        }
                        (None, Some(t), Some(object_id)) => {
                            Handle::Token(crate::backend::token::TokenKey {
                                arn: record.arn.to_string(),
                                object_id,
                                material_id: material_bytes,
                                connection: Some(t.clone()),
                            })
                        }
                        _ => backend.without_material(),
                    };
                    self.cache.put_key(
                        Arc::new(Key::new(record, key_id_bytes, handle, policy.clone())),
                        epoch,
                    );
                    return Ok(CreateKeyResponse {
                        key_metadata: Some(metadata),
                    });
                }
                // An id collision: draw another id.
                Err(StoreError::AlreadyExists) => continue,
                // Its custom key store was disconnected or deleted meanwhile.
                Err(StoreError::Conflict) if req.custom_key_store_id.is_some() => {
                    let id = req.custom_key_store_id.as_deref().unwrap_or_default();
                    let now = crate::custom_key_stores::find(
                        &*self.store,
                        caller.account_id(),
                        &caller.region,
                        id,
                    )
                    .await?;
                    return Err(crate::custom_key_stores::error(
                        trent_wire::ErrorCode::CustomKeyStoreInvalidStateException,
                        format!(
                            "Custom key store '{id}' is {}. It must be CONNECTED.",
                            now.connection_state.as_str()
                        ),
                    ));
                }
                Err(e) => return Err(internal("creating a key")(e)),
            }
        }
    }
}
