//! TagResource: <https://docs.aws.amazon.com/kms/latest/APIReference/API_TagResource.html>

use trent_wire::{Operation, TagResourceRequest, TagResourceResponse};

use super::common::{check_tags, merge_tags};
use crate::authz::{with_request_tags, Access};
use crate::ids::Forms;
use crate::keys::require_manageable;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn tag_resource(
        &self,
        caller: &Caller,
        req: TagResourceRequest,
    ) -> Result<TagResourceResponse, KmsError> {
        check_tags(&req.tags)?;
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                with_request_tags(Access::of(Operation::TagResource), &req.tags),
            )
            .await?;
        self.update_key(&key.record.key_id, |r| {
            require_manageable(r)?;
            merge_tags(&mut r.tags, &req.tags)
        })
        .await?;
        Ok(TagResourceResponse::default())
    }
}
