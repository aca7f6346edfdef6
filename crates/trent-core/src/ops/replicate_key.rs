//! ReplicateKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html>
//!
//! Called in the primary key's region; creates the replica, a key of its own in
//! `ReplicaRegion` with the primary's shared properties (key id, key spec, key usage,
//! origin, every material version with its rotation history) and its own policy,
//! description, tags and state
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html#mrk-sync-properties>).
//!
//! AWS answers with the replica in the transient `Creating` state, which "changes to
//! Enabled ... after a few seconds". Trent creates the replica, material included, in the
//! request's transaction, so there is nothing left to wait for: the replica is `Enabled`
//! (and usable) as soon as the response leaves. Clients written for AWS (which retry on
//! KMSInvalidStateException or poll DescribeKey for Enabled) work unchanged.
//!
//! A primary with imported key material (Origin EXTERNAL) is replicated without material:
//! the replica is `PendingImport` and knows every material of its primary (with its
//! rotation history), none of them imported, until the same material is imported into it
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-import.html>).
//!
//! Permissions as AWS documents them: `kms:ReplicateKey` on the primary key, and, in the
//! replica region, `kms:CreateKey` (and `kms:TagResource` with Tags) in an IAM policy.

use std::sync::Arc;

use trent_policy::{Policy, PolicyKind};
use trent_store::{KeyRecord, MaterialRecord, RotationRecord, StoreError, Transaction};
use trent_wire::{
    KeyMetadata, KeyState, Operation, Region, ReplicateKeyRequest, ReplicateKeyResponse, Tag,
};

