//! Authorization of every request, as AWS KMS decides it: the key policy, the caller's
//! identity (IAM) policies and the key's grants, evaluated by `trent-policy` against a
//! request context fed from the real request.
//!
//! - Operations on a key ([`KeyService::authorize`]): the key policy (parsed once when the
//!   key is loaded, kept in the cache entry), the caller's identity policies, and — only
//!   when the policies alone do not allow and nothing denies explicitly — the grants.
//! - Operations on no key (CreateKey, ListKeys, ListAliases, GenerateRandom, and the alias
//!   half of the alias operations): identity policies alone
//!   ([`KeyService::authorize_without_key`]); an account root is allowed everything there.
//!
//! The condition keys each action sees follow AWS's "AWS KMS condition keys" and "Global
//! condition context keys" references: the global ones from the caller and the connection
//! (built in one place for KMS and STS: [`Caller::request_context`]),
//! the key's own (`kms:KeySpec`, `aws:ResourceTag/*`, `kms:ResourceAliases`, ...) for every
//! operation on a key, and the request's (`kms:EncryptionContext:*`,
//! `kms:EncryptionAlgorithm`, ...) from [`Access`], which each operation fills. A key the
//! request does not have is absent, never empty: `...IfExists` and `Null` behave as in AWS.
//! `kms:ViaService` is present only when a service calls on the principal's behalf (a
//! forward access session, [`crate::ServiceCall`]); `kms:GrantIsForAWSResource` (on
//! CreateGrant, ListGrants and RevokeGrant) says whether one does.
//! <https://docs.aws.amazon.com/kms/latest/developerguide/policy-conditions.html>
//! <https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html>

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use trent_policy::{ContextValue, Decision, PolicySet, RequestContext};
use trent_wire::Operation;

use crate::error::internal;
use crate::keys::Key;
use crate::{Caller, KeyService, KmsError};

/// What one request asks of a key: the IAM action, and what the request carries that
/// policies may test (condition keys) and that grants need (encryption context, grant
/// tokens).
#[derive(Debug, Clone)]
pub(crate) struct Access<'r> {
    /// The IAM action, e.g. `kms:Encrypt`.
    pub action: &'static str,
    /// The request's encryption context: `kms:EncryptionContext:*` and
    /// `kms:EncryptionContextKeys`, and the grant constraints' input. `None` for an
    /// operation that takes none; an empty context is `Some` of an empty map (then
    /// `kms:EncryptionContextKeys` is present with no values).
    pub encryption_context: Option<&'r BTreeMap<String, String>>,
    /// The request's `GrantTokens`.
    pub grant_tokens: &'r [String],
    /// Further request condition keys (single- or multi-valued).
    pub conditions: Vec<(Cow<'static, str>, Vec<ContextValue>)>,
}

/// ReEncrypt's IAM actions, one on each of its keys: the only actions that are not an
/// operation's own (<https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html>).
pub(crate) const RE_ENCRYPT_FROM: &str = "kms:ReEncryptFrom";
pub(crate) const RE_ENCRYPT_TO: &str = "kms:ReEncryptTo";

impl From<Operation> for Access<'_> {
    fn from(operation: Operation) -> Self {
        Access::of(operation)
    }
}

impl<'r> Access<'r> {
    /// The access an operation asks for: its IAM action, from the model.
    pub fn of(operation: Operation) -> Self {
        Access::new(operation.iam_action())
    }

    /// An access by IAM action name: for the actions that are not an operation's own
    /// ([`RE_ENCRYPT_FROM`], [`RE_ENCRYPT_TO`]); otherwise use [`Access::of`].
    pub fn new(action: &'static str) -> Self {
        Access {
            action,
            encryption_context: None,
            grant_tokens: &[],
            conditions: Vec::new(),
        }
    }

    /// The request's encryption context; an absent one counts as empty, as AWS evaluates
    /// `kms:EncryptionContextKeys` on operations that take a context.
    pub fn encryption_context(mut self, context: Option<&'r BTreeMap<String, String>>) -> Self {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.encryption_context = Some(context.unwrap_or(&EMPTY));
        self
    }

    pub fn grant_tokens(mut self, tokens: Option<&'r Vec<String>>) -> Self {
        self.grant_tokens = tokens.map(Vec::as_slice).unwrap_or(&[]);
        self
    }

    /// A single-valued request condition key.
    pub fn with(mut self, key: &'static str, value: impl Into<ContextValue>) -> Self {
        self.conditions
            .push((Cow::Borrowed(key), vec![value.into()]));
        self
    }

