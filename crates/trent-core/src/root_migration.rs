//! Changing the root of trust (`trent root-key migrate`): every secret the store holds
//! sealed under the source root key is re-sealed under the target, each with its own
//! associated data unchanged, a batch per store transaction. Resumable: a record the
//! target already opens is done; the root key check (which decides which key a node may
//! start with) is switched last, by [`switch_root_key_check`], so that until then the
//! deployment still starts with the source.
//!
//! What is re-sealed here: key materials (`key_materials`), imported key materials,
//! access key secrets, and the sealed metadata (the grant token key, the imported
//! material id key, and the XKS master key, which moves by value into or out of a token as
//! a derivation key). The data directory's files (the audit signing key) are the server's
//! (`trent-server/src/root_migrate.rs`). Tokens in callers' hands (STS session tokens,
//! import tokens) cannot be re-sealed: they stop working at the switch.

use trent_crypto::RootKeyProvider;
use trent_store::{Resealed, SealedKind, SealedSecret, Store, StoreError};

use crate::service::{access_key_aad, META_ROOT_CHECK, ROOT_CHECK_AAD, ROOT_CHECK_PLAINTEXT};

/// How a metadata entry is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// With [`RootKeyProvider::seal`].
    Secret,
    /// With [`RootKeyProvider::seal_derivation_key`] (wrapped in the token by `pkcs11`).
    DerivationKey,
}

/// The metadata entries sealed under the root key (other than the root key check), their
/// associated data and form.
const SEALED_META: [(&str, &[u8], Form); 3] = [
    (
        crate::grants::META_GRANT_TOKEN_KEY,
        crate::grants::GRANT_TOKEN_KEY_AAD,
        Form::Secret,
    ),
    (
        crate::import::META_MATERIAL_ID_KEY,
        crate::import::MATERIAL_ID_KEY_AAD,
        Form::Secret,
    ),
    (
        crate::xks_keys::META_XKS_MASTER_KEY,
        crate::xks_keys::XKS_MASTER_KEY_AAD,
        Form::DerivationKey,
    ),
];

/// The metadata entry that says a migration has begun and not finished: a server refuses
/// to start while it is there (some secrets may be sealed under either root key), until
/// `trent root-key migrate` is run again to the end.
pub const META_MIGRATION: &str = "root_key_migration";
const MIGRATION_IN_PROGRESS: &[u8] = b"in progress";

/// Marks the store as being migrated (again, for a resumed run).
pub async fn begin(store: &dyn Store) -> Result<(), MigrateError> {
    match store
        .swap_meta(META_MIGRATION, None, Some(MIGRATION_IN_PROGRESS))
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict)
            if store.meta(META_MIGRATION).await?.as_deref() == Some(MIGRATION_IN_PROGRESS) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Marks the migration finished: servers may start (with the new root key).
pub async fn finish(store: &dyn Store) -> Result<(), MigrateError> {
    store
        .swap_meta(META_MIGRATION, Some(MIGRATION_IN_PROGRESS), None)
        .await?;
    Ok(())
}

/// The kinds of records re-sealed, in the order they are.
pub const KINDS: [SealedKind; 5] = [
    SealedKind::KeyMaterial,
    SealedKind::ImportedMaterial,
    SealedKind::AccessKey,
    SealedKind::CustomKeyStoreSecret,
    SealedKind::Meta,
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the target root key cannot seal: {0}")]
    Seal(trent_crypto::CryptoError),
    #[error("the store has no root key check: it has never been opened by a server, there is nothing to migrate")]
    NoCheck,
    #[error("neither the source nor the target root key opens the store's root key check: the source is not the root key this store was created with")]
    CheckUnreadable,
    #[error("the target is the same root key as the source")]
    SameKey,
    #[error("{kind} {owner} {item}: neither the source nor the target root key opens it (corrupt, or sealed under a third key); nothing of it was changed")]
    Unreadable {
        kind: &'static str,
        owner: String,
        item: String,
    },
}

