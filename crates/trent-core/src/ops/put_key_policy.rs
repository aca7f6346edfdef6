//! PutKeyPolicy: <https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html>
//!
//! Replaces the key's only policy (`default`). The document is stored exactly as given and
//! parsed once here; the change reaches every node's cache through the key record's change
//! notification. Allowed in every key state of a customer managed key (the key-state
//! table: Enabled, Disabled and PendingDeletion alike).

use std::sync::Arc;

use trent_policy::{Policy, PolicyKind};
use trent_wire::{Operation, PutKeyPolicyRequest, PutKeyPolicyResponse};

use super::get_key_policy::check_policy_name;
use crate::authz::Access;
use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn put_key_policy(
        &self,
        caller: &Caller,
        req: PutKeyPolicyRequest,
    ) -> Result<PutKeyPolicyResponse, KmsError> {
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Access::of(Operation::PutKeyPolicy)
                    .with("kms:BypassPolicyLockoutSafetyCheck", bypass),
            )
            .await?;
        check_policy_name(req.policy_name.as_deref())?;
        let policy = Arc::new(Policy::parse(&req.policy, PolicyKind::KeyPolicy)?);
        if !bypass {
            self.check_lockout(caller, &policy, &key.record.arn)?;
        }
        self.update_key(&key.record.key_id, |r| {
            r.policy.clone_from(&req.policy);
            Ok(())
        })
        .await?;
        Ok(PutKeyPolicyResponse::default())
    }
}