use super::common::{check_tags, merge_tags};
use crate::authz::{with_request_tags, Access};
use crate::error::internal;
use crate::ids::{is_region, new_key_arn, partition, Forms, StorageKeyId};
use crate::import::{is_external, replica_copy};
use crate::keys::{is_primary, public_key_id, require_manageable, require_not_pending_deletion};
use crate::optimistic::Invalidate;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn replicate_key(
        &self,
        caller: &Caller,
        req: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, KmsError> {
        let replica_region = req.replica_region.as_str();
        check_region(replica_region, "replicaRegion")?;
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Access::of(Operation::ReplicateKey).with("kms:ReplicaRegion", replica_region),
            )
            .await?;
        let primary = &key.record;
        require_primary_to_replicate(primary)?;
        require_replicable(primary)?;
        if replica_region == primary.region {
            return Err(KmsError::Validation {
                message: format!(
                    "The replica region {replica_region} must be different from the region of the primary key {}.",
                    primary.arn
                ),
            });
        }
        if partition(replica_region) != partition(&primary.region) {
            return Err(KmsError::Validation {
                message: format!(
                    "The replica region {replica_region} is not in the partition of the primary key {}.",
                    primary.arn
                ),
            });
        }
        let mrk_id = public_key_id(primary).to_owned();
        let tags = req.tags.clone().unwrap_or_default();
        check_tags(&tags)?;
        let mut tag_list = Vec::new();
        merge_tags(&mut tag_list, &tags)?;
        // In the replica region: kms:CreateKey, and kms:TagResource for Tags (IAM policy).
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        let create = Access::of(Operation::CreateKey)
            .with("kms:KeySpec", primary.key_spec.as_str())
            .with("kms:KeyUsage", primary.key_usage.as_str())
            .with("kms:KeyOrigin", primary.origin.as_str())
            .with("kms:MultiRegion", true)
            .with("kms:BypassPolicyLockoutSafetyCheck", bypass);
        self.authorize_without_key(caller, "*", &with_request_tags(create, &tags))?;
        if !tags.is_empty() {
            self.authorize_without_key(
                caller,
                "*",
                &with_request_tags(Access::of(Operation::TagResource), &tags),
            )?;
        }
        // A replica is a customer managed key of the replica Region: its key quota.
        self.check_key_quota(&primary.account_id, replica_region)
            .await?;
        let replica_region_name =
            Region::parse(replica_region).map_err(internal("naming a replica's region"))?;
        let replica_arn = new_key_arn(&replica_region_name, &primary.account_id, &mrk_id)?;
        // The replica's own key policy, as given, else AWS's default key policy.
        let policy_text = req
            .policy
            .clone()
            .unwrap_or_else(|| trent_policy::default_key_policy(&primary.account_id));
        let policy = Arc::new(Policy::parse(&policy_text, PolicyKind::KeyPolicy)?);
        if req.policy.is_some() && !bypass {
            self.check_lockout(caller, &policy, &replica_arn)?;
        }
        let storage_id = StorageKeyId::region_key(&mrk_id, replica_region).into_string();

        // Every attempt's future borrows what the request decided.
        let (key, req, mrk_id, storage_id) = (&key, &req, &mrk_id, &storage_id);
        let (replica_arn, policy_text, tag_list) = (&replica_arn, &policy_text, &tag_list);
        let replica_region_name = &replica_region_name;
        self.optimistic(&primary.key_id, "creating a replica key", |attempt| async move {
            // Fresh reads each attempt: the creation is version-checked against the primary,
            // so a rotation or a new replica meanwhile makes it retry, never miss material.
            let Some(primary) = self.stored_key(&primary.key_id).await?
            else {
                return Err(KmsError::KeyNotFound {
                    arn: key.record.arn.to_string(),
                }
                .into());
            };
            require_primary_to_replicate(&primary)?;
            require_replicable(&primary)?;
            let existing = self.region_keys(mrk_id, &primary.account_id).await?;
            if let Some(there) = existing.iter().find(|k| k.region == replica_region) {
                return Err(KmsError::ReplicaAlreadyExists {
                    message: format!(
                        "A replica of the multi-Region key {} already exists in {replica_region}: {} ({}).",
                        primary.arn, there.arn, there.state
                    ),
                }
                .into());
            }
            let now = self.clock.now_millis();
            let mut materials = Vec::new();
            for m in self
                .store
                .materials(&primary.key_id)
                .await
                .map_err(internal("reading key material"))?
            {
                // Re-sealed under the replica's ARN, with the same material id, so that a
                // ciphertext's material id resolves in every region.
                materials.push(MaterialRecord {
                    key_id: storage_id.clone(),
                    sealed: self.local_backend().reseal(
                        &primary.arn,
                        replica_arn,
                        &m.material_id,
                        &m.sealed,
                    )?,
                    material_id: m.material_id,
                    created_at: m.created_at,
                });
            }
            let rotations: Vec<RotationRecord> = self
                .store
                .material_history(&primary.key_id, true, None, u32::MAX)
                .await
                .map_err(internal("reading the rotations of a key"))?
                .into_iter()
                .filter_map(|h| {
                    Some(RotationRecord {
                        key_id: storage_id.clone(),
                        material_id: h.material_id,
                        rotated_at: h.rotated_at?,
                        rotation_type: h.rotation_type?,
                    })
                })
                .collect();
            let record = KeyRecord {
                key_id: storage_id.clone(),
                account_id: primary.account_id.clone(),
                region: replica_region_name.clone(),
                arn: replica_arn.clone(),
                version: 1,
                created_at: now,
                // "The default value is an empty string (no description)."
                description: req.description.clone().unwrap_or_default(),
                key_spec: primary.key_spec,
                key_usage: primary.key_usage,
                origin: primary.origin,
                state: KeyState::Enabled,
                key_manager: primary.key_manager,
                custom_key_store_id: primary.custom_key_store_id.clone(),
                xks_key_id: None,
                deletion_date: None,
                pending_deletion_window_days: None,
                current_material_id: primary.current_material_id.clone(),
                multi_region: true,
                mrk_id: Some(mrk_id.clone()),
                primary_region: Some(primary.region.clone()),
                tags: tag_list.clone(),
                policy: policy_text.clone(),
            };
            let created = if is_external(&primary) {
                // "If you replicate a multi-Region primary key with imported key material,
                // the replica key is created with no key material. You must import the
                // same key material that you imported into the primary key" (ReplicateKey):
                // the replica knows every material of its primary, none of them imported,
                // and waits in PendingImport for all of them.
                let imported: Vec<_> = self
                    .store
                    .imported_materials(&primary.key_id)
                    .await
                    .map_err(internal("reading imported key material"))?
                    .iter()
                    .map(|m| replica_copy(m, storage_id))
                    .collect();
                let record = KeyRecord {
                    state: KeyState::PendingImport,
                    ..record.clone()
                };
                // Under the primary's version check, which it bumps (so that a concurrent
                // rotation of the primary, which also bumps it, and this creation cannot
                // both succeed).
                let mut create = Transaction::new("create_imported_replica_key");
                create
                    .bump_version(&primary.key_id, primary.version)
                    .insert_key(record.clone());
                for m in imported {
                    create.put_imported_material(m);
                }
                self.store.transact(&create).await.map(|_| record)
            } else {
                let mut create = Transaction::new("create_replica_key");
                create
                    .bump_version(&primary.key_id, primary.version)
                    .insert_key(record.clone());
                for m in materials {
                    create.add_material(m);
                }
                for r in rotations {
                    create.record_rotation(r);
                }
                self.store.transact(&create).await.map(|_| record)
            };
            if let Err(StoreError::AlreadyExists) = created {
                return Err(KmsError::ReplicaAlreadyExists {
                    message: format!(
                        "A replica of the multi-Region key {} already exists in {replica_region}.",
                        primary.arn
                    ),
                }
                .into());
            }
            let record = attempt.committed(created, |_| {
                Invalidate::Keys(vec![primary.key_id.clone(), storage_id.clone()])
            })?;
            // AWS's ReplicaKeyMetadata has no CurrentKeyMaterialId (DescribeKey of the
            // replica has it), and the response has no ReplicaTags when there are none.
            let metadata = KeyMetadata {
                current_key_material_id: None,
                ..self.full_key_metadata(&record).await?
            };
            let replica_tags = (!tag_list.is_empty()).then(|| {
                tag_list
                    .iter()
                    .map(|(tag_key, tag_value)| Tag {
                        tag_key: tag_key.clone(),
                        tag_value: tag_value.clone(),
                    })
                    .collect()
            });
            Ok(ReplicateKeyResponse {
                replica_key_metadata: Some(metadata),
                replica_policy: Some(policy_text.clone()),
                replica_tags,
            })
        })
        .await
    }
}

