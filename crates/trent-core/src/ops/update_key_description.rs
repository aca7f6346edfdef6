//! UpdateKeyDescription: <https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateKeyDescription.html>

use trent_wire::{Operation, UpdateKeyDescriptionRequest, UpdateKeyDescriptionResponse};

use crate::ids::Forms;
use crate::keys::require_manageable;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn update_key_description(
        &self,
        caller: &Caller,
        req: UpdateKeyDescriptionRequest,
    ) -> Result<UpdateKeyDescriptionResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::UpdateKeyDescription,
            )
            .await?;
        self.update_key(&key.record.key_id, |r| {
            require_manageable(r)?;
            r.description = req.description.clone();
            Ok(())
        })
        .await?;
        Ok(UpdateKeyDescriptionResponse::default())
    }
}