    /// A single-valued key the request may lack (absent then).
    pub fn with_opt<V: Into<ContextValue>>(self, key: &'static str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// A multi-valued request condition key (`kms:GrantOperations`, `aws:TagKeys`, ...).
    pub fn with_all<V: Into<ContextValue>>(
        mut self,
        key: &'static str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.conditions.push((
            Cow::Borrowed(key),
            values.into_iter().map(Into::into).collect(),
        ));
        self
    }

    fn fill(&self, ctx: &mut RequestContext) {
        if let Some(c) = self.encryption_context {
            ctx.insert_encryption_context(c.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        for (key, values) in &self.conditions {
            if let [one] = values.as_slice() {
                ctx.insert(key, one.clone());
            } else {
                ctx.insert_all(key, values.iter().cloned());
            }
        }
    }
}

/// `aws:RequestTag/*` and `aws:TagKeys` for the operations that set tags (CreateKey,
/// TagResource).
pub(crate) fn with_request_tags<'r>(
    mut access: Access<'r>,
    tags: &[trent_wire::Tag],
) -> Access<'r> {
    access = access.with_all("aws:TagKeys", tags.iter().map(|t| t.tag_key.clone()));
    for t in tags {
        access.conditions.push((
            Cow::Owned(format!("aws:RequestTag/{}", t.tag_key)),
            vec![ContextValue::String(t.tag_value.clone())],
        ));
    }
    access
}

impl KeyService {
    /// The request context of `caller` calling `action` on `resource`, with the global
    /// condition keys; `AccessDeniedException` for a caller the policies cannot represent.
    fn request_context(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
    ) -> Result<RequestContext, KmsError> {
        let mut ctx = match caller.request_context(action, resource, self.clock.now_millis()) {
            Some(ctx) => ctx,
            None => return Err(caller.unrepresentable(action, resource)),
        };
        let via = caller.attributes.via.as_deref();
        if let Some(via) = via {
            ctx.insert("kms:ViaService", via.via_service.as_str());
        }
        // "true when an AWS service integrated with AWS KMS calls the operation on the
        // user's behalf" (AWS KMS condition keys).
        if matches!(
            action,
            "kms:CreateGrant" | "kms:ListGrants" | "kms:RevokeGrant"
        ) {
            ctx.insert("kms:GrantIsForAWSResource", via.is_some());
        }
        Ok(ctx)
    }

    /// Authorizes `access` on a key for `caller`, recording the key as used by the request
    /// (the audit event's `resources`) whatever the outcome. `request_alias` is the alias
    /// the request named the key by (`kms:RequestAlias`).
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        key: &Key,
        access: &Access<'_>,
        request_alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let record = &key.record;
        crate::keys_used::note(&record.arn);
        // (The key manager first: a customer managed key, the hot path, pays one compare.)
        if record.key_manager == trent_wire::KeyManagerType::Aws
            && crate::aws_managed::CHANGES.contains(&access.action)
        {
            crate::aws_managed::refuse_change(caller, record, access.action)?;
        }
        // A cryptographic operation counts against its key type's shared quota.
        if self.rates.is_on() && is_cryptographic(access.action) {
            self.rates.take(
                caller.account_id().as_str(),
                crate::rates::cryptographic_quota(record.key_spec),
            )?;
        }
        let mut ctx = self.request_context(caller, access.action, &record.arn)?;
        // The key's own keys, built once per loaded key.
        ctx.add_layer(key.condition_keys());
        if let Some(alias) = request_alias {
            ctx.insert_static("kms:requestalias", alias);
        }
        let aliases = self.key_aliases(record).await?;
        ctx.insert_all("kms:ResourceAliases", aliases.iter().map(String::as_str));
        access.fill(&mut ctx);

