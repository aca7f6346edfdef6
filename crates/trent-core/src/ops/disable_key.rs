//! DisableKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html>

use trent_wire::{DisableKeyRequest, DisableKeyResponse, KeyState, Operation};

use crate::ids::Forms;
use crate::keys::require_not_pending_deletion;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn disable_key(
        &self,
        caller: &Caller,
        req: DisableKeyRequest,
    ) -> Result<DisableKeyResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, Operation::DisableKey)
            .await?;
        self.update_key(&key.record.key_id, |r| {
            require_not_pending_deletion(r)?;
            r.state = KeyState::Disabled;
            Ok(())
        })
        .await?;
        Ok(DisableKeyResponse::default())
    }
}
