//! GetKeyPolicy: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html>
//!
//! Returns the key policy exactly as CreateKey or PutKeyPolicy stored it (the default key
//! policy in KMS's own formatting when none was given). Allowed in every key state.

use trent_wire::{GetKeyPolicyRequest, GetKeyPolicyResponse, Operation};

use crate::authz::Access;
use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

/// The name of a key's only policy: "The only valid name is `default`."
pub(crate) const DEFAULT_POLICY_NAME: &str = "default";

/// PolicyName is optional and defaults to `default`, the only policy a key has.
pub(crate) fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(KmsError::PolicyNotFound {
            name: other.to_owned(),
        }),
    }
}

impl KeyService {
    pub async fn get_key_policy(
        &self,
        caller: &Caller,
        req: GetKeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Access::of(Operation::GetKeyPolicy),
            )
            .await?;
        check_policy_name(req.policy_name.as_deref())?;
        Ok(GetKeyPolicyResponse {
            policy: Some(key.record.policy.clone()),
            policy_name: Some(DEFAULT_POLICY_NAME.to_owned()),
        })
    }
}
