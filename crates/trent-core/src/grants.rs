//! Grants: the permissions a key's grants add to its key policy.

use std::collections::BTreeMap;

use trent_store::KeyRecord;

use crate::{Caller, KeyService, KmsError};

impl KeyService {
    /// Does a grant on `key` allow `caller` to perform `action` (the IAM action, e.g.
    /// `kms:Decrypt`), given the request's encryption context (`None` for operations that
    /// take none) and the grant tokens it passed?
    ///
    /// Keys have no grants until CreateGrant exists, so no grant allows anything yet.
    #[allow(dead_code)] // called by authorization once key policies are evaluated
    pub(crate) async fn grant_allows(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        action: &str,
        encryption_context: Option<&BTreeMap<String, String>>,
        grant_tokens: &[String],
    ) -> Result<bool, KmsError> {
        let _ = (caller, key, action, encryption_context, grant_tokens);
        Ok(false)
    }
}
