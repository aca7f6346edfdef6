//! ListKeys: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html>

use trent_wire::{KeyListEntry, ListKeysRequest, ListKeysResponse, Operation};

use super::common::limit;
use crate::authz::Access;
use crate::error::internal;
use crate::ids::{is_key_id, StorageKeyId};
use crate::keys::public_key_id;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn list_keys(
        &self,
        caller: &Caller,
        req: ListKeysRequest,
    ) -> Result<ListKeysResponse, KmsError> {
        self.authorize_without_key(caller, "*", &Access::of(Operation::ListKeys))?;
        // The marker is the last key id of the previous page.
        if let Some(m) = &req.marker {
            if !is_key_id(m) {
                return Err(KmsError::InvalidMarker);
            }
        }
        let limit = limit(req.limit);
        let mut keys = self
            .store
            .list_keys(
                caller.account_id(),
                &caller.region,
                // Markers are public ids; the store pages by storage id, which sorts
                // the same way within one region.
                req.marker
                    .as_deref()
                    .map(|m| StorageKeyId::named(m, &caller.region))
                    .as_ref()
                    .map(StorageKeyId::as_str),
                limit + 1,
            )
            .await
            .map_err(internal("listing keys"))?;
        let truncated = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        let next_marker = if truncated {
            keys.last().map(|k| public_key_id(k).to_owned())
        } else {
            None
        };
        Ok(ListKeysResponse {
            keys: Some(
                keys.into_iter()
                    .map(|k| KeyListEntry {
                        key_id: Some(public_key_id(&k).to_owned()),
                        key_arn: Some(k.arn.to_string()),
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }
}
