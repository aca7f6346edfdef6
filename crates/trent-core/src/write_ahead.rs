//! Write-ahead audit: no change reaches the store before a durable record of it is in the
//! audit trail.
//!
//! Every write of the key service goes through [`WriteAheadStore`], which wraps the store
//! the service was opened on. Before it hands a write to the store it asks the
//! [`WriteAhead`] hook of the task it runs in to record the *intent*: the change (the
//! store operation), and the resources it creates or changes (key and alias ARNs, grant
//! ids, key material ids: every id is generated before the write, so the intent names
//! them). The hook belongs to whoever started the work: the HTTP pipeline installs one per
//! state-changing request (naming its request id and principal), the background jobs one
//! per change they make. It is installed with [`scope`], a task-local, so that no
//! operation can write without one: a write made outside a scope, or whose intent cannot
//! be recorded, is refused before the store sees it, and the caller gets
//! `KMSInternalException`.
//!
//! The outcome (the request's CloudTrail event, or the job's service event) is recorded
//! after the change, as before; an intent without an outcome is a request the process did
//! not finish (a crash), and the trail still names what it may have changed.
//!
//! Writes that change no KMS resource are not announced: leases (coordination), the
//! deployment's metadata and first administrator (bootstrap, before the trail is open),
//! and the last-usage records (a flush of what the trail already recorded).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use trent_store::{
    AccessKeyRecord, AliasRecord, ChangeStream, Committed, CreateGrantOutcome, GrantLimits,
    GrantRecord, ImportedMaterialRecord, KeyRecord, KeyUsageRecord, MaterialHistoryEntry,
    MaterialRecord, RotationSchedule, RotationType, Store, StoreError, Transaction,
};

/// One intended change, as the trail records it before the change is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intent {
    /// The store operation about to run (`create_key`, `update_key`, `delete_grant`, ...),
    /// or the name of the [`Transaction`] (`rotate_keys`, `put_imported_materials`, ...).
    pub change: &'static str,
    /// The ARNs of the keys and aliases it creates or changes.
    pub resources: Vec<String>,
    /// The grant it creates or deletes, if any.
    pub grant_id: Option<String>,
    /// The key materials it adds or changes, if any.
    pub key_material_ids: Vec<String>,
}

/// Records intents, durably, before their change is made (the audit trail).
pub trait WriteAhead: Send + Sync {
    /// Returns once the intent is durable; an error refuses the change.
    fn intend<'a>(
        &'a self,
        intent: &'a Intent,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

    /// The id tying a background job's intents to its service event (`None` for a
    /// request: its request id does).
    fn job_id(&self) -> Option<&str> {
        None
    }
}

tokio::task_local! {
    static HOOK: Arc<dyn WriteAhead>;
}

/// Runs `work` with `hook` recording the intent of every write it makes.
pub async fn scope<F: Future>(hook: Arc<dyn WriteAhead>, work: F) -> F::Output {
    HOOK.scope(hook, work).await
}

/// The hook of the current task, for work it hands to a task of its own (the background
/// half of ConnectCustomKeyStore): that task's writes are recorded as this task's.
pub(crate) fn current_hook() -> Option<Arc<dyn WriteAhead>> {
    HOOK.try_with(Arc::clone).ok()
}

/// The job id of the hook of the current task, if it is a job's.
pub(crate) fn current_job_id() -> Option<String> {
    HOOK.try_with(|h| h.job_id().map(str::to_owned))
        .ok()
        .flatten()
}

/// Why a write was refused before it reached the store.
#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    #[error("a write outside any write-ahead scope was refused ({0})")]
    NoScope(&'static str),
    #[error("the intent of {change} could not be recorded: {reason}")]
    NotRecorded {
        change: &'static str,
        reason: String,
    },
}

fn refused(e: IntentError) -> StoreError {
    tracing::error!(error = %e, "write refused: its intent is not in the audit trail");
    StoreError::Backend(Box::new(e))
}

/// The store of the key service: reads go straight through, every write of a KMS resource
/// is announced to the task's [`WriteAhead`] hook first.
pub(crate) struct WriteAheadStore {
    inner: Arc<dyn Store>,
}

impl WriteAheadStore {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Self {
        WriteAheadStore { inner }
    }

