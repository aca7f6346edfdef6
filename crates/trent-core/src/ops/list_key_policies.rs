//! ListKeyPolicies: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html>
//!
//! A key has exactly one policy, `default`, so every list is that one name on one page
//! (the Limit's minimum is 1). Allowed in every key state.

use trent_wire::{ListKeyPoliciesRequest, ListKeyPoliciesResponse, Operation};

use super::get_key_policy::DEFAULT_POLICY_NAME;
use crate::authz::Access;
use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn list_key_policies(
        &self,
        caller: &Caller,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.resolve(
            caller,
            &req.key_id,
            Forms::KeyOnly,
            Access::of(Operation::ListKeyPolicies),
        )
        .await?;
        // Whatever marker a client sends, there is nothing after the one policy: a marker
        // this server never issued is refused as ListKeys and ListAliases refuse one.
        if req.marker.is_some() {
            return Err(KmsError::InvalidMarker);
        }
        Ok(ListKeyPoliciesResponse {
            policy_names: Some(vec![DEFAULT_POLICY_NAME.to_owned()]),
            next_marker: None,
            truncated: Some(false),
        })
    }
}
