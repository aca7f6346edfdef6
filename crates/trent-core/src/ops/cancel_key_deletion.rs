//! CancelKeyDeletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html>
//! The key returns to `Disabled`, as AWS documents; a key with imported key material whose
//! material was deleted or expired meanwhile returns to `PendingImport` (the key state
//! table: "PendingImport" applies whenever key material is missing).

use trent_wire::{CancelKeyDeletionRequest, CancelKeyDeletionResponse};

use crate::error::internal;
use crate::ids::Forms;
use crate::import::is_external;
use crate::keys::{
    STATE_DISABLED, STATE_PENDING_DELETION, STATE_PENDING_IMPORT, STATE_PENDING_REPLICA_DELETION,
};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, "kms:CancelKeyDeletion")
            .await?;
        let missing_material = is_external(&key.record) && {
            let materials = self
                .store
                .imported_materials(&key.record.key_id)
                .await
                .map_err(internal("reading imported key material"))?;
            materials.is_empty() || materials.iter().any(|m| m.sealed.is_none())
        };
        let stored = self
            .update_key(&key.record.key_id, |r| {
                // A primary waiting for its replicas' deletion can be cancelled too.
                if r.state != STATE_PENDING_DELETION && r.state != STATE_PENDING_REPLICA_DELETION {
                    return Err(KmsError::NotPendingDeletion { arn: r.arn.clone() });
                }
                r.state = if missing_material {
                    STATE_PENDING_IMPORT
                } else {
                    STATE_DISABLED
                }
                .to_owned();
                r.deletion_date = None;
                r.pending_deletion_window_days = None;
                Ok(())
            })
            .await?;
        Ok(CancelKeyDeletionResponse {
            key_id: Some(stored.arn),
        })
    }
}
