//! Grants: the permissions a key's grants add to its key policy, grant tokens, and the
//! rules AWS applies to grants (which operations a key's grants may hold, constraints,
//! who may retire a grant, what a grant with `CreateGrant` lets its grantee create).
//!
//! <https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>
//!
//! A key's grants are read once and cached next to the key (`KeyCache::grants`); every
//! grant change drops that entry on this node at once and on the other nodes through the
//! change feed (`Change::Grants`), so RevokeGrant takes effect everywhere within the
//! feed's latency (milliseconds), bounded by the cache lifetime should a notification be
//! lost.
//!
//! Grant tokens are opaque to clients and verifiable by every node: base64url of a
//! version byte, the grant id, the key id and a random nonce, with an HMAC-SHA-256 over
//! them under a deployment-wide token key. That key is random, made by the first node
//! that needs it, and stored sealed under the root key (so every node of a cluster, and
//! every restart, agrees on it). A token names its grant; honouring it means that a grant
//! a token names is looked up in the store even if this node's cache does not list it yet.
//! That read is the answer for as long as the grants it read stay cached: a token whose
//! grant was retired or revoked (or never reached this key) would otherwise make every
//! request that passes it re-read up to 50,000 grants. See [`AbsentGrants`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Weak};

use base64::Engine;
use trent_crypto::{HmacKey, HmacKeySpec, MacAlgorithm};
use trent_policy::{Grant, GrantConstraints, PrincipalContext};
use trent_store::{GrantRecord, KeyRecord};
use trent_wire::{GrantOperation, KeyUsageType};

use crate::error::internal;
use crate::keys::{hex_encode, key_id_bytes};
use crate::keyspec::KeyKind;
use crate::{Caller, KeyService, KmsError};

/// AWS's quota of grants per KMS key: at least this many of a key's grants are read to
/// authorize (all of them, up to a larger configured quota).
pub(crate) const GRANTS_PER_KEY: u32 = 50_000;

pub(crate) const META_GRANT_TOKEN_KEY: &str = "grant_token_key";
pub(crate) const GRANT_TOKEN_KEY_AAD: &[u8] = b"trent:meta:grant_token_key:v1";
const TOKEN_MAC_DOMAIN: &[u8] = b"trent:grant-token:v1";
const TOKEN_VERSION: u8 = 1;
/// The token of a grant on a multi-Region key: the key bytes are those of its `mrk-` id
/// (the same in every region; the grant itself belongs to one region-key).
const TOKEN_VERSION_MRK: u8 = 2;
const GRANT_ID_LEN: usize = 32;
const NONCE_LEN: usize = 16;
const MAC_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + GRANT_ID_LEN + 16 + NONCE_LEN + MAC_LEN;

/// Negative answers kept at most; the set is emptied when full (a lost answer costs one
/// more read of the key's grants).
const ABSENT_GRANTS_LIMIT: usize = 10_000;

/// The grants that tokens named and a read of the store did not find, each with the list
/// of the key's grants that read produced (the one then cached).
///
/// An answer holds only while that very list is the key's cached one: any change to the
/// key's grants (on this node, or another through the change feed) drops the cached list,
/// so the next request reads the store again. A grant created after a negative answer
/// therefore counts at once. (Grant ids are random, so a token cannot name a grant before
/// it exists; the answer is about a retired, revoked or foreign grant.) The list is held
/// weakly and compared by identity: it stays allocated while an answer refers to it, so an
/// identity cannot be reused by a newer list.
#[derive(Debug, Default)]
pub(crate) struct AbsentGrants {
    answers: parking_lot::Mutex<HashMap<KeyAndGrant, Weak<[GrantRecord]>>>,
}

/// A key's id and a grant id.
type KeyAndGrant = (String, String);

impl AbsentGrants {
    /// Whether a read of the store that produced `grants` found no grant `grant_id`.
    fn known(&self, key_id: &str, grant_id: &str, grants: &Arc<[GrantRecord]>) -> bool {
        self.answers
            .lock()
            .get(&(key_id.to_owned(), grant_id.to_owned()))
            .and_then(Weak::upgrade)
            .is_some_and(|read| Arc::ptr_eq(&read, grants))
    }

    /// Records that the read of the store that produced `grants` has no grant `grant_id`.
    fn note(&self, key_id: &str, grant_id: &str, grants: &Arc<[GrantRecord]>) {
        let mut answers = self.answers.lock();
        if answers.len() >= ABSENT_GRANTS_LIMIT {
            answers.clear();
        }
        answers.insert(
            (key_id.to_owned(), grant_id.to_owned()),
            Arc::downgrade(grants),
        );
    }
}

