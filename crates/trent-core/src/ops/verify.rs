//! Verify: <https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html>
//! A signature that does not verify (malformed ones included) is
//! KMSInvalidSignatureException, with no message, as AWS answers it.

use trent_wire::{Operation, SigningAlgorithmSpec, VerifyRequest, VerifyResponse};

use super::signing::signing_error;
use crate::backend::KeyHandle;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn verify(
        &self,
        caller: &Caller,
        req: VerifyRequest,
    ) -> Result<VerifyResponse, KmsError> {
        let checked = self
            .signing_request(
                caller,
                &req.key_id,
                req.signing_algorithm,
                req.message_type,
                req.message.expose().len(),
                (Operation::Verify, req.grant_tokens.as_ref()),
            )
            .await?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let valid = checked
            .key
            .handle
            .verify(
                checked.algorithm,
                checked.message_type,
                req.message.expose(),
                &req.signature,
            )
            .await
            .map_err(|e| {
                e.into_kms(signing_error(
                    checked.algorithm,
                    checked.key.record.key_spec.as_str(),
                ))
            })?;
        if !valid {
            return Err(KmsError::InvalidSignature);
        }
        Ok(VerifyResponse {
            key_id: Some(checked.key.record.arn.to_string()),
            signature_valid: Some(true),
            signing_algorithm: SigningAlgorithmSpec::parse(checked.algorithm.wire_name()),
        })
    }
}