/// ReplicateKey needs a primary that is enabled or disabled, or, with imported key
/// material, pending import: its replica is created without material either way.
fn require_replicable(primary: &KeyRecord) -> Result<(), KmsError> {
    if is_external(primary) {
        require_manageable(primary)
    } else {
        require_not_pending_deletion(primary)
    }
}

/// A region parameter must be a region name (the model's `RegionType` pattern).
pub(crate) fn check_region(region: &str, member: &str) -> Result<(), KmsError> {
    if is_region(region) {
        return Ok(());
    }
    Err(KmsError::Validation {
        message: format!(
            "1 validation error detected: Value '{region}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){{2,3}}\\d+$"
        ),
    })
}

/// ReplicateKey of a replica: UnsupportedOperationException `<arn> is not a multi-region
/// primary key.` (AWS's answer, LocalStack's replicate_key since localstack/localstack#13102);
/// a single-Region key as [`require_primary`] says.
fn require_primary_to_replicate(record: &KeyRecord) -> Result<(), KmsError> {
    if record.mrk_id.is_some() && !is_primary(record) {
        return Err(KmsError::MultiRegionUnsupported {
            message: format!("{} is not a multi-region primary key.", record.arn),
        });
    }
    require_primary(record, "replicate")
}

/// ReplicateKey and UpdatePrimaryRegion act on a multi-Region primary key only.
pub(crate) fn require_primary(record: &KeyRecord, what: &str) -> Result<(), KmsError> {
    if record.mrk_id.is_none() {
        return Err(KmsError::MultiRegionUnsupported {
            message: format!(
                "{} is not a multi-Region key. You can {what} only multi-Region primary keys.",
                record.arn
            ),
        });
    }
    if !is_primary(record) {
        return Err(KmsError::MultiRegionUnsupported {
            message: format!(
                "{} is a multi-Region replica key. You can {what} only multi-Region primary keys.",
                record.arn
            ),
        });
    }
    Ok(())
}