/// The grant a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRef {
    /// The public key id (a multi-Region key's is the same in every region).
    pub key_id: String,
    pub grant_id: String,
}

/// The parameters of the grant a CreateGrant request would create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewGrant {
    pub operations: Vec<String>,
    pub constraint_equals: Option<Vec<(String, String)>>,
    pub constraint_subset: Option<Vec<(String, String)>>,
}

tokio::task_local! {
    /// The grant a CreateGrant request would create, while that request is authorized: a
    /// grant allows its grantee to create only grants within its own operations and at
    /// least as strict constraints, which `grant_allows("kms:CreateGrant")` checks here.
    static CREATING: Arc<NewGrant>;
}

impl KeyService {
    /// Does a grant on `key` allow `caller` to perform `action` (the IAM action, e.g.
    /// `kms:Decrypt`), given the request's encryption context and the grant tokens it
    /// passed?
    ///
    /// `encryption_context` is `Some` (the request's pairs, possibly none) for an
    /// operation that takes an encryption context on a key that supports one (symmetric
    /// encryption keys), `None` otherwise: grant constraints apply only to the former
    /// (GrantConstraints documentation). Tokens that Trent did not issue are
    /// `InvalidGrantTokenException`. Every operation that takes `GrantTokens` passes them
    /// here through its `Access`.
    pub(crate) async fn grant_allows(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        action: &str,
        encryption_context: Option<&BTreeMap<String, String>>,
        grant_tokens: &[String],
    ) -> Result<bool, KmsError> {
        let mut named = Vec::new();
        for token in grant_tokens {
            let r = self.verify_grant_token(token).await?;
            if r.key_id == crate::keys::public_key_id(key) {
                named.push(r.grant_id);
            }
        }
        let mut grants = self.key_grants(&key.key_id, false).await?;
        let unheard_of = |grants: &Arc<[GrantRecord]>| -> Vec<String> {
            named
                .iter()
                .filter(|id| !grants.iter().any(|g| g.grant_id == **id))
                .cloned()
                .collect()
        };
        let missing = unheard_of(&grants);
        if missing
            .iter()
            .any(|id| !self.absent_grants.known(&key.key_id, id, &grants))
        {
            // A token names a grant this node has not heard of yet: read the store, and
            // remember what that read did not find.
            grants = self.key_grants(&key.key_id, true).await?;
            for id in unheard_of(&grants) {
                self.absent_grants.note(&key.key_id, &id, &grants);
            }
        }
        // A caller the policies cannot represent is named by no grant.
        let Some(principal) = caller.policy_principal() else {
            return Ok(false);
        };
        let pairs: Option<Vec<(&str, &str)>> =
            encryption_context.map(|ec| ec.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect());
        let creating = if action == "kms:CreateGrant" {
            CREATING.try_with(Arc::clone).ok()
        } else {
            None
        };
        Ok(grants.iter().any(|g| {
            grant_allows_one(g, &principal, action, pairs.as_deref())
                && creating.as_deref().is_none_or(|n| may_create(g, n))
        }))
    }

    /// The caller's grants on a key, each with whether it allows `action` here: for the
    /// explanation of a denied request (grant ids and operations; never a constraint's
    /// values). A grant list that cannot be read says so.
    pub(crate) async fn grants_explained(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        action: &str,
        encryption_context: Option<&BTreeMap<String, String>>,
    ) -> serde_json::Value {
        let Some(principal) = caller.policy_principal() else {
            return serde_json::json!([]);
        };
        let Ok(grants) = self.key_grants(&key.key_id, false).await else {
            return serde_json::json!("unreadable");
        };
        let pairs: Option<Vec<(&str, &str)>> =
            encryption_context.map(|ec| ec.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect());
        let mine = grants
            .iter()
            .filter(|g| names_principal(&g.grantee_principal, &principal));
        serde_json::Value::Array(
            mine.map(|g| {
                serde_json::json!({
                    "grantId": g.grant_id,
                    "operations": g.operations,
                    "allowed": grant_allows_one(g, &principal, action, pairs.as_deref()),
                })
            })
            .collect(),
        )
    }

