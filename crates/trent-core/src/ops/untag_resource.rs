//! UntagResource: <https://docs.aws.amazon.com/kms/latest/APIReference/API_UntagResource.html>
//! Removing a tag key the key does not have is not an error.

use trent_wire::{Operation, UntagResourceRequest, UntagResourceResponse};

use crate::authz::Access;
use crate::ids::Forms;
use crate::keys::require_manageable;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn untag_resource(
        &self,
        caller: &Caller,
        req: UntagResourceRequest,
    ) -> Result<UntagResourceResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Access::of(Operation::UntagResource)
                    .with_all("aws:TagKeys", req.tag_keys.iter().cloned()),
            )
            .await?;
        self.update_key(&key.record.key_id, |r| {
            require_manageable(r)?;
            r.tags.retain(|(k, _)| !req.tag_keys.contains(k));
            Ok(())
        })
        .await?;
        Ok(UntagResourceResponse::default())
    }
}