        let set = PolicySet {
            key_policy: Some(&key.policy),
            key_account: &record.account_id,
            identity_policies: &caller.attributes.identity_policies,
            grant_allows: false,
        };
        let mut decision = caller.evaluate(&ctx, &set);
        // Grants only add permissions; they are read only when the policies alone do not
        // allow, and never against an explicit deny.
        if matches!(decision, Decision::ImplicitDeny { .. })
            && self
                .grant_allows(
                    caller,
                    record,
                    access.action,
                    access.encryption_context,
                    access.grant_tokens,
                )
                .await?
        {
            decision = caller.evaluate(
                &ctx,
                &PolicySet {
                    grant_allows: true,
                    ..set
                },
            );
        }
        if !decision.is_allowed() && crate::keys_used::in_scope() {
            let mut explanation = trent_policy::explain(
                &ctx,
                &set,
                caller.attributes.session_policy.as_deref(),
                decision,
            );
            explanation["grants"] = self
                .grants_explained(caller, record, access.action, access.encryption_context)
                .await;
            crate::keys_used::note_denial(explanation);
        }
        denied(decision, &ctx)
    }

    /// Authorizes an action on no key (or on an alias: `resource` is then its ARN) by the
    /// caller's identity policies alone.
    pub(crate) fn authorize_without_key(
        &self,
        caller: &Caller,
        resource: &str,
        access: &Access<'_>,
    ) -> Result<(), KmsError> {
        let mut ctx = self.request_context(caller, access.action, resource)?;
        access.fill(&mut ctx);
        let set = PolicySet {
            key_policy: None,
            key_account: caller.account_id(),
            identity_policies: &caller.attributes.identity_policies,
            grant_allows: false,
        };
        let decision = caller.evaluate(&ctx, &set);
        if !decision.is_allowed() && crate::keys_used::in_scope() {
            crate::keys_used::note_denial(trent_policy::explain(
                &ctx,
                &set,
                caller.attributes.session_policy.as_deref(),
                decision,
            ));
        }
        denied(decision, &ctx)
    }

    /// The policy-lockout safety check of CreateKey and PutKeyPolicy: `policy` must let
    /// the caller call PutKeyPolicy on the key (`key_arn`) later, by the key policy alone.
    /// <https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-bypass-policy-lockout-safety-check>
    pub(crate) fn check_lockout(
        &self,
        caller: &Caller,
        policy: &trent_policy::Policy,
        key_arn: &str,
    ) -> Result<(), KmsError> {
        let ctx = self.request_context(caller, "kms:PutKeyPolicy", key_arn)?;
        Ok(trent_policy::check_lockout(policy, &ctx)?)
    }

    /// The aliases of a key (`kms:ResourceAliases`), cached: alias changes drop them.
    async fn key_aliases(
        &self,
        record: &trent_store::KeyRecord,
    ) -> Result<Arc<[String]>, KmsError> {
        if let Some(a) = self.cache.key_aliases(&record.key_id) {
            return Ok(a);
        }
        let epoch = self.cache.epoch();
        let mut names = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list_aliases(
                    &record.account_id,
                    &record.region,
                    Some(&record.key_id),
                    after.as_deref(),
                    1000,
                )
                .await
                .map_err(internal("listing a key's aliases"))?;
            let full = page.len() == 1000;
            after = page.last().map(|a| a.alias_name.clone());
            names.extend(page.into_iter().map(|a| a.alias_name));
            if !full {
                break;
            }
        }
        let names: Arc<[String]> = names.into();
        self.cache
            .put_key_aliases(&record.key_id, names.clone(), epoch);
        Ok(names)
    }
}

/// The actions of the cryptographic operations (their requests share a quota per key type).
fn is_cryptographic(action: &str) -> bool {
    matches!(
        action,
        "kms:Encrypt"
            | "kms:Decrypt"
            | "kms:ReEncryptFrom"
            | "kms:ReEncryptTo"
            | "kms:GenerateDataKey"
            | "kms:GenerateDataKeyWithoutPlaintext"
            | "kms:GenerateDataKeyPair"
            | "kms:GenerateDataKeyPairWithoutPlaintext"
            | "kms:GenerateMac"
            | "kms:VerifyMac"
            | "kms:Sign"
            | "kms:Verify"
            | "kms:DeriveSharedSecret"
    )
}

fn denied(decision: Decision, ctx: &RequestContext) -> Result<(), KmsError> {
    match decision.access_denied_message(ctx) {
        None => Ok(()),
        Some(message) => Err(KmsError::AccessDenied { message }),
    }
}

#[cfg(test)]
mod tests {
    //! Authorization through the key service's own operations, with callers built directly
    //! (the server's authentication is not involved): AWS's documented key-policy cases.

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use trent_policy::{Policy, PolicyKind};
    use trent_wire::{
        CreateAliasRequest, CreateKeyRequest, DecryptRequest, EncryptRequest, GetKeyPolicyRequest,
        ListKeyPoliciesRequest, PutKeyPolicyRequest, SensitiveBlob, Tag,
    };

