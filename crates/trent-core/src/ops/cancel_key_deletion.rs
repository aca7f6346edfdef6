//! CancelKeyDeletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html>
//! The key returns to `Disabled`, as AWS documents; a key with imported key material whose
//! material was deleted or expired meanwhile returns to `PendingImport` (the key state
//! table: "PendingImport" applies whenever key material is missing).

use trent_store::KeyRecord;
use trent_wire::{CancelKeyDeletionRequest, CancelKeyDeletionResponse, KeyState, Operation};

use crate::error::internal;
use crate::ids::Forms;
use crate::import::{is_external, state_after};
use crate::key_state::KeyStateRules;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::CancelKeyDeletion,
            )
            .await?;
        let key_id = key.record.key_id.as_str();
        let stored = if is_external(&key.record) {
            // `Disabled`, or `PendingImport` if material is missing: decided on the
            // materials read with the record, under its version (see update_key_reading).
            self.update_key_reading(
                key_id,
                || async {
                    self.store
                        .imported_materials(key_id)
                        .await
                        .map_err(internal("reading imported key material"))
                },
                |r, materials| {
                    cancel(r)?;
                    r.state = KeyState::Disabled;
                    r.state = state_after(r, &materials);
                    Ok(())
                },
            )
            .await?
        } else {
            self.update_key(key_id, |r| {
                cancel(r)?;
                r.state = KeyState::Disabled;
                Ok(())
            })
            .await?
        };
        Ok(CancelKeyDeletionResponse {
            key_id: Some(stored.arn.to_string()),
        })
    }
}

/// Takes a key out of its deletion schedule; the caller sets the state it returns to.
fn cancel(r: &mut KeyRecord) -> Result<(), KmsError> {
    r.state.for_cancel_key_deletion(&r.arn)?;
    r.deletion_date = None;
    r.pending_deletion_window_days = None;
    Ok(())
}