    /// Checks a request's grant tokens before the operation runs: any token Trent did not
    /// issue is `InvalidGrantTokenException`, as AWS answers, whether or not a grant is
    /// then needed. (The operation passes the tokens to [`KeyService::grant_allows`]
    /// through its `Access`.)
    pub async fn check_grant_tokens(&self, tokens: Option<&[String]>) -> Result<(), KmsError> {
        for t in tokens.unwrap_or_default() {
            self.verify_grant_token(t).await?;
        }
        Ok(())
    }

    /// Runs the authorization of a CreateGrant request with the grant it would create in
    /// view (see [`may_create`]).
    pub(crate) async fn creating_grant<F, T>(&self, new: NewGrant, f: F) -> T
    where
        F: Future<Output = T>,
    {
        CREATING.scope(Arc::new(new), f).await
    }

    /// The grants of a key, from the cache unless `fresh`.
    pub(crate) async fn key_grants(
        &self,
        key_id: &str,
        fresh: bool,
    ) -> Result<Arc<[GrantRecord]>, KmsError> {
        if !fresh {
            if let Some(g) = self.cache.grants(key_id) {
                return Ok(g);
            }
        }
        let epoch = self.cache.epoch();
        let grants: Arc<[GrantRecord]> = self
            .store
            .list_grants(
                key_id,
                None,
                None,
                crate::quotas::as_limit(self.quotas.grants).max(GRANTS_PER_KEY),
            )
            .await
            .map_err(internal("reading the grants of a key"))?
            .into();
        self.cache.put_grants(key_id, grants.clone(), epoch);
        Ok(grants)
    }

    async fn grant_token_key(&self) -> Result<&HmacKey, KmsError> {
        self.grant_token_key
            .get_or_try_init(|| async {
                let fresh = trent_crypto::random_bytes(32)
                    .map_err(internal("generating the grant token key"))?;
                let sealed = self
                    .root
                    .seal(GRANT_TOKEN_KEY_AAD, fresh.expose())
                    .map_err(internal("sealing the grant token key"))?;
                // The first node's key wins; every node then uses the stored one.
                let stored = self
                    .store
                    .init_meta(META_GRANT_TOKEN_KEY, &sealed)
                    .await
                    .map_err(internal("storing the grant token key"))?;
                let plain = self
                    .root
                    .unseal(GRANT_TOKEN_KEY_AAD, &stored)
                    .map_err(internal("unsealing the grant token key"))?;
                HmacKey::from_material(HmacKeySpec::Hmac256, plain.expose())
                    .map_err(internal("loading the grant token key"))
            })
            .await
    }

    /// A new token for a grant (every CreateGrant response carries a new one; all tokens
    /// of a grant are interchangeable).
    pub(crate) async fn issue_grant_token(
        &self,
        key_id: &str,
        grant_id: &str,
    ) -> Result<String, KmsError> {
        let (Some(key), Some(grant)) = (key_id_bytes(key_id), grant_id_bytes(grant_id)) else {
            tracing::error!(
                key_id,
                "cannot make a grant token: malformed key or grant id"
            );
            return Err(KmsError::Internal);
        };
        let nonce = trent_crypto::random_array::<NONCE_LEN>()
            .map_err(internal("generating a grant token nonce"))?;
        let mut body = Vec::with_capacity(TOKEN_LEN);
        body.push(if key_id.starts_with("mrk-") {
            TOKEN_VERSION_MRK
        } else {
            TOKEN_VERSION
        });
        body.extend_from_slice(&grant);
        body.extend_from_slice(&key);
        body.extend_from_slice(&nonce);
        let mac = self
            .grant_token_key()
            .await?
            .mac(MacAlgorithm::HmacSha256, &mac_input(&body))
            .map_err(internal("computing a grant token"))?;
        body.extend_from_slice(&mac);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body))
    }

    /// The grant a token names, if Trent issued the token; `InvalidGrantTokenException`
    /// otherwise. (The grant may since have been retired or revoked.)
    pub(crate) async fn verify_grant_token(&self, token: &str) -> Result<TokenRef, KmsError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| KmsError::InvalidGrantToken)?;
        let version = bytes.first().copied();
        if bytes.len() != TOKEN_LEN
            || !(version == Some(TOKEN_VERSION) || version == Some(TOKEN_VERSION_MRK))
        {
            return Err(KmsError::InvalidGrantToken);
        }
        let (body, mac) = bytes.split_at(TOKEN_LEN - MAC_LEN);
        let valid = self
            .grant_token_key()
            .await?
            .verify(MacAlgorithm::HmacSha256, &mac_input(body), mac)
            .map_err(internal("verifying a grant token"))?;
        if !valid {
            return Err(KmsError::InvalidGrantToken);
        }
        let grant = &body[1..1 + GRANT_ID_LEN];
        let key: [u8; 16] = body[1 + GRANT_ID_LEN..1 + GRANT_ID_LEN + 16]
            .try_into()
            .map_err(|_| KmsError::InvalidGrantToken)?;
        Ok(TokenRef {
            key_id: if version == Some(TOKEN_VERSION_MRK) {
                format!("mrk-{}", hex_encode(&key))
            } else {
                uuid::Uuid::from_bytes(key).hyphenated().to_string()
            },
            grant_id: hex_encode(grant),
        })
    }
}

