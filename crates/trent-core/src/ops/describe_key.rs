//! DescribeKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html>

use trent_wire::{DescribeKeyRequest, DescribeKeyResponse, Timestamp};

use crate::authz::Access;
use crate::error::internal;
use crate::ids::Forms;
use crate::import::{expiration_model_of, is_external};
use crate::keys::key_metadata;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn describe_key(
        &self,
        caller: &Caller,
        req: DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOrAlias,
                Access::new("kms:DescribeKey").grant_tokens(req.grant_tokens.as_ref()),
            )
            .await?;
        let mut metadata = key_metadata(&key.record);
        if is_external(&key.record) {
            // "ExpirationModel: present only when Origin is EXTERNAL"; "ValidTo: the
            // earliest time at which any imported key material permanently associated with
            // this KMS key expires".
            let materials = self
                .store
                .imported_materials(&key.record.key_id)
                .await
                .map_err(internal("reading imported key material"))?;
            let current = key
                .record
                .current_material_id
                .as_deref()
                .and_then(|c| materials.iter().find(|m| m.material_id == c));
            metadata.expiration_model = current.and_then(expiration_model_of);
            metadata.valid_to = materials
                .iter()
                .filter(|m| m.sealed.is_some())
                .filter_map(|m| m.valid_to)
                .min()
                .map(Timestamp::from_millis);
        }
        Ok(DescribeKeyResponse {
            key_metadata: Some(metadata),
        })
    }
}
