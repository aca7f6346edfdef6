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
        let aliases = self
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
        let mut entries: Vec<AliasListEntry> = aliases
            .into_iter()
            .map(|a| AliasListEntry {
                alias_arn: Some(alias_arn(region, account, &a.alias_name)),
                alias_name: Some(a.alias_name),
                target_key_id: Some(StorageKeyId::public_id_of(&a.target_key_id).to_owned()),
                creation_date: Some(Timestamp::from_millis(a.created_at)),
                last_updated_date: Some(Timestamp::from_millis(a.updated_at)),
            })
            .collect();
        // AWS's predefined aliases whose AWS managed key does not exist yet: listed with
        // no target, as AWS lists them (never for a KeyId). Merged in name order: a page
        // of the store holds `limit + 1` names after the marker, so every predefined name
        // that sorts within the first `limit` of the merge is placed right.
        if target.is_none() {
            // The `alias/aws/` aliases that exist, in one read: names with that prefix sort
            // together, right after it.
            let made: Vec<String> = self
                .store
                .list_aliases(account, region, None, Some("alias/aws/"), 1000)
                .await
                .map_err(internal("listing aliases"))?
                .into_iter()
                .map(|a| a.alias_name)
                .take_while(|n| n.starts_with("alias/aws/"))
                .collect();
            for service in &crate::aws_managed::PREDEFINED {
                let name = service.alias_name;
                if req.marker.as_deref().is_some_and(|m| name <= m) {
                    continue;
                }
                if !made.iter().any(|n| n == name) {
                    entries.push(AliasListEntry {
                        alias_arn: Some(alias_arn(region, account, name)),
                        alias_name: Some(name.to_owned()),
                        target_key_id: None,
                        creation_date: None,
                        last_updated_date: None,
                    });
                }
            }
            entries.sort_by(|a, b| a.alias_name.cmp(&b.alias_name));
        }
        let truncated = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next_marker = if truncated {
            entries.last().and_then(|a| a.alias_name.clone())
        } else {
            None
        };
        Ok(ListAliasesResponse {
            aliases: Some(entries),
            next_marker,
            truncated: Some(truncated),
        })
    }
}
