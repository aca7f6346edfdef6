//! Copying an SQLite deployment into an empty PostgreSQL database (`trent migrate-store`),
//! so that a deployment that started on one machine moves to a cluster as it is: every
//! record, every material version and every sealed byte verbatim. Nothing is unsealed or
//! re-encrypted (this crate cannot: it never sees the root key), so the nodes of the
//! cluster must be given the same root key file.
//!
//! Multi-Region keys (migration 0007) need nothing more: each region-key is a key row of
//! its own (its `mrk_id` and `primary_region` columns travel with the row through
//! `create_key`), with its own materials, rotations, schedule (the primary's), grants and
//! aliases, each copied like those of any key.

use crate::{GrantLimits, PostgresStore, SqliteStore, Store, StoreError};

/// Copied grants are not subject to quotas again: they were within them when created.
const NO_LIMITS: GrantLimits = GrantLimits {
    per_key: u32::MAX,
    per_grantee_per_key: u32::MAX,
};

/// What was copied: (meta entries, keys, material versions, aliases, access keys), each
/// checked equal in source and target at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyReport {
    pub meta: i64,
    pub keys: i64,
    pub materials: i64,
    pub aliases: i64,
    pub access_keys: i64,
}

/// Why a copy was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target database already holds Trent data; migrate-store only writes into an empty one"
    )]
    TargetNotEmpty,
    #[error("the copy is incomplete: source has {source_counts:?}, target has {target_counts:?} (meta, keys, materials, aliases, access keys)")]
    CountMismatch {
        source_counts: [i64; 5],
        target_counts: [i64; 5],
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Copies everything from `source` into the empty `target`. The target's writes are the
/// ordinary, durable store writes; if the copy fails half-way, the target is left
/// non-empty and must be emptied (e.g. dropped and re-created) before trying again.
pub async fn copy_sqlite_to_postgres(
    source: &SqliteStore,
    target: &PostgresStore,
) -> Result<CopyReport, CopyError> {
    if !target.is_empty().await? {
        return Err(CopyError::TargetNotEmpty);
    }
    for (name, value) in source.all_meta().await? {
        target.init_meta(&name, &value).await?;
    }
    // Custom key stores before their keys (migration 0009), verbatim: state, version and
    // sealed secret as they are.
    let custom_key_stores = source.all_custom_key_stores().await?;
    for custom_key_store in &custom_key_stores {
        target.create_custom_key_store(custom_key_store).await?;
    }
    if target.all_custom_key_stores().await? != custom_key_stores {
        return Err(StoreError::Corrupt {
            what: "the custom key stores differ after the copy".into(),
        }
        .into());
    }
    for key_id in source.all_key_ids().await? {
        let Some(key) = source.key(&key_id).await? else {
            return Err(StoreError::Corrupt {
                what: format!("key {key_id} vanished during the copy"),
            }
            .into());
        };
        let materials = source.materials(&key_id).await?;
        // A key with imported key material has its materials in `imported_materials`
        // instead (migration 0006), checked equal below.
        let imported = source.imported_materials(&key_id).await?;
        let (first, rest) = match materials.split_first() {
            Some((first, rest)) => (Some(first), rest),
            None if key.current_material_id.is_none()
                || imported
                    .iter()
                    .any(|m| Some(&m.material_id) == key.current_material_id.as_ref()) =>
            {
                (None, &[][..])
            }
            None => {
                return Err(StoreError::Corrupt {
                    what: format!("key {key_id} has no material"),
                }
                .into())
            }
        };
        // The key keeps its version: the stored version is the record's.
        target.create_key(&key, first).await?;
        for material in rest {
            target.add_material(material).await?;
        }
        // Its imported materials, sealed bytes verbatim, in their order (migration 0006).
        target.import_imported_materials(&imported).await?;
        if target.imported_materials(&key_id).await? != imported {
            return Err(StoreError::Corrupt {
                what: format!("the imported materials of key {key_id} differ after the copy"),
            }
            .into());
        }
        // Its rotation schedule and history, and its last usage (migration 0005).
        let (schedule, rotations, usage) = source.key_time_records(&key_id).await?;
        target
            .import_key_time_records(schedule.as_ref(), &rotations, usage.as_ref())
            .await?;
        // The key's grants, with their ids (their tokens stay valid: the token key is a
        // meta entry, copied above).
        let grants = source.list_grants(&key_id, None, None, u32::MAX).await?;
        for grant in &grants {
            target.create_grant(grant, NO_LIMITS).await?;
        }
        let copied = target.list_grants(&key_id, None, None, u32::MAX).await?;
        if copied != grants {
            return Err(StoreError::Corrupt {
                what: format!("the grants of key {key_id} differ after the copy"),
            }
            .into());
        }
    }
    for alias in source.all_aliases().await? {
        target.create_alias(&alias).await?;
    }
    for access_key in source.access_keys().await? {
        target.put_access_key(&access_key).await?;
    }
    let (source_counts, target_counts) = (source.counts().await?, target.counts().await?);
    if source_counts != target_counts {
        return Err(CopyError::CountMismatch {
            source_counts,
            target_counts,
        });
    }
    let [meta, keys, materials, aliases, access_keys] = target_counts;
    Ok(CopyReport {
        meta,
        keys,
        materials,
        aliases,
        access_keys,
    })
}
