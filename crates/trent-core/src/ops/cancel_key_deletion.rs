//! CancelKeyDeletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html>
//! The key returns to `Disabled`, as AWS documents.

use trent_wire::{CancelKeyDeletionRequest, CancelKeyDeletionResponse};

use crate::ids::Forms;
use crate::keys::{STATE_DISABLED, STATE_PENDING_DELETION, STATE_PENDING_REPLICA_DELETION};
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
        let stored = self
            .update_key(&key.record.key_id, |r| {
                // A primary waiting for its replicas' deletion can be cancelled too.
                if r.state != STATE_PENDING_DELETION && r.state != STATE_PENDING_REPLICA_DELETION {
                    return Err(KmsError::NotPendingDeletion { arn: r.arn.clone() });
                }
                r.state = STATE_DISABLED.to_owned();
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