    use crate::{Caller, CallerAttributes, KeyService, KmsError, Principal};

    const A: &str = "111122223333";
    const B: &str = "444455556666";
    const REGION: &str = "us-east-1";

    async fn service() -> (KeyService, tempfile::TempDir) {
        let (service, _, dir) = crate::test_support::sqlite_service(A).await;
        (service, dir)
    }

    fn identity(json: &str) -> Policy {
        Policy::parse(json, PolicyKind::IdentityPolicy).unwrap()
    }

    fn caller(arn: &str, policies: Vec<Policy>) -> Caller {
        Caller {
            principal: Principal::from_arn(arn).unwrap(),
            region: trent_wire::Region::parse(REGION).unwrap(),
            access_key_id: "AKIATEST".into(),
            attributes: CallerAttributes {
                identity_policies: policies.into(),
                ..Default::default()
            },
        }
    }

    fn root(account: &str) -> Caller {
        caller(&format!("arn:aws:iam::{account}:root"), Vec::new())
    }

    fn allow(action: &str) -> Policy {
        identity(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
        ))
    }

    async fn create(service: &KeyService, policy: Option<String>) -> String {
        let req = CreateKeyRequest {
            policy,
            tags: Some(vec![Tag {
                tag_key: "env".into(),
                tag_value: "prod".into(),
            }]),
            ..Default::default()
        };
        let created = written(service.create_key(&root(A), req)).await.unwrap();
        created.key_metadata.unwrap().arn.unwrap()
    }

    /// `work` with a write-ahead hook that accepts every intent (the server's records them
    /// in the trail): a write without one is refused.
    async fn written<F: std::future::Future>(work: F) -> F::Output {
        let hook = Arc::new(crate::write_ahead::testing::Recorder::default());
        crate::write_ahead::scope(hook, work).await
    }

    fn context(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    async fn encrypt(
        service: &KeyService,
        caller: &Caller,
        key: &str,
        ctx: Option<BTreeMap<String, String>>,
    ) -> Result<Vec<u8>, KmsError> {
        service
            .encrypt(
                caller,
                EncryptRequest {
                    key_id: key.to_owned(),
                    plaintext: SensitiveBlob::from(b"secret".to_vec()),
                    encryption_context: ctx,
                    ..Default::default()
                },
            )
            .await
            .map(|r| r.ciphertext_blob.unwrap())
    }

    fn denied_message(result: Result<impl std::fmt::Debug, KmsError>) -> String {
        match result {
            Err(e @ KmsError::AccessDenied { .. }) => e.to_string(),
            other => panic!("expected AccessDenied, got {other:?}"),
        }
    }

    fn key_policy(statements: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
    }

    fn root_admin(account: &str) -> String {
        format!(
            r#"{{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}"#
        )
    }

    #[tokio::test]
    async fn the_default_key_policy_delegates_to_identity_policies() {
        let (service, _dir) = service().await;
        let key = create(&service, None).await;
        let alice = "arn:aws:iam::111122223333:user/alice";
        encrypt(&service, &root(A), &key, None).await.unwrap();
        encrypt(
            &service,
            &caller(alice, vec![allow("kms:Encrypt")]),
            &key,
            None,
        )
        .await
        .unwrap();
        let msg = denied_message(encrypt(&service, &caller(alice, Vec::new()), &key, None).await);
        assert_eq!(
            msg,
            format!("User: {alice} is not authorized to perform: kms:Encrypt on resource: {key} because no identity-based policy allows the kms:Encrypt action")
        );
        // An identity policy for another action does not help.
        let blob = encrypt(&service, &root(A), &key, None).await.unwrap();
        let r = service
            .decrypt(
                &caller(alice, vec![allow("kms:Encrypt")]),
                DecryptRequest {
                    ciphertext_blob: Some(blob),
                    ..Default::default()
                },
            )
            .await;
        assert!(denied_message(r).contains("kms:Decrypt"));
    }

    #[tokio::test]
    async fn a_key_policy_can_allow_a_user_directly_and_an_explicit_deny_wins() {
        let (service, _dir) = service().await;
        let bob = "arn:aws:iam::111122223333:user/bob";
        let carol = "arn:aws:iam::111122223333:user/carol";
        let policy = key_policy(&format!(
            r#"{},
            {{"Effect":"Allow","Principal":{{"AWS":"{bob}"}},"Action":"kms:Encrypt","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"{carol}"}},"Action":"kms:*","Resource":"*"}}"#,
            root_admin(A)
        ));
        let key = create(&service, Some(policy)).await;
        // Bob has no identity policy at all: the key policy alone allows him.
        encrypt(&service, &caller(bob, Vec::new()), &key, None)
            .await
            .unwrap();
        // Carol's AdministratorAccess loses to the key policy's explicit deny.
        let msg =
            denied_message(encrypt(&service, &caller(carol, vec![allow("*")]), &key, None).await);
        assert!(
            msg.ends_with("with an explicit deny in a resource-based policy"),
            "{msg}"
        );
        // An explicit deny in an identity policy wins too.
        let deny = identity(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}"#,
        );
        let msg = denied_message(encrypt(&service, &caller(bob, vec![deny]), &key, None).await);
        assert!(
            msg.ends_with("with an explicit deny in an identity-based policy"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn cross_account_use_needs_the_key_policy_and_the_other_accounts_identity_policy() {
        let (service, _dir) = service().await;
        let dave = "arn:aws:iam::444455556666:user/dave";
        let shared = create(
            &service,
            Some(key_policy(&format!(
                r#"{},{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#,
                root_admin(A)
            ))),
        )
        .await;
        let private = create(&service, None).await;
        // Key policy allows B, B's identity policy allows Dave: allowed.
        encrypt(
            &service,
            &caller(dave, vec![allow("kms:Encrypt")]),
            &shared,
            None,
        )
        .await
        .unwrap();
        // B's root needs no identity policy.
        encrypt(&service, &root(B), &shared, None).await.unwrap();
        // Without an identity policy in B: denied.
        let msg = denied_message(encrypt(&service, &caller(dave, Vec::new()), &shared, None).await);
        assert!(msg.contains("no identity-based policy allows"), "{msg}");
        // The key policy does not name B: denied whatever B's IAM says.
        let msg = denied_message(
            encrypt(&service, &caller(dave, vec![allow("*")]), &private, None).await,
        );
        assert!(msg.contains("no resource-based policy allows"), "{msg}");
        // Another account's key is found only by its ARN.
        let id = shared.rsplit('/').next().unwrap();
        let r = encrypt(&service, &root(B), id, None).await;
        assert!(matches!(r, Err(KmsError::KeyNotFound { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn conditions_on_the_request_the_key_and_the_caller() {
        let (service, _dir) = service().await;
        let erin = "arn:aws:iam::111122223333:user/erin";
        let statement = |condition: &str| {
            key_policy(&format!(
                r#"{},{{"Effect":"Allow","Principal":{{"AWS":"{erin}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{condition}}}"#,
                root_admin(A)
            ))
        };
        let erin_caller = || caller(erin, Vec::new());

        let key = create(
            &service,
            Some(statement(
                r#"{"StringEquals":{"kms:EncryptionContext:project":"alpha"}}"#,
            )),
        )
        .await;
        encrypt(
            &service,
            &erin_caller(),
            &key,
            context(&[("project", "alpha")]),
        )
        .await
        .unwrap();
        denied_message(
            encrypt(
                &service,
                &erin_caller(),
                &key,
                context(&[("project", "beta")]),
            )
            .await,
        );
        denied_message(encrypt(&service, &erin_caller(), &key, None).await);

        let key = create(
            &service,
            Some(statement(
                r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["project","team"]}}"#,
            )),
        )
        .await;
        encrypt(&service, &erin_caller(), &key, context(&[("team", "x")]))
            .await
            .unwrap();
        denied_message(
            encrypt(
                &service,
                &erin_caller(),
                &key,
                context(&[("team", "x"), ("other", "y")]),
            )
            .await,
        );

        let key = create(
            &service,
            Some(statement(
                r#"{"StringEquals":{"aws:ResourceTag/env":"prod"}}"#,
            )),
        )
        .await;
        encrypt(&service, &erin_caller(), &key, None).await.unwrap();
        let key = create(
            &service,
            Some(statement(
                r#"{"StringEquals":{"aws:ResourceTag/env":"dev"}}"#,
            )),
        )
        .await;
        denied_message(encrypt(&service, &erin_caller(), &key, None).await);

        let key = create(
            &service,
            Some(statement(
                r#"{"StringEquals":{"aws:PrincipalTag/team":"blue"}}"#,
            )),
        )
        .await;
        let mut tagged = erin_caller();
        tagged.attributes.principal_tags =
            Arc::new(BTreeMap::from([("team".to_owned(), "blue".to_owned())]));
        encrypt(&service, &tagged, &key, None).await.unwrap();
        denied_message(encrypt(&service, &erin_caller(), &key, None).await);

        let key = create(
            &service,
            Some(statement(r#"{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}"#)),
        )
        .await;
        let mut local = erin_caller();
        local.attributes.source_ip = Some("127.0.0.1".parse().unwrap());
        encrypt(&service, &local, &key, None).await.unwrap();
        let mut remote = erin_caller();
        remote.attributes.source_ip = Some("192.0.2.1".parse().unwrap());
        denied_message(encrypt(&service, &remote, &key, None).await);

        let key = create(
            &service,
            Some(statement(
                r#"{"StringEquals":{"kms:RequestAlias":"alias/app"}}"#,
            )),
        )
        .await;
        written(service.create_alias(
            &root(A),
            CreateAliasRequest {
                alias_name: "alias/app".into(),
                target_key_id: key.clone(),
            },
        ))
        .await
        .unwrap();
        encrypt(&service, &erin_caller(), "alias/app", None)
            .await
            .unwrap();
        denied_message(encrypt(&service, &erin_caller(), &key, None).await);

        let key2 = create(
            &service,
            Some(statement(
                r#"{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/other"}}"#,
            )),
        )
        .await;
        denied_message(encrypt(&service, &erin_caller(), &key2, None).await);
        written(service.create_alias(
            &root(A),
            CreateAliasRequest {
                alias_name: "alias/other".into(),
                target_key_id: key2.clone(),
            },
        ))
        .await
        .unwrap();
        encrypt(&service, &erin_caller(), &key2, None)
            .await
            .unwrap();

        let key = create(&service, Some(key_policy(&format!(
            r#"{},{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{A}"}}}}}}"#,
            root_admin(A)
        )))).await;
        encrypt(&service, &erin_caller(), &key, None).await.unwrap();
    }

    #[tokio::test]
    async fn key_policies_are_stored_returned_and_guarded_by_the_lockout_check() {
        let (service, _dir) = service().await;
        let key = create(&service, None).await;
        let got = service
            .get_key_policy(
                &root(A),
                GetKeyPolicyRequest {
                    key_id: key.clone(),
                    policy_name: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(got.policy.unwrap(), trent_policy::default_key_policy(A));
        assert_eq!(got.policy_name.as_deref(), Some("default"));
        let names = service
            .list_key_policies(
                &root(A),
                ListKeyPoliciesRequest {
                    key_id: key.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(names.policy_names.unwrap(), vec!["default".to_owned()]);

        // A policy that would lock the caller out is refused, and nothing changes.
        let frank = "arn:aws:iam::111122223333:user/frank";
        let lockout = key_policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{frank}"}},"Action":"kms:*","Resource":"*"}}"#
        ));
        let put = |policy: &str, bypass: Option<bool>| PutKeyPolicyRequest {
            key_id: key.clone(),
            policy_name: Some("default".into()),
            policy: policy.to_owned(),
            bypass_policy_lockout_safety_check: bypass,
        };
        let r = written(service.put_key_policy(&root(A), put(&lockout, None))).await;
        assert_eq!(
            r.unwrap_err().to_string(),
            "The new key policy will not allow you to update the key policy in the future."
        );
        encrypt(&service, &root(A), &key, None).await.unwrap();
        // Bypassed: stored, and in force at once (the cached key has the new policy).
        written(service.put_key_policy(&root(A), put(&lockout, Some(true))))
            .await
            .unwrap();
        denied_message(encrypt(&service, &root(A), &key, None).await);
        encrypt(&service, &caller(frank, Vec::new()), &key, None)
            .await
            .unwrap();
        let got = service
            .get_key_policy(
                &caller(frank, Vec::new()),
                GetKeyPolicyRequest {
                    key_id: key.clone(),
                    policy_name: Some("default".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(got.policy.as_deref(), Some(lockout.as_str()));
        // Malformed documents: AWS's messages.
        let r = written(service.put_key_policy(&caller(frank, Vec::new()), put("{not json", None)))
            .await;
        assert_eq!(r.unwrap_err().to_string(), "Syntax errors in policy.");
        let r = written(service.put_key_policy(
            &caller(frank, Vec::new()),
            put(
                &key_policy(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#),
                None,
            ),
        ))
        .await;
        assert_eq!(
            r.unwrap_err().to_string(),
            "Policy contains a statement with no principal."
        );
    }
}
