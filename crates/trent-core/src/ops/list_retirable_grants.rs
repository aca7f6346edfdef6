//! ListRetirableGrants:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListRetirableGrants.html>
//!
//! "KMS authorizes ListRetirableGrants requests by evaluating the caller account's
//! kms:ListRetirableGrants permissions. The authorized resource in ListRetirableGrants
//! calls is the retiring principal specified in the request." The principal must be of
//! the caller's account; the grants listed may be on keys of any account (in the
//! request's region).

use trent_policy::PolicySet;
use trent_wire::{ListRetirableGrantsRequest, ListRetirableGrantsResponse, Operation};

use super::create_grant::check_principal;
use super::list_grants::{check_grant_marker, grant_page_limit, page};
use crate::error::internal;
use crate::{Caller, KeyService, KmsError};

const ACTION: &str = Operation::ListRetirableGrants.iam_action();

impl KeyService {
    pub async fn list_retirable_grants(
        &self,
        caller: &Caller,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListRetirableGrantsResponse, KmsError> {
        check_principal(&req.retiring_principal)?;
        let ctx = caller
            .request_context(ACTION, &req.retiring_principal, self.clock.now_millis())
            .ok_or_else(|| caller.unrepresentable(ACTION, &req.retiring_principal))?;
        let in_own_account = trent_policy::PrincipalArn::parse(&req.retiring_principal)
            .is_ok_and(|p| p.account == caller.account_id());
        let allowed = in_own_account
            && caller
                .evaluate(
                    &ctx,
                    &PolicySet {
                        key_policy: None,
                        key_account: caller.account_id(),
                        identity_policies: &caller.attributes.identity_policies,
                        grant_allows: false,
                    },
                )
                .is_allowed();
        if !allowed {
            return Err(KmsError::AccessDenied {
                message: format!(
                    "User: {} is not authorized to perform: {ACTION} on resource: {} because no identity-based policy allows the {ACTION} action",
                    caller.principal.arn, req.retiring_principal
                ),
            });
        }
        check_grant_marker(req.marker.as_deref())?;
        let limit = grant_page_limit(req.limit);
        let grants = self
            .store
            .list_retirable_grants(
                &req.retiring_principal,
                &caller.region,
                req.marker.as_deref(),
                limit + 1,
            )
            .await
            .map_err(internal("listing retirable grants"))?;
        Ok(page(grants, limit))
    }
}
