//! `trent serve --dev-reset` (TESTING ONLY): `POST /_trent/test/reset` empties one account,
//! or every account, without a restart, as LocalStack's and moto's resets do for test
//! suites that run test by test on one server.
//!
//! - `{"account": "111122223333"}` deletes that account's keys in every region, with
//!   their materials, grants, aliases, rotations and last usage, and its custom key
//!   stores; signed by that account's root (`arn:aws:iam::ACCOUNT:root`).
//! - `{"all": true}` does it for every account; signed by the root of the deployment's
//!   default account.
//!
//! Identities (access keys, the config file's users and roles) stay. The request goes
//! through the same stage as every request: SigV4-signed (service `kms`), recorded in the
//! audit trail (`TrentResetAccount`, refusals included), and its store write is
//! write-ahead like any KMS write. Anyone but the account's root is refused
//! (`AccessDeniedException`), whatever their policies say. The token objects of the
//! account's AWS_CLOUDHSM keys stay in their tokens. Without the switch the path does
//! not exist.

use std::sync::Arc;

use http::Method;
use serde::Deserialize;
use trent_core::{Caller, KmsError, PrincipalKind};

use crate::audit::{Event, RequestFacts};
use crate::auth::Authenticator;
use crate::http::AppState;
use crate::stage::{Protocol, WireFailure};

pub const PATH: &str = "/_trent/test/reset";
/// The eventName of a reset in the audit trail (and of a refused one).
pub const EVENT: &str = "TrentResetAccount";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reset {
    account: Option<String>,
    all: Option<bool>,
}

/// The reset endpoint (`POST` [`PATH`]).
pub struct TestResetApi;

impl Protocol for TestResetApi {
    const NAME: &'static str = "test-reset";
    const CONTENT_TYPE: &'static str = crate::kms::CONTENT_TYPE;
    type Prepared = ();

    fn authenticator<'a>(&self, state: &'a AppState) -> &'a Authenticator {
        &state.auth
    }

    fn prepare(
        &self,
        _parts: &http::request::Parts,
        _body: &[u8],
        facts: &mut RequestFacts,
    ) -> Result<(), WireFailure> {
        facts.target_name = Some(EVENT.to_owned());
        Ok(())
    }

    async fn handle(
        &self,
        state: &AppState,
        _parts: &http::request::Parts,
        body: &[u8],
        (): (),
        facts: &mut RequestFacts,
    ) -> Result<Vec<u8>, WireFailure> {
        let Some(caller) = facts.caller.clone() else {
            return Err(KmsError::Internal.into());
        };
        let reset = serde_json::from_slice::<Reset>(body)
            .map_err(|_| invalid("expected {\"account\": \"ACCOUNT_ID\"} or {\"all\": true}"))?;
        let account = match (&reset.account, reset.all) {
            (Some(a), None | Some(false)) => {
                if !trent_core::is_account_id(a) {
                    return Err(invalid("account must be a 12-digit account id").into());
                }
                Some(a.clone())
            }
            (None, Some(true)) => None,
            _ => return Err(invalid("give exactly one of account, all (true)").into()),
        };
        facts.request_parameters = Some(match &account {
            Some(a) => serde_json::json!({ "account": a }),
            None => serde_json::json!({ "all": true }),
        });
        let owner = account
            .clone()
            .unwrap_or_else(|| state.audit.default_account_id.clone());
        authorize(&caller, &owner)?;
        // The store write is write-ahead, its intent naming this request.
        let intents = Arc::new(crate::audit::RequestIntents::new(
            &state.audit,
            facts,
            crate::kms::kms_event(facts),
        ));
        let deleted = trent_core::write_ahead::scope(
            intents,
            state.service.reset_account(account.as_deref()),
        )
        .await?;
        tracing::warn!(
            account = account.as_deref().unwrap_or("(all)"),
            keys = deleted,
            principal = %caller.principal.arn,
            request_id = %facts.request_id,
            "TEST RESET: keys deleted"
        );
        let answer = serde_json::json!({ "keys_deleted": deleted });
        facts.response_elements = Some(answer.clone());
        serde_json::to_vec(&answer).map_err(|_| KmsError::Internal.into())
    }

    fn event(&self, facts: &RequestFacts) -> Event {
        crate::kms::kms_event(facts)
    }

    fn error_body(&self, failure: &WireFailure, _request_id: &str) -> Vec<u8> {
        failure.json_body()
    }
}

/// Only the root of `account` may empty it.
fn authorize(caller: &Caller, account: &str) -> Result<(), KmsError> {
    if caller.principal.kind == PrincipalKind::Root && caller.account_id() == account {
        return Ok(());
    }
    Err(KmsError::AccessDenied {
        message: format!(
            "User: {} is not authorized to perform: trent:ResetAccount because only the root of account {account} may reset it",
            caller.principal.arn
        ),
    })
}

fn invalid(message: &str) -> KmsError {
    KmsError::Validation {
        message: message.to_owned(),
    }
}

/// Whether the router sends this request here.
pub fn routes(method: &Method, path: &str) -> bool {
    method == Method::POST && path == PATH
}