fn mac_input(body: &[u8]) -> Vec<u8> {
    let mut input = TOKEN_MAC_DOMAIN.to_vec();
    input.extend_from_slice(body);
    input
}

/// A grant id is 64 lowercase hex digits (32 random bytes), as AWS's look.
pub(crate) fn grant_id_bytes(grant_id: &str) -> Option<[u8; GRANT_ID_LEN]> {
    if grant_id.len() != 2 * GRANT_ID_LEN
        || !grant_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    crate::keys::material_bytes(grant_id)
}

/// A fresh grant id.
pub(crate) fn new_grant_id() -> Result<String, KmsError> {
    let bytes =
        trent_crypto::random_array::<GRANT_ID_LEN>().map_err(internal("generating a grant id"))?;
    Ok(hex_encode(&bytes))
}

/// The matching form of a stored grant.
pub(crate) fn policy_grant(g: &GrantRecord) -> Grant {
    let constraints = (g.constraint_equals.is_some() || g.constraint_subset.is_some()).then(|| {
        GrantConstraints {
            encryption_context_equals: g.constraint_equals.clone(),
            encryption_context_subset: g.constraint_subset.clone(),
        }
    });
    Grant {
        grantee_principal: g.grantee_principal.clone(),
        operations: g.operations.clone(),
        constraints,
    }
}

fn grant_allows_one(
    g: &GrantRecord,
    principal: &PrincipalContext,
    action: &str,
    ec: Option<&[(&str, &str)]>,
) -> bool {
    policy_grant(g).allows(principal, action, ec)
}

/// Is `principal` the one `named` designates (a role named covers its sessions)? The
/// rule of grantee principals, used for retiring principals too.
pub(crate) fn names_principal(named: &str, principal: &PrincipalContext) -> bool {
    Grant {
        grantee_principal: named.to_owned(),
        operations: Vec::new(),
        constraints: None,
    }
    .is_grantee(principal)
}

/// May the grantee of `parent` create `new` with the CreateGrant permission `parent`
/// gives? Only grants whose operations are among `parent`'s, with constraints at least as
/// strict as `parent`'s: an EncryptionContextEquals parent needs the same
/// EncryptionContextEquals; an EncryptionContextSubset parent needs a subset constraint
/// that includes its pairs, or an equals constraint that does ("Granting CreateGrant
/// permission", <https://docs.aws.amazon.com/kms/latest/developerguide/create-grant-overview.html>).
/// In constraints, keys compare case-insensitively and values exactly.
pub(crate) fn may_create(parent: &GrantRecord, new: &NewGrant) -> bool {
    if !new
        .operations
        .iter()
        .all(|op| parent.operations.iter().any(|p| p == op))
    {
        return false;
    }
    if let Some(eq) = &parent.constraint_equals {
        match &new.constraint_equals {
            Some(new_eq) if same_pairs(eq, new_eq) => {}
            _ => return false,
        }
    }
    if let Some(sub) = &parent.constraint_subset {
        let covered_by = |pairs: &Option<Vec<(String, String)>>| {
            pairs.as_ref().is_some_and(|p| includes(p, sub))
        };
        if !(covered_by(&new.constraint_subset) || covered_by(&new.constraint_equals)) {
            return false;
        }
    }
    true
}

fn includes(pairs: &[(String, String)], required: &[(String, String)]) -> bool {
    required.iter().all(|(k, v)| {
        pairs
            .iter()
            .any(|(pk, pv)| pk.eq_ignore_ascii_case(k) && pv == v)
    })
}

fn same_pairs(a: &[(String, String)], b: &[(String, String)]) -> bool {
    includes(a, b) && includes(b, a)
}

