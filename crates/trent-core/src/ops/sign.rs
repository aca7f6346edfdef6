//! Sign: <https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html>

use trent_wire::{Operation, SignRequest, SignResponse, SigningAlgorithmSpec};

use super::signing::signing_error;
use crate::backend::KeyHandle;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn sign(&self, caller: &Caller, req: SignRequest) -> Result<SignResponse, KmsError> {
        let checked = self
            .signing_request(
                caller,
                &req.key_id,
                req.signing_algorithm,
                req.message_type,
                req.message.expose().len(),
                (Operation::Sign, req.grant_tokens.as_ref()),
            )
            .await?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let (algorithm, message_type) = (checked.algorithm, checked.message_type);
        let signature = checked
            .key
            .handle
            .sign(algorithm, message_type, req.message.expose())
            .await
            .map_err(|e| {
                e.into_kms(signing_error(
                    algorithm,
                    checked.key.record.key_spec.as_str(),
                ))
            })?;
        Ok(SignResponse {
            key_id: Some(checked.key.record.arn.to_string()),
            signature: Some(signature),
            signing_algorithm: SigningAlgorithmSpec::parse(algorithm.wire_name()),
        })
    }
}