    async fn intend(&self, intent: Intent) -> Result<(), StoreError> {
        let hook = HOOK
            .try_with(Arc::clone)
            .map_err(|_| refused(IntentError::NoScope(intent.change)))?;
        hook.intend(&intent).await.map_err(|reason| {
            refused(IntentError::NotRecorded {
                change: intent.change,
                reason,
            })
        })
    }

    /// The ARN of a stored key, for an intent that names the key by its storage id. A key
    /// that cannot be read is named by that id: the write then fails on its own
    /// (`NotFound`), and the intent still says what was attempted.
    async fn key_arn(&self, key_id: &str) -> String {
        match self.inner.key(key_id).await {
            Ok(Some(k)) => k.arn.to_string(),
            _ => key_id.to_owned(),
        }
    }

    async fn key_arns(&self, key_ids: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for id in key_ids {
            let arn = self.key_arn(id).await;
            if !out.contains(&arn) {
                out.push(arn);
            }
        }
        out
    }
}

fn alias_arn(alias: &AliasRecord) -> String {
    crate::ids::alias_arn(&alias.region, &alias.account_id, &alias.alias_name)
}

#[async_trait]
impl Store for WriteAheadStore {
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta(name).await
    }
    async fn swap_meta(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        // Deployment metadata, as `init_meta`: not a KMS resource.
        self.inner.swap_meta(name, old, new).await
    }
    async fn init_meta(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        // Deployment metadata at first start (no KMS resource; the trail is not open yet).
        self.inner.init_meta(name, value).await
    }

    async fn create_key(
        &self,
        key: &KeyRecord,
        material: Option<&MaterialRecord>,
    ) -> Result<(), StoreError> {
        self.intend(Intent {
            change: "create_key",
            resources: vec![key.arn.to_string()],
            key_material_ids: material.iter().map(|m| m.material_id.clone()).collect(),
            ..Intent::default()
        })
        .await?;
        self.inner.create_key(key, material).await
    }
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.key(key_id).await
    }
    async fn key_version(&self, key_id: &str) -> Result<Option<i64>, StoreError> {
        self.inner.key_version(key_id).await
    }
    async fn update_key(&self, key: &KeyRecord) -> Result<KeyRecord, StoreError> {
        self.intend(Intent {
            change: "update_key",
            resources: vec![key.arn.to_string()],
            ..Intent::default()
        })
        .await?;
        self.inner.update_key(key).await
    }
    async fn list_keys(
        &self,
        account_id: &str,
        region: &str,
        after_key_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner
            .list_keys(account_id, region, after_key_id, limit)
            .await
    }
    async fn add_material(&self, material: &MaterialRecord) -> Result<(), StoreError> {
        self.intend(Intent {
            change: "add_material",
            resources: vec![self.key_arn(&material.key_id).await],
            key_material_ids: vec![material.material_id.clone()],
            ..Intent::default()
        })
        .await?;
        self.inner.add_material(material).await
    }
    async fn materials(&self, key_id: &str) -> Result<Vec<MaterialRecord>, StoreError> {
        self.inner.materials(key_id).await
    }

    async fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut resources = vec![alias_arn(alias)];
        resources.extend(self.key_arns(&[alias.target_key_id.as_str()]).await);
        self.intend(Intent {
            change: "create_alias",
            resources,
            ..Intent::default()
        })
        .await?;
        self.inner.create_alias(alias).await
    }
    async fn alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        self.inner.alias(account_id, region, alias_name).await
    }
    async fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut resources = vec![alias_arn(alias)];
        resources.extend(self.key_arns(&[alias.target_key_id.as_str()]).await);
        self.intend(Intent {
            change: "update_alias",
            resources,
            ..Intent::default()
        })
        .await?;
        self.inner.update_alias(alias).await
    }
    async fn delete_alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<(), StoreError> {
        self.intend(Intent {
            change: "delete_alias",
            resources: vec![crate::ids::alias_arn(region, account_id, alias_name)],
            ..Intent::default()
        })
        .await?;
        self.inner
            .delete_alias(account_id, region, alias_name)
            .await
    }
    async fn list_aliases(
        &self,
        account_id: &str,
        region: &str,
        target_key_id: Option<&str>,
        after_alias_name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        self.inner
            .list_aliases(account_id, region, target_key_id, after_alias_name, limit)
            .await
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<(), StoreError> {
        // The first administrator, at first start (before the trail is open).
        self.inner.put_access_key(key).await
    }
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.inner.access_key(access_key_id).await
    }
    async fn access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.inner.access_keys().await
    }

    async fn create_grant(
        &self,
        grant: &GrantRecord,
        limits: GrantLimits,
    ) -> Result<CreateGrantOutcome, StoreError> {
        self.intend(Intent {
            change: "create_grant",
            resources: vec![grant.key_arn.clone()],
            grant_id: Some(grant.grant_id.clone()),
            ..Intent::default()
        })
        .await?;
        self.inner.create_grant(grant, limits).await
    }
    async fn grant(&self, key_id: &str, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        self.inner.grant(key_id, grant_id).await
    }
    async fn list_grants(
        &self,
        key_id: &str,
        grantee_principal: Option<&str>,
        after_grant_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.inner
            .list_grants(key_id, grantee_principal, after_grant_id, limit)
            .await
    }
    async fn list_retirable_grants(
        &self,
        retiring_principal: &str,
        region: &str,
        after_grant_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.inner
            .list_retirable_grants(retiring_principal, region, after_grant_id, limit)
            .await
    }
    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<(), StoreError> {
        self.intend(Intent {
            change: "delete_grant",
            resources: vec![self.key_arn(key_id).await],
            grant_id: Some(grant_id.to_owned()),
            ..Intent::default()
        })
        .await?;
        self.inner.delete_grant(key_id, grant_id).await
    }

    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        self.inner.subscribe().await
    }

    // Leases coordinate the nodes' background jobs; they change no KMS resource.
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.try_acquire_lease(name, holder, ttl).await
    }
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.renew_lease(name, holder, ttl).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }

    async fn rotation_schedule(
        &self,
        key_id: &str,
    ) -> Result<Option<RotationSchedule>, StoreError> {
        self.inner.rotation_schedule(key_id).await
    }
    async fn set_rotation_schedule(
        &self,
        key_version: i64,
        schedule: &RotationSchedule,
    ) -> Result<i64, StoreError> {
        self.intend(Intent {
            change: "set_rotation_schedule",
            resources: vec![self.key_arn(&schedule.key_id).await],
            ..Intent::default()
        })
        .await?;
        self.inner
            .set_rotation_schedule(key_version, schedule)
            .await
    }
    async fn material_history(
        &self,
        key_id: &str,
        rotations_only: bool,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MaterialHistoryEntry>, StoreError> {
        self.inner
            .material_history(key_id, rotations_only, after_seq, limit)
            .await
    }
    async fn count_rotations(
        &self,
        key_id: &str,
        rotation_type: RotationType,
    ) -> Result<i64, StoreError> {
        self.inner.count_rotations(key_id, rotation_type).await
    }
    async fn rotations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<RotationSchedule>, StoreError> {
        self.inner.rotations_due(now, limit).await
    }
    async fn deletions_due(&self, now: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        self.inner.deletions_due(now, limit).await
    }
    async fn delete_key(&self, key_id: &str, key_version: i64) -> Result<(), StoreError> {
        self.intend(Intent {
            change: "delete_key",
            resources: vec![self.key_arn(key_id).await],
            ..Intent::default()
        })
        .await?;
        self.inner.delete_key(key_id, key_version).await
    }
    async fn record_key_usage(&self, usage: &[KeyUsageRecord]) -> Result<(), StoreError> {
        // A flush of uses whose events are already in the trail.
        self.inner.record_key_usage(usage).await
    }
    async fn key_last_usage(&self, key_id: &str) -> Result<Option<KeyUsageRecord>, StoreError> {
        self.inner.key_last_usage(key_id).await
    }

    async fn imported_materials(
        &self,
        key_id: &str,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        self.inner.imported_materials(key_id).await
    }
    async fn import_expirations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        self.inner.import_expirations_due(now, limit).await
    }

    async fn multi_region_keys(&self, mrk_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.multi_region_keys(mrk_id).await
    }
    async fn transact(&self, transaction: &Transaction) -> Result<Committed, StoreError> {
        // The intent is built from the writes: the keys the transaction creates, then
        // those it changes (by the ARN of the record it writes, or of the stored key), and
        // the key materials it adds or changes.
        let mut resources: Vec<String> = Vec::new();
        for (key_id, arn) in transaction.keys() {
            let arn = match arn {
                Some(arn) => arn.to_owned(),
                None => self.key_arn(key_id).await,
            };
            if !resources.contains(&arn) {
                resources.push(arn);
            }
        }
        self.intend(Intent {
            change: transaction.name(),
            resources,
            key_material_ids: transaction
                .material_ids()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            ..Intent::default()
        })
        .await?;
        self.inner.transact(transaction).await
    }
    async fn create_custom_key_store(
        &self,
        store: &trent_store::CustomKeyStoreRecord,
    ) -> Result<(), StoreError> {
        self.intend(Intent {
            change: "create_custom_key_store",
            ..Intent::default()
        })
        .await?;
        self.inner.create_custom_key_store(store).await
    }
    async fn custom_key_store(
        &self,
        id: &str,
    ) -> Result<Option<trent_store::CustomKeyStoreRecord>, StoreError> {
        self.inner.custom_key_store(id).await
    }
    async fn custom_key_stores(
        &self,
        account_id: &str,
        region: &str,
    ) -> Result<Vec<trent_store::CustomKeyStoreRecord>, StoreError> {
        self.inner.custom_key_stores(account_id, region).await
    }
    async fn update_custom_key_store(
        &self,
        store: &trent_store::CustomKeyStoreRecord,
    ) -> Result<trent_store::CustomKeyStoreRecord, StoreError> {
        self.intend(Intent {
            change: "update_custom_key_store",
            ..Intent::default()
        })
        .await?;
        self.inner.update_custom_key_store(store).await
    }
    async fn delete_custom_key_store(&self, id: &str, version: i64) -> Result<(), StoreError> {
        self.intend(Intent {
            change: "delete_custom_key_store",
            ..Intent::default()
        })
        .await?;
        self.inner.delete_custom_key_store(id, version).await
    }
    async fn custom_key_store_key_count(&self, id: &str) -> Result<i64, StoreError> {
        self.inner.custom_key_store_key_count(id).await
    }
    async fn reset_account(&self, account_id: Option<&str>) -> Result<u64, StoreError> {
        self.intend(Intent {
            change: "reset_account",
            ..Intent::default()
        })
        .await?;
        self.inner.reset_account(account_id).await
    }
    async fn key_census(&self) -> Result<Vec<trent_store::KeyCensus>, StoreError> {
        self.inner.key_census().await
    }

    async fn customer_key_count(&self, account_id: &str, region: &str) -> Result<i64, StoreError> {
        self.inner.customer_key_count(account_id, region).await
    }
    async fn sealed_secrets(
        &self,
        kind: trent_store::SealedKind,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<trent_store::SealedSecret>, StoreError> {
        self.inner.sealed_secrets(kind, after, limit).await
    }
    async fn reseal(&self, batch: &[trent_store::Resealed]) -> Result<(), StoreError> {
        // The same secrets under another root key (`trent root-key migrate`, which runs
        // on the store itself, not through a key service).
        let mut resources: Vec<String> = Vec::new();
        let mut key_material_ids: Vec<String> = Vec::new();
        for r in batch.iter().filter(|r| !r.old.key_arn.is_empty()) {
            if !resources.contains(&r.old.key_arn) {
                resources.push(r.old.key_arn.clone());
            }
            key_material_ids.push(r.old.item.clone());
        }
        self.intend(Intent {
            change: "reseal",
            resources,
            key_material_ids,
            ..Intent::default()
        })
        .await?;
        self.inner.reseal(batch).await
    }
}

