//! GenerateMac: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html>
//! HMAC (RFC 2104) with the key's material.

use trent_wire::{GenerateMacRequest, GenerateMacResponse, MacAlgorithmSpec, Operation};

use crate::backend::KeyHandle;
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn generate_mac(
        &self,
        caller: &Caller,
        req: GenerateMacRequest,
    ) -> Result<GenerateMacResponse, KmsError> {
        let (key, algorithm) = self
            .mac_key(
                caller,
                &req.key_id,
                req.mac_algorithm,
                req.grant_tokens.as_ref(),
                Operation::GenerateMac,
            )
            .await?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let mac = key
            .handle
            .mac(algorithm, req.message.expose())
            .await
            .map_err(|e| e.into_kms(internal("computing a MAC")))?;
        Ok(GenerateMacResponse {
            mac: Some(mac),
            mac_algorithm: MacAlgorithmSpec::parse(algorithm.wire_name()),
            key_id: Some(key.record.arn.to_string()),
        })
    }
}
