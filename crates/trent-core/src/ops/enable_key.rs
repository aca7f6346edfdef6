//! EnableKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html>

use trent_wire::{EnableKeyRequest, EnableKeyResponse, KeyState, Operation};

use crate::ids::Forms;
use crate::keys::require_not_pending_deletion;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn enable_key(
        &self,
        caller: &Caller,
        req: EnableKeyRequest,
    ) -> Result<EnableKeyResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, Operation::EnableKey)
            .await?;
        self.update_key(&key.record.key_id, |r| {
            require_not_pending_deletion(r)?;
            r.state = KeyState::Enabled;
            Ok(())
        })
        .await?;
        Ok(EnableKeyResponse::default())
    }
}
