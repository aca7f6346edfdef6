//! ListKeyRotations: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html>
//!
//! Completed rotations oldest first; with `IncludeKeyMaterial=ALL_KEY_MATERIAL` the first
//! material too (without RotationDate and RotationType, as the model says). The marker is
//! the material's sequence number within the key.

use trent_wire::{
    IncludeKeyMaterial, KeyMaterialState, ListKeyRotationsRequest, ListKeyRotationsResponse,
    Operation, RotationsListEntry, Timestamp,
};

use super::common::limit;
use super::enable_key_rotation::rotation_unsupported;
use crate::error::internal;
use crate::ids::Forms;
use crate::import::{
    awaiting_replicas, expiration_model_of, import_state, is_external, shared_material_state,
};
use crate::rotation::rotatable_on_demand;
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
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::ListKeyRotations,
            )
            .await?;
        let record = &key.record;
        if !rotatable_on_demand(record) {
            return Err(rotation_unsupported("list the rotations of"));
        }
        let rotations_only = req.include_key_material != Some(IncludeKeyMaterial::AllKeyMaterial);
        let limit = limit(req.limit);
        if is_external(record) {
            return self
                .list_imported_rotations(&record.key_id, rotations_only, after, limit)
                .await;
        }
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
            .stored_key(&record.key_id)
            .await?
            .map_or_else(
                || record.current_material_id.clone(),
                |k| k.current_material_id,
            )
            .unwrap_or_default();
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
                        rotation_type: e.rotation_type,
                        ..RotationsListEntry::default()
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }
}

impl KeyService {
    /// ListKeyRotations of a key with imported key material: its materials in import
    /// order, each with its import state, expiration and description.
    async fn list_imported_rotations(
        &self,
        key_id: &str,
        rotations_only: bool,
        after: Option<i64>,
        limit: u32,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        let record = self.stored_key(key_id).await?.ok_or(KmsError::Internal)?;
        let materials = self
            .store
            .imported_materials(key_id)
            .await
            .map_err(internal("reading imported key material"))?;
        let current = record
            .current_material_id
            .as_deref()
            .and_then(|c| materials.iter().find(|m| m.material_id == c));
        // A multi-Region key's material waiting for a replica's import is
        // PENDING_MULTI_REGION_IMPORT_AND_ROTATION in every region.
        let awaiting = if record.mrk_id.is_some() {
            awaiting_replicas(&self.region_materials(&record).await?)
        } else {
            Vec::new()
        };
        let mut entries: Vec<_> = materials
            .iter()
            .filter(|m| !rotations_only || m.rotated_at.is_some())
            .filter(|m| after.is_none_or(|a| m.seq > a))
            .collect();
        let truncated = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next_marker = if truncated {
            entries.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(ListKeyRotationsResponse {
            rotations: Some(
                entries
                    .into_iter()
                    .map(|m| RotationsListEntry {
                        key_id: Some(crate::keys::public_key_id(&record).to_owned()),
                        key_material_id: Some(m.material_id.clone()),
                        key_material_description: m.description.clone(),
                        import_state: Some(import_state(m)),
                        key_material_state: Some(shared_material_state(m, current, &awaiting)),
                        expiration_model: expiration_model_of(m),
                        valid_to: m.valid_to.map(Timestamp::from_millis),
                        rotation_date: m.rotated_at.map(Timestamp::from_millis),
                        rotation_type: m.rotation_type,
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }
}
