//! Sign: <https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html>

use trent_wire::{Operation, SignRequest, SignResponse, SigningAlgorithmSpec};

use super::common::with_private_key;
use super::signing::signing_error;
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
        let spec = checked.key.record.key_spec;
        let message = req.message;
        let signature = with_private_key(&checked.key, move |k| {
            k.sign(algorithm, message_type, message.expose())
                .map_err(signing_error(algorithm, spec.as_str()))
        })
        .await?;
        Ok(SignResponse {
            key_id: Some(checked.key.record.arn.clone()),
            signature: Some(signature),
            signing_algorithm: SigningAlgorithmSpec::parse(algorithm.wire_name()),
        })
    }
}
