//! ListGrants: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html>

use trent_store::GrantRecord;
use trent_wire::{
    GrantConstraints, GrantListEntry, GrantOperation, ListGrantsRequest, ListGrantsResponse,
    Operation, Timestamp,
};

use crate::error::internal;
use crate::grants::grant_id_bytes;
use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

/// "If you include a value, it must be between 1 and 100, inclusive. If you do not include
/// a value, it defaults to 50." (The model allows up to 1000; KMS returns at most 100.)
pub(crate) fn grant_page_limit(limit: Option<i32>) -> u32 {
    u32::try_from(limit.unwrap_or(50).clamp(1, 100)).unwrap_or(50)
}

/// A marker is the last grant id of the previous page.
pub(crate) fn check_grant_marker(marker: Option<&str>) -> Result<(), KmsError> {
    match marker {
        Some(m) if grant_id_bytes(m).is_none() => Err(KmsError::InvalidMarker),
        _ => Ok(()),
    }
}

/// A grant as ListGrants and ListRetirableGrants show it: `KeyId` is the key ARN and
/// `IssuingAccount` the account's root ARN, as AWS shows them.
pub(crate) fn list_entry(g: GrantRecord) -> GrantListEntry {
    let partition = g.key_arn.split(':').nth(1).unwrap_or("aws").to_owned();
    let constraints = (g.constraint_equals.is_some() || g.constraint_subset.is_some()).then(|| {
        GrantConstraints {
            encryption_context_subset: g.constraint_subset.map(|p| p.into_iter().collect()),
            encryption_context_equals: g.constraint_equals.map(|p| p.into_iter().collect()),
        }
    });
    GrantListEntry {
        key_id: Some(g.key_arn),
        grant_id: Some(g.grant_id),
        name: g.name,
        creation_date: Some(Timestamp::from_millis(g.created_at)),
        grantee_principal: Some(g.grantee_principal),
        retiring_principal: g.retiring_principal,
        issuing_account: Some(format!("arn:{partition}:iam::{}:root", g.issuing_account)),
        operations: Some(
            g.operations
                .iter()
                .filter_map(|o| GrantOperation::parse(o))
                .collect(),
        ),
        constraints,
    }
}

/// One page of a listing read with one extra row.
pub(crate) fn page(mut grants: Vec<GrantRecord>, limit: u32) -> ListGrantsResponse {
    let truncated = grants.len() > limit as usize;
    grants.truncate(limit as usize);
    let next_marker = if truncated {
        grants.last().map(|g| g.grant_id.clone())
    } else {
        None
    };
    ListGrantsResponse {
        grants: Some(grants.into_iter().map(list_entry).collect()),
        next_marker,
        truncated: Some(truncated),
    }
}

impl KeyService {
    pub async fn list_grants(
        &self,
        caller: &Caller,
        req: ListGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, Operation::ListGrants)
            .await?;
        check_grant_marker(req.marker.as_deref())?;
        let limit = grant_page_limit(req.limit);
        if let Some(grant_id) = &req.grant_id {
            if grant_id_bytes(grant_id).is_none() {
                return Err(KmsError::InvalidGrantId);
            }
            let grant = self
                .store
                .grant(&key.record.key_id, grant_id)
                .await
                .map_err(internal("reading a grant"))?
                .ok_or(KmsError::InvalidGrantId)?;
            let matches = req
                .grantee_principal
                .as_ref()
                .is_none_or(|p| *p == grant.grantee_principal);
            let after = req.marker.as_ref().is_none_or(|m| grant.grant_id > *m);
            let grants = if matches && after {
                vec![grant]
            } else {
                Vec::new()
            };
            return Ok(page(grants, limit));
        }
        let grants = self
            .store
            .list_grants(
                &key.record.key_id,
                req.grantee_principal.as_deref(),
                req.marker.as_deref(),
                limit + 1,
            )
            .await
            .map_err(internal("listing grants"))?;
        Ok(page(grants, limit))
    }
}
