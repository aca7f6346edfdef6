//! DeleteImportedKeyMaterial: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteImportedKeyMaterial.html>
//!
//! Destroys the sealed bytes of one imported material (the current one unless a
//! KeyMaterialId names another): they are removed from the store, not flagged. The key
//! becomes PendingImport ("When the specified KMS key is in the PendingDeletion state,
//! this operation does not change the KMS key's state. Otherwise, it changes the KMS key's
//! state to PendingImport"); what it encrypted decrypts again once the same material is
//! imported again.

use trent_wire::{DeleteImportedKeyMaterialRequest, DeleteImportedKeyMaterialResponse};

use crate::ids::Forms;
use crate::import::{deleted, is_external, not_external};
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
                "kms:DeleteImportedKeyMaterial",
            )
            .await?;
        let record = &key.record;
        if !is_external(record) {
            return Err(not_external(record));
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
                        .ok_or_else(|| KmsError::InvalidState {
                            arn: rec.arn.clone(),
                            state: "pending import".into(),
                        })?,
                };
                deleted_id = Some(target.material_id.clone());
                Ok(Some((deleted(target), rec.current_material_id.clone())))
            })
            .await?;
        let Some(stored) = stored else {
            return Err(KmsError::KeyNotFound {
                arn: record.arn.clone(),
            });
        };
        Ok(DeleteImportedKeyMaterialResponse {
            key_id: Some(stored.arn),
            key_material_id: deleted_id,
        })
    }
}
