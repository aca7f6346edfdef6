//! A seed (`trent serve --seed FILE`): keys with fixed ids, specs, usages and (optionally)
//! material, with their aliases, policies, tags and rotation, made at start for test
//! suites that expect them. Idempotent: a key that exists is checked against its entry
//! (account, Region, spec and usage) and left as it is; its missing aliases are made. A
//! seed never changes what exists; an entry that contradicts the store is an error naming
//! the entry, and the server does not start.
//!
//! Each key is made in one store transaction with its material, rotation schedule and
//! aliases, through the write-ahead store (the caller's scope records the intents).
//! Resource quotas do not apply: the operator wrote the seed. Material given in the seed
//! is checked as the key's kind requires (32 bytes for a symmetric key, the HMAC spec's
//! length range, a PKCS#8 key pair of the spec) and never appears in an error.

use std::collections::BTreeMap;
use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_policy::{Policy, PolicyKind};
use trent_store::{
    AliasRecord, KeyRecord, MaterialRecord, RotationSchedule, StoreError, Transaction,
};
use trent_wire::{KeyManagerType, KeySpec, KeyState, KeyUsageType, OriginType, Region, Tag};

use crate::backend::KeyBackend;
use crate::ids::new_key_arn;
use crate::keys::hex_encode;
use crate::keyspec::KeyKind;
use crate::rotation::DAY_MS;
use crate::KeyService;

/// One key of a seed.
pub struct SeedKey {
    /// A key id: a lowercase UUID.
    pub id: String,
    pub account_id: String,
    pub region: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsageType,
    pub description: String,
    /// The key's material (raw bytes, or PKCS#8 DER for a key pair); generated if `None`.
    pub material: Option<SecretBytes>,
    /// The key policy; AWS's default key policy if `None`.
    pub policy: Option<String>,
    pub enabled: bool,
    /// Automatic rotation every this many days (symmetric keys only).
    pub rotation_period_days: Option<i32>,
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<String>,
}

impl std::fmt::Debug for SeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedKey")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .field("key_spec", &self.key_spec)
            .field("material", &self.material.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

/// What a seed did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Keys made now.
    pub created: usize,
    /// Keys that were there already.
    pub existing: usize,
    /// Aliases made now.
    pub aliases: usize,
}

impl KeyService {
    /// TESTING ONLY (`--dev-reset`): empties the account (`None`: every account) and
    /// forgets what this node cached; the number of keys deleted.
    pub async fn reset_account(&self, account: Option<&str>) -> Result<u64, crate::KmsError> {
        let deleted = self
            .store
            .reset_account(account)
            .await
            .map_err(crate::error::internal("resetting an account"))?;
        self.cache.clear();
        Ok(deleted)
    }

    /// Makes what the seed has and the store does not (see the module documentation).
    /// The error names the entry (its position, from 1, and its key id).
    pub async fn apply_seed(&self, keys: &[SeedKey]) -> Result<SeedReport, String> {
        let mut report = SeedReport::default();
        for (n, key) in keys.iter().enumerate() {
            let entry = |e: String| format!("seed key {} ({}): {e}", n + 1, key.id);
            self.seed_key(key, &mut report).await.map_err(entry)?;
        }
        Ok(report)
    }

    async fn seed_key(&self, seed: &SeedKey, report: &mut SeedReport) -> Result<(), String> {
        let id_ok =
            uuid::Uuid::parse_str(&seed.id).is_ok_and(|u| u.hyphenated().to_string() == seed.id);
        if !id_ok {
            return Err("the id must be a key id (a lowercase UUID, 8-4-4-4-12)".into());
        }
        if !crate::is_account_id(&seed.account_id) {
            return Err(format!("{:?} is not an account id", seed.account_id));
        }
        let region = Region::parse(&seed.region)
            .map_err(|_| format!("{:?} is not a Region", seed.region))?;
        let kind = KeyKind::of(seed.key_spec);
        if !kind.allowed_usages().contains(&seed.key_usage) {
            return Err(format!(
                "KeyUsage {} is not compatible with KeySpec {}",
                seed.key_usage.as_str(),
                seed.key_spec
            ));
        }
        if seed.rotation_period_days.is_some() && kind != KeyKind::Symmetric {
            return Err("automatic rotation is for symmetric encryption keys only".into());
        }
        if let Some(days) = seed.rotation_period_days {
            if !(90..=2560).contains(&days) {
                return Err(format!(
                    "rotation_period_days {days} is out of range (90 to 2560)"
                ));
            }
        }
        for alias in &seed.aliases {
            crate::ops::create_alias::check_alias_name(alias)
                .map_err(|e| format!("alias {alias:?}: {e}"))?;
        }
        let tags: Vec<Tag> = seed
            .tags
            .iter()
            .map(|(k, v)| Tag {
                tag_key: k.clone(),
                tag_value: v.clone(),
            })
            .collect();
        crate::ops::common::check_tags(&tags).map_err(|e| e.to_string())?;
        let store_error = |what: &'static str| move |e: StoreError| format!("{what}: {e}");

        let existing = self
            .store
            .key(&seed.id)
            .await
            .map_err(store_error("reading the key"))?;
        let key_id = match existing {
            Some(k) => {
                let same = k.account_id == seed.account_id
                    && k.region == seed.region
                    && k.key_spec == seed.key_spec
                    && k.key_usage == seed.key_usage;
                if !same {
                    return Err(format!(
                        "the store has this key as {} {} {} {}, not as the seed says",
                        k.account_id,
                        k.region,
                        k.key_spec,
                        k.key_usage.as_str()
                    ));
                }
                report.existing += 1;
                k.key_id
            }
            None => {
                self.seed_new_key(seed, &region, kind, &tags).await?;
                report.created += 1;
                report.aliases += seed.aliases.len();
                return Ok(());
            }
        };
        // An existing key: its aliases, each made if missing, refused if it names another key.
        for alias in &seed.aliases {
            match self
                .store
                .alias(&seed.account_id, &seed.region, alias)
                .await
                .map_err(store_error("reading an alias"))?
            {
                Some(a) if a.target_key_id == key_id => {}
                Some(_) => return Err(format!("the alias {alias} names another key")),
                None => {
                    let now = self.clock.now_millis();
                    self.store
                        .create_alias(&AliasRecord {
                            account_id: seed.account_id.clone(),
                            region: seed.region.clone(),
                            alias_name: alias.clone(),
                            target_key_id: key_id.clone(),
                            created_at: now,
                            updated_at: now,
                        })
                        .await
                        .map_err(store_error("making an alias"))?;
                    report.aliases += 1;
                }
            }
        }
        Ok(())
    }

