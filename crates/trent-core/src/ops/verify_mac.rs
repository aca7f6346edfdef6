//! VerifyMac: <https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html>
//! A MAC that does not verify is KMSInvalidMacException (no message); the comparison is
//! constant-time.

use trent_wire::{MacAlgorithmSpec, Operation, VerifyMacRequest, VerifyMacResponse};

use crate::backend::KeyHandle;
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn verify_mac(
        &self,
        caller: &Caller,
        req: VerifyMacRequest,
    ) -> Result<VerifyMacResponse, KmsError> {
        let (key, algorithm) = self
            .mac_key(
                caller,
                &req.key_id,
                req.mac_algorithm,
                req.grant_tokens.as_ref(),
                Operation::VerifyMac,
            )
            .await?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let valid = key
            .handle
            .verify_mac(algorithm, req.message.expose(), &req.mac)
            .await
            .map_err(|e| e.into_kms(internal("verifying a MAC")))?;
        if !valid {
            return Err(KmsError::InvalidMac);
        }
        Ok(VerifyMacResponse {
            key_id: Some(key.record.arn.to_string()),
            mac_valid: Some(true),
            mac_algorithm: MacAlgorithmSpec::parse(algorithm.wire_name()),
        })
    }
}
