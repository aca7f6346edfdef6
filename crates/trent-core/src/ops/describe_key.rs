//! DescribeKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html>

use trent_wire::{DescribeKeyRequest, DescribeKeyResponse, Operation};

use crate::authz::Access;
use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn describe_key(
        &self,
        caller: &Caller,
        req: DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse, KmsError> {
        // A predefined alias of the caller's own account and Region without a key yet:
        // its AWS managed key is made now (then authorized like any other key).
        if let Some(service) = self.predefined_alias_named(caller, &req.key_id) {
            self.ensure_aws_managed_key(caller, service).await?;
        }
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOrAlias,
                Access::of(Operation::DescribeKey).grant_tokens(req.grant_tokens.as_ref()),
            )
            .await?;
        Ok(DescribeKeyResponse {
            key_metadata: Some(self.full_key_metadata(&key.record).await?),
        })
    }
}