    async fn seed_new_key(
        &self,
        seed: &SeedKey,
        region: &Region,
        kind: KeyKind,
        tags: &[Tag],
    ) -> Result<(), String> {
        let policy_text = seed
            .policy
            .clone()
            .unwrap_or_else(|| trent_policy::default_key_policy(&seed.account_id));
        let _: Arc<Policy> = Arc::new(
            Policy::parse(&policy_text, PolicyKind::KeyPolicy)
                .map_err(|e| format!("the policy: {e}"))?,
        );
        let backend = self.local_backend();
        let generated = match &seed.material {
            Some(material) => backend.given(kind, material).map_err(|_| {
                format!(
                    "the material is not key material of {} (symmetric: 32 bytes; HMAC: raw bytes of the spec's length; key pairs: PKCS#8)",
                    seed.key_spec
                )
            })?,
            None => backend
                .generate(kind)
                .await
                .map_err(|e| format!("generating material: {e}"))?,
        };
        let account = trent_wire::AccountId::parse(&seed.account_id)
            .map_err(|_| format!("{:?} is not an account id", seed.account_id))?;
        let arn = new_key_arn(region, &account, &seed.id).map_err(|e| e.to_string())?;
        // Given material has the same material id wherever it is seeded, so that what one
        // server encrypts under it another decrypts (a ciphertext names its material):
        // SHA-256 over a label, the key id and the material (a 256-bit secret: its hash
        // reveals nothing usable). Generated material has a random id, as CreateKey's.
        let material_bytes = match &seed.material {
            Some(m) => trent_crypto::sha256(&[
                b"trent:seed-material-id:v1:",
                seed.id.as_bytes(),
                b":",
                m.expose(),
            ]),
            None => trent_crypto::random_array::<32>().map_err(|e| e.to_string())?,
        };
        let material_id = hex_encode(&material_bytes);
        let now = self.clock.now_millis();
        let mut tag_list = Vec::new();
        crate::ops::common::merge_tags(&mut tag_list, tags).map_err(|e| e.to_string())?;
        let record = KeyRecord {
            key_id: seed.id.clone(),
            account_id: account.clone(),
            region: region.clone(),
            arn: arn.clone(),
            version: 1,
            created_at: now,
            description: seed.description.clone(),
            key_spec: seed.key_spec,
            key_usage: seed.key_usage,
            origin: OriginType::AwsKms,
            state: if seed.enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            },
            key_manager: KeyManagerType::Customer,
            custom_key_store_id: None,
            xks_key_id: None,
            deletion_date: None,
            pending_deletion_window_days: None,
            current_material_id: Some(material_id.clone()),
            multi_region: false,
            mrk_id: None,
            primary_region: None,
            tags: tag_list,
            policy: policy_text,
        };
        let material = MaterialRecord {
            key_id: seed.id.clone(),
            sealed: backend
                .store_form(&arn, &material_id, &generated)
                .map_err(|e| e.to_string())?,
            material_id,
            created_at: now,
        };
        let mut create = Transaction::new("seed_key");
        create.insert_key(record).add_material(material);
        if let Some(days) = seed.rotation_period_days {
            create.push(trent_store::Write::SetRotationSchedule(RotationSchedule {
                key_id: seed.id.clone(),
                enabled: true,
                period_days: days,
                next_rotation_at: Some(now + i64::from(days) * DAY_MS),
            }));
        }
        for alias in &seed.aliases {
            create.push(trent_store::Write::InsertAlias(AliasRecord {
                account_id: seed.account_id.clone(),
                region: seed.region.clone(),
                alias_name: alias.clone(),
                target_key_id: seed.id.clone(),
                created_at: now,
                updated_at: now,
            }));
        }
        match self.store.transact(&create).await {
            Ok(_) => Ok(()),
            Err(StoreError::AlreadyExists) => Err(
                "an alias of the entry names another key already (or the key id was taken meanwhile)"
                    .into(),
            ),
            Err(e) => Err(format!("making the key: {e}")),
        }
    }
}
