//! Resource quotas (<https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html>),
//! per account and Region, with AWS's defaults; each can be set (`[quotas]`), and all of
//! them turned off (`quotas = false`, `--no-quotas`) for test suites that make many keys.
//!
//! Counted as AWS counts them: the key quota counts customer managed keys in any state
//! (AWS managed keys do not count); the alias quota counts a key's aliases (AWS's
//! predefined aliases are not in the store and never count); the grant quotas count a
//! key's grants, and those of one grantee principal on the key. A quota is checked
//! against the store when the resource is made: nodes creating at once may each pass the
//! check and go one over, as on AWS, whose quotas are not exact either.

use crate::error::internal;
use crate::{KeyService, KmsError};

/// Resource quotas; `None` is no quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceQuotas {
    /// Customer managed keys per account and Region (AWS: 100,000).
    pub keys: Option<u64>,
    /// Aliases per KMS key (AWS: 50).
    pub aliases: Option<u64>,
    /// Grants per KMS key (AWS: 50,000).
    pub grants: Option<u64>,
    /// Grants for one grantee principal per KMS key (AWS: 500).
    pub grants_per_grantee: Option<u64>,
    /// Custom key stores per account and Region (AWS: 10).
    pub custom_key_stores: Option<u64>,
}

impl Default for ResourceQuotas {
    /// AWS's defaults.
    fn default() -> Self {
        ResourceQuotas {
            keys: Some(100_000),
            aliases: Some(50),
            grants: Some(50_000),
            grants_per_grantee: Some(500),
            custom_key_stores: Some(10),
        }
    }
}

impl ResourceQuotas {
    /// No quota at all.
    pub fn off() -> Self {
        ResourceQuotas {
            keys: None,
            aliases: None,
            grants: None,
            grants_per_grantee: None,
            custom_key_stores: None,
        }
    }
}

/// A quota as the store's grant limits take it.
pub(crate) fn as_limit(quota: Option<u64>) -> u32 {
    quota.map_or(u32::MAX, |q| u32::try_from(q).unwrap_or(u32::MAX))
}

impl KeyService {
    /// Refuses a new customer managed key in the account and Region at its quota, with
    /// AWS's message (as AWS answered it: "Key quota for this account in this region is
    /// 101 but the current usage is 101.").
    pub(crate) async fn check_key_quota(
        &self,
        account: &str,
        region: &str,
    ) -> Result<(), KmsError> {
        let Some(quota) = self.quotas.keys else {
            return Ok(());
        };
        let usage = self
            .store
            .customer_key_count(account, region)
            .await
            .map_err(internal("counting keys"))?;
        let usage = u64::try_from(usage).unwrap_or(u64::MAX);
        if usage >= quota {
            return Err(KmsError::QuotaExceeded {
                message: format!(
                    "Key quota for this account in this region is {quota} but the current usage is {usage}."
                ),
            });
        }
        Ok(())
    }

    /// Refuses another alias of the key `key_id` at the alias quota (AWS publishes no
    /// wording: the key quota's form).
    pub(crate) async fn check_alias_quota(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<(), KmsError> {
        let Some(quota) = self.quotas.aliases else {
            return Ok(());
        };
        let page = u32::try_from(quota.saturating_add(1)).unwrap_or(u32::MAX);
        let usage = self
            .store
            .list_aliases(account, region, Some(key_id), None, page)
            .await
            .map_err(internal("counting aliases"))?
            .len() as u64;
        if usage >= quota {
            return Err(KmsError::QuotaExceeded {
                message: format!(
                    "Alias quota for this KMS key is {quota} but the current usage is {usage}."
                ),
            });
        }
        Ok(())
    }
}
