//! EnableKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html>

use trent_wire::{EnableKeyRequest, EnableKeyResponse};

use crate::ids::Forms;
use crate::keys::{require_not_pending_deletion, STATE_ENABLED};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn enable_key(
        &self,
        caller: &Caller,
        req: EnableKeyRequest,
    ) -> Result<EnableKeyResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, "kms:EnableKey")
            .await?;
        self.update_key(&key.record.key_id, |r| {
            require_not_pending_deletion(r)?;
            r.state = STATE_ENABLED.to_owned();
            Ok(())
        })
        .await?;
        Ok(EnableKeyResponse::default())
    }
}