/// The operations a grant on this key may hold (Grant operations, "grants.html#terms-grant-
/// operations"): those the key supports, plus CreateGrant, RetireGrant and DescribeKey.
pub(crate) fn operation_supported(op: GrantOperation, kind: KeyKind, usage: KeyUsageType) -> bool {
    use GrantOperation as G;
    match op {
        G::CreateGrant | G::RetireGrant | G::DescribeKey => true,
        G::Encrypt | G::Decrypt | G::ReEncryptFrom | G::ReEncryptTo => {
            usage == KeyUsageType::EncryptDecrypt
        }
        G::GenerateDataKey
        | G::GenerateDataKeyWithoutPlaintext
        | G::GenerateDataKeyPair
        | G::GenerateDataKeyPairWithoutPlaintext => kind == KeyKind::Symmetric,
        G::Sign | G::Verify => usage == KeyUsageType::SignVerify,
        G::GetPublicKey => matches!(kind, KeyKind::Asymmetric(_)),
        G::GenerateMac | G::VerifyMac => usage == KeyUsageType::GenerateVerifyMac,
        G::DeriveSharedSecret => usage == KeyUsageType::KeyAgreement,
    }
}

/// Operations whose requests carry an encryption context (on symmetric encryption keys):
/// the only ones grant constraints may accompany, besides CreateGrant, RetireGrant and
/// DescribeKey, to which constraints do not apply.
pub(crate) fn takes_encryption_context(op: GrantOperation) -> bool {
    use GrantOperation as G;
    matches!(
        op,
        G::Encrypt
            | G::Decrypt
            | G::ReEncryptFrom
            | G::ReEncryptTo
            | G::GenerateDataKey
            | G::GenerateDataKeyWithoutPlaintext
            | G::GenerateDataKeyPair
            | G::GenerateDataKeyPairWithoutPlaintext
            | G::CreateGrant
            | G::RetireGrant
            | G::DescribeKey
    )
}

