//! GetParametersForImport: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html>
//!
//! A fresh RSA wrapping key pair per request (from `key_pools.rs`, which keeps a few
//! ready: RSA-4096 takes up to seconds to generate), its public key, and a stateless import token that seals the
//! private key, the key ARN, the algorithm and spec and the expiry (24 hours, by the
//! service's clock) under the root key (see `import.rs`). Key states: Enabled, Disabled and
//! PendingImport keys (importing again, or re-importing deleted or expired material);
//! a key pending deletion is KMSInvalidStateException.

use trent_crypto::{WrappingAlgorithm, WrappingKeySpec};
use trent_wire::{
    GetParametersForImportRequest, GetParametersForImportResponse, Operation, SensitiveBlob,
    Timestamp,
};

use crate::authz::Access;
use crate::ids::Forms;
use crate::import::{is_external, not_external, TOKEN_LIFETIME_MS};
use crate::keys::require_manageable;
use crate::keyspec::KeyKind;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn get_parameters_for_import(
        &self,
        caller: &Caller,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse, KmsError> {
        let access = Access::of(Operation::GetParametersForImport)
            .with("kms:WrappingAlgorithm", req.wrapping_algorithm.as_str())
            .with("kms:WrappingKeySpec", req.wrapping_key_spec.as_str());
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, access)
            .await?;
        let record = &key.record;
        if !is_external(record) {
            return Err(not_external(record));
        }
        require_manageable(record)?;
        // RSAES_PKCS1_V1_5: "As of October 10, 2023, KMS does not support the
        // RSAES_PKCS1_V1_5 wrapping algorithm." SM2 wrapping is offered in China Regions
        // only, and not by Trent.
        let algorithm =
            WrappingAlgorithm::from_wire(req.wrapping_algorithm.as_str()).ok_or_else(|| {
                KmsError::Unsupported {
                    what: format!("WrappingAlgorithm {}", req.wrapping_algorithm.as_str()),
                }
            })?;
        let spec = WrappingKeySpec::from_wire(req.wrapping_key_spec.as_str()).ok_or_else(|| {
            KmsError::Unsupported {
                what: format!("WrappingKeySpec {}", req.wrapping_key_spec.as_str()),
            }
        })?;
        // "To import an RSA private key, you must use an RSA_AES wrapping algorithm": RSA
        // private keys do not fit in one RSA-OAEP block.
        if let KeyKind::Asymmetric(s) = key.kind() {
            if s.wire_name().starts_with("RSA_") && !algorithm.is_rsa_aes() {
                return Err(KmsError::Validation {
                    message: format!(
                        "To import an RSA private key, you must use an RSA_AES wrapping algorithm, not {}.",
                        algorithm.wire_name()
                    ),
                });
            }
        }
        let wrapping_key = self.wrapping_keys.take(spec).await?;
        let valid_to = self.clock.now_millis() + TOKEN_LIFETIME_MS;
        let token = self.seal_import_token(&record.arn, algorithm, &wrapping_key, valid_to)?;
        Ok(GetParametersForImportResponse {
            key_id: Some(record.arn.to_string()),
            import_token: Some(token),
            public_key: Some(SensitiveBlob::new(wrapping_key.public_key_der().to_vec())),
            parameters_valid_to: Some(Timestamp::from_millis(valid_to)),
        })
    }
}
