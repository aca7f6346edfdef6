//! ListKeyRotations: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html>
//!
//! Completed rotations oldest first; with `IncludeKeyMaterial=ALL_KEY_MATERIAL` the first
//! material too (without RotationDate and RotationType, as the model says). The marker is
//! the material's sequence number within the key.

use trent_wire::{
    IncludeKeyMaterial, KeyMaterialState, ListKeyRotationsRequest, ListKeyRotationsResponse,
    RotationType, RotationsListEntry, Timestamp,
};

use super::common::limit;
use super::enable_key_rotation::rotation_unsupported;
use crate::error::internal;
use crate::ids::Forms;
use crate::rotation::rotatable;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn list_key_rotations(
        &self,
        caller: &Caller,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        let after = match &req.marker {
            None => None,
            Some(m) => Some(
                m.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(KmsError::InvalidMarker)?,
            ),
        };
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, "kms:ListKeyRotations")
            .await?;
        let record = &key.record;
        if !rotatable(record) {
            return Err(rotation_unsupported("list the rotations of"));
        }
        let rotations_only = req.include_key_material != Some(IncludeKeyMaterial::AllKeyMaterial);
        let limit = limit(req.limit);
        let mut entries = self
            .store
            .material_history(&record.key_id, rotations_only, after, limit + 1)
            .await
            .map_err(internal("listing key rotations"))?;
        let truncated = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next_marker = if truncated {
            entries.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        // The current material as this request sees it (the store's, not a cached one).
        let current = self
            .store
            .key(&record.key_id)
            .await
            .map_err(internal("reading a key"))?
            .map_or_else(
                || record.current_material_id.clone(),
                |k| k.current_material_id,
            );
        Ok(ListKeyRotationsResponse {
            rotations: Some(
                entries
                    .into_iter()
                    .map(|e| RotationsListEntry {
                        key_id: Some(crate::keys::public_key_id(record).to_owned()),
                        key_material_state: Some(if e.material_id == current {
                            KeyMaterialState::Current
                        } else {
                            KeyMaterialState::NonCurrent
                        }),
                        key_material_id: Some(e.material_id),
                        rotation_date: e.rotated_at.map(Timestamp::from_millis),
                        rotation_type: e.rotation_type.as_deref().and_then(RotationType::parse),
                        ..RotationsListEntry::default()
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }
}
