//! ListAliases: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html>

use trent_wire::{AliasListEntry, ListAliasesRequest, ListAliasesResponse, Operation, Timestamp};

use super::common::limit;
use crate::authz::Access;
use crate::error::internal;
use crate::ids::{alias_arn, Forms, StorageKeyId};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn list_aliases(
        &self,
        caller: &Caller,
        req: ListAliasesRequest,
    ) -> Result<ListAliasesResponse, KmsError> {
        let account = caller.account_id();
        let region = &caller.region;
        // "kms:ListAliases (IAM policy)": on no key, even with a KeyId filter.
        self.authorize_without_key(caller, "*", &Access::of(Operation::ListAliases))?;
        let target = match &req.key_id {
            Some(k) => Some(
                self.locate(caller, k, Forms::KeyOnly)
                    .await?
                    .key
                    .record
                    .key_id
                    .clone(),
            ),
            None => None,
        };
        // The marker is the last alias name of the previous page.
        if let Some(m) = &req.marker {
            if !m.starts_with("alias/") {
                return Err(KmsError::InvalidMarker);
            }
        }
        let limit = limit(req.limit);
        let mut aliases = self
            .store
            .list_aliases(
                account,
                region,
                target.as_deref(),
                req.marker.as_deref(),
                limit + 1,
            )
            .await
            .map_err(internal("listing aliases"))?;
        let truncated = aliases.len() > limit as usize;
        aliases.truncate(limit as usize);
        let next_marker = if truncated {
            aliases.last().map(|a| a.alias_name.clone())
        } else {
            None
        };
        Ok(ListAliasesResponse {
            aliases: Some(
                aliases
                    .into_iter()
                    .map(|a| AliasListEntry {
                        alias_arn: Some(alias_arn(region, account, &a.alias_name)),
                        alias_name: Some(a.alias_name),
                        target_key_id: Some(
                            StorageKeyId::public_id_of(&a.target_key_id).to_owned(),
                        ),
                        creation_date: Some(Timestamp::from_millis(a.created_at)),
                        last_updated_date: Some(Timestamp::from_millis(a.updated_at)),
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }
}
