//! GenerateRandom: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html>

use trent_wire::{GenerateRandomRequest, GenerateRandomResponse, Operation, SensitiveBlob};

use crate::authz::Access;
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn generate_random(
        &self,
        caller: &Caller,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        self.authorize_without_key(caller, "*", &Access::of(Operation::GenerateRandom))?;
        // NumberOfBytes is optional in the model, required by the operation; AWS's message
        // (LocalStack's GenerateRandom, recorded against AWS).
        let n = req.number_of_bytes.ok_or_else(|| KmsError::Validation {
            message: "NumberOfBytes is required.".into(),
        })?;
        // With a custom key store: random bytes from its token, which must be connected.
        let token = match &req.custom_key_store_id {
            Some(id) => Some(self.connected_key_store(caller, id).await?.1),
            None => None,
        };
        if req.recipient.is_some() {
            return Err(KmsError::Unsupported {
                what: "Recipient (Nitro Enclaves attestation)".into(),
            });
        }
        let n = usize::try_from(n).map_err(|_| KmsError::Internal)?;
        let bytes = match token {
            Some(token) => tokio::task::spawn_blocking(move || token.random(n))
                .await
                .map_err(internal("random from a token"))?
                .map_err(internal("random from a token"))?,
            None => trent_crypto::random_bytes(n).map_err(internal("random"))?,
        };
        Ok(GenerateRandomResponse {
            plaintext: Some(SensitiveBlob::from(bytes.into_vec())),
            ..GenerateRandomResponse::default()
        })
    }
}