/// Which root key the store's root key check is sealed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// Not migrated yet (or migration under way): servers start with the source.
    Source,
    /// The migration completed: servers start with the target only.
    Target,
}

/// How many records of a kind were re-sealed, and how many the target already opened
/// (done by an earlier, interrupted run).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub resealed: u64,
    pub already: u64,
}

/// Counts per kind, in the order of [`KINDS`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub counts: [Counts; 5],
    /// Whether every record was visited (`false`: stopped after `max_batches`).
    pub complete: bool,
}

impl Report {
    pub fn of(&self, kind: SealedKind) -> Counts {
        self.counts[index(kind)]
    }
}

fn index(kind: SealedKind) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

/// A kind's name for the operator.
pub fn kind_name(kind: SealedKind) -> &'static str {
    match kind {
        SealedKind::KeyMaterial => "key material",
        SealedKind::ImportedMaterial => "imported key material",
        SealedKind::AccessKey => "access key secret",
        SealedKind::CustomKeyStoreSecret => "custom key store secret",
        SealedKind::Meta => "sealed metadata entry",
    }
}

/// Refuses a target that is the source's key: what the target seals, the source opens.
pub fn refuse_same_key(
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
) -> Result<(), MigrateError> {
    const AAD: &[u8] = b"trent:root-key-migrate:probe:v1";
    let probe = target
        .seal(AAD, b"same key probe")
        .map_err(MigrateError::Seal)?;
    if source.unseal(AAD, &probe).is_ok() {
        return Err(MigrateError::SameKey);
    }
    Ok(())
}

/// Which of the two keys the store's root key check is sealed under.
pub async fn check_state(
    store: &dyn Store,
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
) -> Result<CheckState, MigrateError> {
    let stored = store
        .meta(META_ROOT_CHECK)
        .await?
        .ok_or(MigrateError::NoCheck)?;
    let opens = |root: &dyn RootKeyProvider| {
        root.unseal(ROOT_CHECK_AAD, &stored)
            .is_ok_and(|p| p.expose() == ROOT_CHECK_PLAINTEXT)
    };
    if opens(source) {
        Ok(CheckState::Source)
    } else if opens(target) {
        Ok(CheckState::Target)
    } else {
        Err(MigrateError::CheckUnreadable)
    }
}

/// The associated data a record was sealed with.
fn aad_of(secret: &SealedSecret, meta_aad: &[u8]) -> Vec<u8> {
    match secret.kind {
        SealedKind::KeyMaterial | SealedKind::ImportedMaterial => {
            crate::backend::material_aad(&secret.key_arn, &secret.item)
        }
        SealedKind::AccessKey => access_key_aad(&secret.owner),
        SealedKind::CustomKeyStoreSecret => crate::custom_key_stores::secret_aad(&secret.owner),
        SealedKind::Meta => meta_aad.to_vec(),
    }
}

