//! DeleteImportedKeyMaterial: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteImportedKeyMaterial.html>
//!
//! Destroys the sealed bytes of one imported material (the current one unless a
//! KeyMaterialId names another): they are removed from the store, not flagged. The key
//! becomes PendingImport ("When the specified KMS key is in the PendingDeletion state,
//! this operation does not change the KMS key's state. Otherwise, it changes the KMS key's
//! state to PendingImport"); what it encrypted decrypts again once the same material is
//! imported again.

use trent_store::{Committed, KeyRecord, StoreError};
use trent_wire::{
    DeleteImportedKeyMaterialRequest, DeleteImportedKeyMaterialResponse, KeyMaterialState,
    KeyState, Operation,
};

use crate::ids::Forms;
use crate::import::{deleted, is_external, material_state, merged, not_external, state_after};
use crate::key_state::KeyStateRules;
use crate::keys::is_primary;
use crate::optimistic::Invalidate;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn delete_imported_key_material(
        &self,
        caller: &Caller,
        req: DeleteImportedKeyMaterialRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::DeleteImportedKeyMaterial,
            )
            .await?;
        let record = &key.record;
        if !is_external(record) {
            return Err(not_external(record));
        }
        if record.mrk_id.is_some() && is_primary(record) {
            if let Some(out) = self.delete_pending_everywhere(record, &req).await? {
                return Ok(out);
            }
        }
        let mut deleted_id = None;
        let stored = self
            .write_imported(&record.key_id, |rec, materials, _now| {
                let target = match req.key_material_id.as_deref() {
                    Some(id) => {
                        materials
                            .iter()
                            .find(|m| m.material_id == id)
                            .ok_or_else(|| KmsError::Validation {
                                message: format!(
                                    "Key material ID {id} is not associated with KMS key {}.",
                                    rec.arn
                                ),
                            })?
                    }
                    None => rec
                        .current_material_id
                        .as_deref()
                        .and_then(|c| materials.iter().find(|m| m.material_id == c))
                        // Nothing was ever imported: there is nothing to delete.
                        .ok_or_else(|| KeyState::PendingImport.invalid(&rec.arn))?,
                };
                deleted_id = Some(target.material_id.clone());
                Ok(Some((
                    vec![deleted(target)],
                    rec.current_material_id.clone(),
                )))
            })
            .await?;
        let Some(stored) = stored else {
            return Err(KmsError::KeyNotFound {
                arn: record.arn.to_string(),
            });
        };
        Ok(DeleteImportedKeyMaterialResponse {
            key_id: Some(stored.arn.to_string()),
            key_material_id: deleted_id,
        })
    }
}

impl KeyService {
    /// DeleteImportedKeyMaterial on a multi-Region primary key of a material that waits
    /// for rotation (PENDING_ROTATION or PENDING_MULTI_REGION_IMPORT_AND_ROTATION): "you'll
    /// also be deleting the key materials for the replica Region keys" (the operation's
    /// considerations for multi-Region keys), in one store transaction. `None`: the
    /// material is not one of those (the caller deletes it from the primary alone).
    async fn delete_pending_everywhere(
        &self,
        primary: &KeyRecord,
        req: &DeleteImportedKeyMaterialRequest,
    ) -> Result<Option<DeleteImportedKeyMaterialResponse>, KmsError> {
        // Without a KeyMaterialId the current material is meant, never a pending one.
        let Some(target) = req.key_material_id.as_deref() else {
            return Ok(None);
        };
        let what = "deleting imported key material";
        self.optimistic(&primary.key_id, what, |attempt| async move {
            let region_keys = self.region_materials(primary).await?;
            let Some((rec, materials)) = region_keys.first() else {
                return Ok(None);
            };
            if rec.key_id != primary.key_id {
                // No longer the primary (UpdatePrimaryRegion meanwhile).
                return Ok(None);
            }
            let current = rec
                .current_material_id
                .as_deref()
                .and_then(|c| materials.iter().find(|m| m.material_id == c));
            let pending = materials.iter().find(|m| {
                m.material_id == target
                    && material_state(m, current) == KeyMaterialState::PendingRotation
            });
            if pending.is_none() {
                return Ok(None);
            }
            let writes: Vec<(KeyRecord, Vec<_>)> = region_keys
                .iter()
                .filter_map(|(k, theirs)| {
                    let m = theirs.iter().find(|m| m.material_id == target)?;
                    let gone = deleted(m);
                    let mut key = k.clone();
                    key.state = state_after(&key, &merged(theirs, std::slice::from_ref(&gone)));
                    Some((key, vec![gone]))
                })
                .collect();
            let written = self
                .store
                .transact(&crate::import::put_imported_materials(writes))
                .await
                .map(Committed::into_keys);
            if let Err(StoreError::NotFound) = written {
                return Err(KmsError::KeyNotFound {
                    arn: primary.arn.to_string(),
                }
                .into());
            }
            attempt.committed(written, |stored| {
                Invalidate::Keys(stored.iter().map(|k| k.key_id.clone()).collect())
            })?;
            Ok(Some(DeleteImportedKeyMaterialResponse {
                key_id: Some(rec.arn.to_string()),
                key_material_id: Some(target.to_owned()),
            }))
        })
        .await
    }
}
