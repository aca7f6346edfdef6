//! What GenerateMac and VerifyMac check, in AWS's order: usage GENERATE_VERIFY_MAC, the
//! key state, then the MAC algorithm of the key spec (`Algorithm HMAC_SHA_512 is
//! incompatible with key spec HMAC_256.`).

use std::sync::Arc;

use trent_crypto::MacAlgorithm;
use trent_wire::{KeyUsageType, MacAlgorithmSpec, Operation};

use super::common::{incompatible, require_usage};
use crate::authz::Access;
use crate::ids::Forms;
use crate::keys::{require_enabled, Key};
use crate::keyspec::KeyKind;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub(crate) async fn mac_key(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: MacAlgorithmSpec,
        grant_tokens: Option<&Vec<String>>,
        operation: Operation,
    ) -> Result<(Arc<Key>, MacAlgorithm), KmsError> {
        let access = Access::of(operation)
            .grant_tokens(grant_tokens)
            .with("kms:MacAlgorithm", algorithm.as_str());
        let key = self
            .resolve(caller, key_id, Forms::KeyOrAlias, access)
            .await?;
        require_usage(&key, KeyUsageType::GenerateVerifyMac, operation)?;
        require_enabled(&key.record)?;
        let KeyKind::Hmac(spec) = key.kind() else {
            return Err(KmsError::Internal);
        };
        let name = algorithm.as_str();
        let algorithm = MacAlgorithm::from_wire(name)
            .filter(|a| *a == spec.algorithm())
            .ok_or_else(|| incompatible(name, &key))?;
        Ok((key, algorithm))
    }
}