/// The pairs of a constraint map, sorted by key (BTreeMap order).
pub(crate) fn pairs_of(map: &Option<BTreeMap<String, String>>) -> Option<Vec<(String, String)>> {
    map.as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_answer_holds_only_for_the_read_that_gave_it() {
        let absent = AbsentGrants::default();
        let read: Arc<[GrantRecord]> = Arc::from(vec![parent(&["Decrypt"], None, None)]);
        assert!(!absent.known("k", "g", &read));
        absent.note("k", "g", &read);
        assert!(absent.known("k", "g", &Arc::clone(&read)));
        // Not for another grant or key.
        assert!(!absent.known("k", "h", &read));
        assert!(!absent.known("k2", "g", &read));
        // A later read (the key's grants changed and were read again), even with the
        // same contents, is asked again.
        let reread: Arc<[GrantRecord]> = Arc::from(read.to_vec());
        assert!(!absent.known("k", "g", &reread));
        // Once the read is gone, so is the answer.
        drop(read);
        let again: Arc<[GrantRecord]> = Arc::from(vec![]);
        assert!(!absent.known("k", "g", &again));
        // Bounded.
        for i in 0..ABSENT_GRANTS_LIMIT + 10 {
            absent.note("k", &i.to_string(), &again);
        }
        assert!(absent.answers.lock().len() <= ABSENT_GRANTS_LIMIT);
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parent(
        ops: &[&str],
        eq: Option<&[(&str, &str)]>,
        sub: Option<&[(&str, &str)]>,
    ) -> GrantRecord {
        GrantRecord {
            grant_id: "0".repeat(64),
            key_id: "k".into(),
            key_arn: "arn".into(),
            name: None,
            grantee_principal: "arn:aws:iam::111122223333:role/app".into(),
            retiring_principal: None,
            issuing_account: "111122223333".into(),
            operations: ops.iter().map(|s| s.to_string()).collect(),
            constraint_equals: eq.map(pairs),
            constraint_subset: sub.map(pairs),
            created_at: 0,
        }
    }

    fn new(ops: &[&str], eq: Option<&[(&str, &str)]>, sub: Option<&[(&str, &str)]>) -> NewGrant {
        NewGrant {
            operations: ops.iter().map(|s| s.to_string()).collect(),
            constraint_equals: eq.map(pairs),
            constraint_subset: sub.map(pairs),
        }
    }

    #[test]
    fn derived_grants_keep_to_the_parents_operations() {
        let p = parent(&["CreateGrant", "Decrypt"], None, None);
        assert!(may_create(&p, &new(&["Decrypt"], None, None)));
        assert!(may_create(
            &p,
            &new(&["Decrypt", "CreateGrant"], None, None)
        ));
        assert!(!may_create(&p, &new(&["Decrypt", "Encrypt"], None, None)));
        // An unconstrained parent allows constrained children.
        assert!(may_create(
            &p,
            &new(&["Decrypt"], Some(&[("a", "1")]), None)
        ));
    }

    #[test]
    fn derived_grants_are_at_least_as_strict() {
        let eq = parent(&["CreateGrant", "Decrypt"], Some(&[("Dept", "IT")]), None);
        assert!(may_create(
            &eq,
            &new(&["Decrypt"], Some(&[("dept", "IT")]), None)
        ));
        assert!(!may_create(&eq, &new(&["Decrypt"], None, None)));
        assert!(!may_create(
            &eq,
            &new(&["Decrypt"], None, Some(&[("Dept", "IT")]))
        ));
        assert!(!may_create(
            &eq,
            &new(&["Decrypt"], Some(&[("Dept", "IT"), ("x", "y")]), None)
        ));
        assert!(!may_create(
            &eq,
            &new(&["Decrypt"], Some(&[("Dept", "it")]), None)
        ));

        let sub = parent(&["CreateGrant", "Decrypt"], None, Some(&[("Dept", "IT")]));
        assert!(may_create(
            &sub,
            &new(&["Decrypt"], None, Some(&[("Dept", "IT")]))
        ));
        assert!(may_create(
            &sub,
            &new(&["Decrypt"], None, Some(&[("Dept", "IT"), ("x", "y")]))
        ));
        assert!(may_create(
            &sub,
            &new(&["Decrypt"], Some(&[("DEPT", "IT"), ("x", "y")]), None)
        ));
        assert!(!may_create(&sub, &new(&["Decrypt"], None, None)));
        assert!(!may_create(
            &sub,
            &new(&["Decrypt"], None, Some(&[("x", "y")]))
        ));
    }

    #[test]
    fn grant_matching_uses_grantee_operation_and_constraints() {
        let g = parent(&["Decrypt"], None, Some(&[("Project", "alpha")]));
        let session = PrincipalContext::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/app/ss",
            "arn:aws:iam::111122223333:role/app",
        )
        .unwrap();
        let other = PrincipalContext::root("111122223333");
        let ec = [("project", "alpha"), ("more", "x")];
        assert!(grant_allows_one(&g, &session, "kms:Decrypt", Some(&ec)));
        assert!(!grant_allows_one(&g, &other, "kms:Decrypt", Some(&ec)));
        assert!(!grant_allows_one(&g, &session, "kms:Encrypt", Some(&ec)));
        assert!(!grant_allows_one(&g, &session, "kms:Decrypt", Some(&[])));
        assert!(!grant_allows_one(
            &g,
            &session,
            "kms:Decrypt",
            Some(&[("Project", "Alpha")])
        ));
        assert!(names_principal(
            "arn:aws:iam::111122223333:role/app",
            &session
        ));
        assert!(!names_principal(
            "arn:aws:iam::111122223333:role/other",
            &session
        ));
    }

    #[test]
    fn grant_operations_follow_the_key() {
        use GrantOperation as G;
        let sym = KeyKind::Symmetric;
        let ed = KeyUsageType::EncryptDecrypt;
        assert!(operation_supported(G::GenerateDataKey, sym, ed));
        assert!(!operation_supported(G::Sign, sym, ed));
        assert!(!operation_supported(G::GetPublicKey, sym, ed));
        assert!(operation_supported(G::RetireGrant, sym, ed));
        assert!(operation_supported(G::DescribeKey, sym, ed));
        let hmac = KeyKind::Hmac(HmacKeySpec::Hmac256);
        assert!(operation_supported(
            G::GenerateMac,
            hmac,
            KeyUsageType::GenerateVerifyMac
        ));
        assert!(!operation_supported(
            G::Encrypt,
            hmac,
            KeyUsageType::GenerateVerifyMac
        ));
    }

    #[test]
    fn grant_ids_are_64_lowercase_hex() {
        let id = new_grant_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(grant_id_bytes(&id).is_some());
        assert!(grant_id_bytes(&id.to_uppercase()).is_none());
        assert!(grant_id_bytes("abc").is_none());
    }
}