/// A hook for tests: records every intent it is given, or refuses them all.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    #[derive(Default)]
    pub(crate) struct Recorder {
        pub intents: parking_lot::Mutex<Vec<Intent>>,
        pub refuse: bool,
    }

    impl WriteAhead for Recorder {
        fn intend<'a>(
            &'a self,
            intent: &'a Intent,
        ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
            Box::pin(async move {
                if self.refuse {
                    return Err("refused by the test".into());
                }
                self.intents.lock().push(intent.clone());
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use trent_wire::CreateKeyRequest;

    use super::testing::Recorder;
    use super::*;
    use crate::{Caller, KeyService, KmsError, Principal};

    async fn service() -> (KeyService, tempfile::TempDir) {
        let (service, _, dir) = crate::test_support::sqlite_service("111122223333").await;
        (service, dir)
    }

    fn root() -> Caller {
        Caller {
            principal: Principal::from_arn("arn:aws:iam::111122223333:root").unwrap(),
            region: trent_wire::Region::parse("us-east-1").unwrap(),
            access_key_id: "AKIATEST".into(),
            attributes: Default::default(),
        }
    }

    async fn key_count(service: &KeyService) -> usize {
        service
            .store
            .list_keys("111122223333", "us-east-1", None, 100)
            .await
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn a_write_outside_a_scope_is_refused() {
        let (service, _dir) = service().await;
        let e = service
            .create_key(&root(), CreateKeyRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(e, KmsError::Internal), "{e:?}");
        assert_eq!(key_count(&service).await, 0);
    }

    #[tokio::test]
    async fn a_refused_intent_writes_nothing() {
        let (service, _dir) = service().await;
        let hook = Arc::new(Recorder {
            refuse: true,
            ..Recorder::default()
        });
        let e = scope(
            hook,
            service.create_key(&root(), CreateKeyRequest::default()),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, KmsError::Internal), "{e:?}");
        assert_eq!(key_count(&service).await, 0);
    }

    #[tokio::test]
    async fn the_intent_names_the_generated_ids_before_the_write() {
        let (service, _dir) = service().await;
        let hook = Arc::new(Recorder::default());
        let created = scope(
            hook.clone(),
            service.create_key(&root(), CreateKeyRequest::default()),
        )
        .await
        .unwrap();
        let arn = created.key_metadata.unwrap().arn.unwrap();
        let intents = hook.intents.lock().clone();
        assert_eq!(intents.len(), 1, "{intents:?}");
        assert_eq!(intents[0].change, "create_key");
        assert_eq!(intents[0].resources, vec![arn]);
        assert_eq!(intents[0].key_material_ids.len(), 1);
    }

    #[tokio::test]
    async fn a_transaction_is_announced_by_its_name_with_what_it_writes() {
        let (service, _dir) = service().await;
        let hook = Arc::new(Recorder::default());
        let created = scope(
            hook.clone(),
            service.create_key(&root(), CreateKeyRequest::default()),
        )
        .await
        .unwrap();
        let metadata = created.key_metadata.unwrap();
        let (arn, key_id) = (metadata.arn.unwrap(), metadata.key_id);
        let record = service.store.key(&key_id).await.unwrap().unwrap();
        let material = |key_id: &str| MaterialRecord {
            key_id: key_id.to_owned(),
            material_id: "ab".repeat(32),
            created_at: 1,
            sealed: vec![1, 2, 3],
        };
        let new_arn = arn.replace(&key_id, "00000000-0000-4000-8000-00000000c0de");
        let mut t = Transaction::new("rotate_and_copy");
        t.rotate_key(
            record.version,
            material(&key_id),
            trent_store::RotationRecord {
                key_id: key_id.clone(),
                material_id: "ab".repeat(32),
                rotated_at: 1,
                rotation_type: RotationType::OnDemand,
            },
        )
        .insert_key(KeyRecord {
            key_id: "copy".to_owned(),
            arn: trent_wire::KeyArn::parse(new_arn.clone()).unwrap(),
            version: 1,
            current_material_id: Some("ab".repeat(32)),
            ..record.clone()
        })
        .add_material(material("copy"));
        scope(hook.clone(), service.store.transact(&t))
            .await
            .unwrap();
        let intents = hook.intents.lock().clone();
        assert_eq!(intents.len(), 2, "{intents:?}");
        // The key it creates first, then the one it changes (by its stored ARN); each
        // material once.
        assert_eq!(
            intents[1],
            Intent {
                change: "rotate_and_copy",
                resources: vec![new_arn, arn],
                grant_id: None,
                key_material_ids: vec!["ab".repeat(32)],
            }
        );

        // A refused intent writes nothing of the transaction.
        let refusing = Arc::new(Recorder {
            refuse: true,
            ..Recorder::default()
        });
        let mut t = Transaction::new("delete_key");
        t.delete_key("copy", 1);
        assert!(scope(refusing, service.store.transact(&t)).await.is_err());
        assert!(service.store.key("copy").await.unwrap().is_some());
    }
}