/// `None` if the target already opens the record; else its bytes sealed under the target.
pub fn reseal_one(
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Option<Vec<u8>>, Option<MigrateError>> {
    if target.unseal(aad, sealed).is_ok() {
        return Ok(None);
    }
    let plain = source.unseal(aad, sealed).map_err(|_| None)?;
    target
        .seal(aad, plain.expose())
        .map(Some)
        .map_err(|e| Some(MigrateError::Seal(e)))
}

/// [`reseal_one`] for a derivation key: moved by value from the source's form to the
/// target's (in or out of a token).
fn reseal_derivation_key(
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Option<Vec<u8>>, Option<MigrateError>> {
    if target.open_derivation_key(aad, sealed).is_ok() {
        return Ok(None);
    }
    let material = source
        .export_derivation_key(aad, sealed)
        .map_err(|_| None)?;
    target
        .seal_derivation_key(aad, Some(&material))
        .map(Some)
        .map_err(|e| Some(MigrateError::Seal(e)))
}

fn resealed(
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
    secret: SealedSecret,
    meta_aad: &[u8],
    form: Form,
    counts: &mut Counts,
) -> Result<Option<Resealed>, MigrateError> {
    let aad = aad_of(&secret, meta_aad);
    let moved = match form {
        Form::Secret => reseal_one(source, target, &aad, &secret.sealed),
        Form::DerivationKey => reseal_derivation_key(source, target, &aad, &secret.sealed),
    };
    match moved {
        Ok(None) => {
            counts.already += 1;
            Ok(None)
        }
        Ok(Some(sealed)) => Ok(Some(Resealed {
            old: secret,
            sealed,
        })),
        Err(Some(e)) => Err(e),
        Err(None) => Err(MigrateError::Unreadable {
            kind: kind_name(secret.kind),
            owner: secret.owner,
            item: secret.item,
        }),
    }
}

/// Re-seals every record of the store under `target`, `batch_size` records per store
/// transaction, and stops after `max_batches` transactions if given (a test's crash).
/// `progress` is told each kind's counts after each of its pages. The root key check is
/// left as it is.
pub async fn reseal_store(
    store: &dyn Store,
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
    batch_size: u32,
    max_batches: Option<u64>,
    mut progress: impl FnMut(SealedKind, Counts),
) -> Result<Report, MigrateError> {
    let batch_size = batch_size.max(1);
    let mut report = Report::default();
    let mut batches = 0u64;
    let mut commit = |batch: Vec<Resealed>| {
        let stop = max_batches.is_some_and(|m| batches >= m);
        if !batch.is_empty() && !stop {
            batches += 1;
        }
        (batch, stop)
    };
    for kind in KINDS {
        let counts = &mut report.counts[index(kind)];
        if kind == SealedKind::Meta {
            let mut batch = Vec::new();
            for (name, aad, form) in SEALED_META {
                let Some(sealed) = store.meta(name).await? else {
                    continue;
                };
                let secret = SealedSecret {
                    kind,
                    owner: name.to_owned(),
                    item: String::new(),
                    key_arn: String::new(),
                    sealed,
                };
                batch.extend(resealed(source, target, secret, aad, form, counts)?);
            }
            let (batch, stop) = commit(batch);
            if stop && !batch.is_empty() {
                return Ok(report);
            }
            store.reseal(&batch).await?;
            counts.resealed += batch.len() as u64;
            progress(kind, *counts);
            continue;
        }
        let mut after: Option<(String, String)> = None;
        loop {
            let page = store
                .sealed_secrets(
                    kind,
                    after.as_ref().map(|(o, i)| (o.as_str(), i.as_str())),
                    batch_size,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((last.owner.clone(), last.item.clone()));
            let full = page.len() == batch_size as usize;
            let mut batch = Vec::with_capacity(page.len());
            for secret in page {
                batch.extend(resealed(source, target, secret, &[], Form::Secret, counts)?);
            }
            let (batch, stop) = commit(batch);
            if stop && !batch.is_empty() {
                return Ok(report);
            }
            store.reseal(&batch).await?;
            counts.resealed += batch.len() as u64;
            progress(kind, *counts);
            if !full {
                break;
            }
        }
    }
    report.complete = true;
    Ok(report)
}

/// The last step: the root key check sealed under the target, iff it is still the
/// source's. From then on a server starts with the target only.
pub async fn switch_root_key_check(
    store: &dyn Store,
    source: &dyn RootKeyProvider,
    target: &dyn RootKeyProvider,
) -> Result<(), MigrateError> {
    let stored = store
        .meta(META_ROOT_CHECK)
        .await?
        .ok_or(MigrateError::NoCheck)?;
    let secret = SealedSecret {
        kind: SealedKind::Meta,
        owner: META_ROOT_CHECK.to_owned(),
        item: String::new(),
        key_arn: String::new(),
        sealed: stored,
    };
    let mut counts = Counts::default();
    if let Some(r) = resealed(
        source,
        target,
        secret,
        ROOT_CHECK_AAD,
        Form::Secret,
        &mut counts,
    )? {
        store.reseal(&[r]).await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use trent_crypto::FileRootKey;

    use super::*;
    use crate::backend::material_aad;

    /// A key of the store with one material, `plain` sealed under `root`.
    async fn key_sealed_under(store: &dyn Store, root: &dyn RootKeyProvider, plain: &[u8]) {
        let (key, mut material) = trent_store::conformance::new_key("111122223333", "us-east-1");
        material.sealed = root
            .seal(&material_aad(&key.arn, &material.material_id), plain)
            .unwrap();
        store.create_key(&key, Some(&material)).await.unwrap();
    }

    /// Every key material of the store, unsealed under `root`.
    async fn plaintexts(store: &dyn Store, root: &dyn RootKeyProvider) -> Vec<Vec<u8>> {
        let listed = store
            .sealed_secrets(SealedKind::KeyMaterial, None, 1000)
            .await
            .unwrap();
        listed
            .iter()
            .map(|s| {
                root.unseal(&material_aad(&s.key_arn, &s.item), &s.sealed)
                    .unwrap()
                    .expose()
                    .to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn reseals_in_batches_resumes_and_switches_the_check_last() {
        let (_service, store, dir) = crate::test_support::sqlite_service("111122223333").await;
        let store = store.as_ref();
        let source = FileRootKey::load(&dir.path().join("root.key")).unwrap();
        let target = FileRootKey::create(&dir.path().join("new.key")).unwrap();
        for i in 0..5u8 {
            key_sealed_under(store, &source, &[i; 32]).await;
        }
        let mut before = plaintexts(store, &source).await;
        before.sort();
        assert!(matches!(
            refuse_same_key(&source, &source),
            Err(MigrateError::SameKey)
        ));
        refuse_same_key(&source, &target).unwrap();

        // A crash after two transactions of two records.
        let partial = reseal_store(store, &source, &target, 2, Some(2), |_, _| {})
            .await
            .unwrap();
        assert!(!partial.complete);
        assert_eq!(
            check_state(store, &source, &target).await.unwrap(),
            CheckState::Source
        );
        let mut seen = Vec::new();
        let done = reseal_store(store, &source, &target, 2, None, |kind, counts| {
            seen.push((kind, counts));
        })
        .await
        .unwrap();
        assert!(done.complete);
        assert_eq!(
            done.of(SealedKind::KeyMaterial),
            Counts {
                resealed: 1,
                already: 4
            }
        );
        assert_eq!(done.of(SealedKind::AccessKey).resealed, 1);
        assert!(!seen.is_empty());
        let mut after = plaintexts(store, &target).await;
        after.sort();
        assert_eq!(after, before, "every material re-sealed once, none lost");
        // The check is the source's until it is switched.
        assert_eq!(
            check_state(store, &source, &target).await.unwrap(),
            CheckState::Source
        );
        switch_root_key_check(store, &source, &target)
            .await
            .unwrap();
        assert_eq!(
            check_state(store, &source, &target).await.unwrap(),
            CheckState::Target
        );
        let again = reseal_store(store, &source, &target, 2, None, |_, _| {})
            .await
            .unwrap();
        assert_eq!(again.of(SealedKind::KeyMaterial).resealed, 0);

        // A record neither key opens is named, and its batch is not written.
        let third = FileRootKey::create(&dir.path().join("third.key")).unwrap();
        let fresh = Arc::new(FileRootKey::create(&dir.path().join("fresh.key")).unwrap());
        key_sealed_under(store, &third, &[9; 32]).await;
        let err = reseal_store(store, &target, fresh.as_ref(), 1000, None, |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, MigrateError::Unreadable { .. }), "{err}");
        let stale = store
            .sealed_secrets(SealedKind::KeyMaterial, None, 1000)
            .await
            .unwrap();
        assert!(stale.iter().all(|s| fresh
            .unseal(&material_aad(&s.key_arn, &s.item), &s.sealed)
            .is_err()));
    }
}
