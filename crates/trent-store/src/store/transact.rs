//! [`Store::transact`](crate::Store::transact): a [`Transaction`]'s writes in one database
//! transaction, from the building blocks of the parent and its siblings.
//!
//! A transaction that version-checks several keys first locks all of them in one order
//! ([`Dialect::lock_keys`]), so that two such transactions on other nodes wait for each
//! other instead of deadlocking. The changes it makes are collected ([`OnCommit`]) and
//! announced with its commit.

use super::{check_tags, invalid, query, SqlStore};
use crate::sql::Dialect;
use crate::transaction::{Committed, Transaction, Write};
use crate::{Change, StoreError};

/// What a write transaction will announce on the change feed once it commits (Garage's
/// `on_commit`): each write notes what it changed here instead of announcing it, and
/// [`SqlStore::commit_announcing`] hands the list, once each, to [`Dialect::notify`] with
/// the commit, so that a change is announced iff its transaction committed.
#[derive(Debug, Default)]
pub(crate) struct OnCommit(Vec<Change>);

impl OnCommit {
    /// What a write of one change announces.
    pub(crate) fn of(change: Change) -> Self {
        OnCommit(vec![change])
    }

    pub(crate) fn announce(&mut self, change: Change) {
        if !self.0.contains(&change) {
            self.0.push(change);
        }
    }

    pub(crate) fn key(&mut self, key_id: &str) {
        self.announce(Change::Key(key_id.to_owned()));
    }
}

/// Refuses a transaction that breaks an invariant, before anything is written: duplicate
/// tag keys; a write that adds to a key no earlier write of the transaction holds (the
/// version check or creation that serializes it with the key's other writers); a new key
/// whose current material is not written with it.
fn check(t: &Transaction) -> Result<(), StoreError> {
    let mut held: Vec<&str> = Vec::new();
    let holds = |held: &[&str], key_id: &str| -> Result<(), StoreError> {
        if held.contains(&key_id) {
            Ok(())
        } else {
            Err(invalid("a write to a key the transaction does not hold"))
        }
    };
    for w in t.writes() {
        match w {
            Write::UpdateKey(k) | Write::InsertKey(k) => {
                check_tags(&k.tags)?;
                held.push(&k.key_id);
            }
            Write::BumpVersion { key_id, .. } => held.push(key_id),
            Write::DeleteKey { .. } => {}
            Write::AddMaterial(m) => holds(&held, &m.key_id)?,
            Write::RecordRotation(r) => holds(&held, &r.key_id)?,
            Write::MoveNextRotation { key_id, .. } => holds(&held, key_id)?,
            Write::PutImportedMaterial(m) => holds(&held, &m.key_id)?,
            Write::SetRotationSchedule(schedule) => holds(&held, &schedule.key_id)?,
            Write::InsertAlias(alias) => holds(&held, &alias.target_key_id)?,
            Write::MoveRotationSchedule { from, to } => {
                holds(&held, from)?;
                holds(&held, to)?;
            }
        }
    }
    for w in t.writes() {
        let Write::InsertKey(k) = w else { continue };
        let Some(current) = &k.current_material_id else {
            continue;
        };
        let written = t.writes().iter().any(|w| match w {
            Write::AddMaterial(m) => m.key_id == k.key_id && &m.material_id == current,
            Write::PutImportedMaterial(m) => m.key_id == k.key_id && &m.material_id == current,
            _ => false,
        });
        if !written {
            return Err(invalid(
                "a new key's current material is not written with it",
            ));
        }
    }
    Ok(())
}

impl<D: Dialect> SqlStore<D> {
    /// Announces what `on_commit` collected, then commits: PostgreSQL delivers the
    /// notifications iff the commit succeeds.
    pub(super) async fn commit_announcing(
        mut tx: D::Tx,
        on_commit: OnCommit,
    ) -> Result<(), StoreError> {
        for change in &on_commit.0 {
            D::notify(&mut tx, change).await?;
        }
        Self::commit(tx).await
    }

    pub(super) async fn run_transaction(&self, t: &Transaction) -> Result<Committed, StoreError> {
        check(t)?;
        let mut committed = Committed::default();
        if t.is_empty() {
            return Ok(committed);
        }
        let mut tx = self.db.begin_write().await?;
        let mut on_commit = OnCommit::default();
        let mut checked: Vec<&str> = Vec::new();
        for w in t.writes() {
            let key_id = match w {
                Write::UpdateKey(k) => &k.key_id,
                Write::BumpVersion { key_id, .. } | Write::DeleteKey { key_id, .. } => key_id,
                _ => continue,
            };
            if !checked.contains(&key_id.as_str()) {
                checked.push(key_id);
            }
        }
        if checked.len() > 1 {
            D::lock_keys(&mut tx, &checked).await?;
        }
        // Nothing is written on an error: the transaction is dropped, which rolls it back.
        for w in t.writes() {
            match w {
                Write::UpdateKey(k) => {
                    committed.stored(Self::update_key_in(&mut tx, k, &mut on_commit).await?);
                }
                Write::InsertKey(k) => {
                    Self::insert_key(&mut tx, k, &mut on_commit).await?;
                    committed.set_version(&k.key_id, k.version);
                }
                Write::BumpVersion {
                    key_id,
                    version,
                    current_material_id,
                } => {
                    let v = Self::bump_version(
                        &mut tx,
                        key_id,
                        *version,
                        current_material_id.as_deref(),
                    )
                    .await?;
                    committed.set_version(key_id, v);
                    on_commit.key(key_id);
                }
                Write::AddMaterial(m) => {
                    Self::append_material(&mut tx, m).await?;
                    on_commit.key(&m.key_id);
                }
                Write::RecordRotation(r) => {
                    Self::insert_rotation(&mut tx, r).await?;
                    on_commit.key(&r.key_id);
                }
                Write::MoveNextRotation {
                    key_id,
                    next_rotation_at,
                } => {
                    query(
                        "UPDATE key_rotation_schedules SET next_rotation_at = $1 \
                         WHERE key_id = $2",
                    )
                    .bind(*next_rotation_at)
                    .bind(key_id)
                    .execute(&mut tx)
                    .await
                    .map_err(D::backend)?;
                    on_commit.key(key_id);
                }
                Write::PutImportedMaterial(m) => {
                    Self::upsert_imported(&mut tx, m).await?;
                    on_commit.key(&m.key_id);
                }
                Write::MoveRotationSchedule { from, to } => {
                    if from != to {
                        query("DELETE FROM key_rotation_schedules WHERE key_id = $1")
                            .bind(to)
                            .execute(&mut tx)
                            .await
                            .map_err(D::backend)?;
                        query("UPDATE key_rotation_schedules SET key_id = $1 WHERE key_id = $2")
                            .bind(to)
                            .bind(from)
                            .execute(&mut tx)
                            .await
                            .map_err(Self::write_error)?;
                    }
                    on_commit.key(from);
                    on_commit.key(to);
                }
                Write::DeleteKey { key_id, version } => {
                    Self::delete_in(&mut tx, key_id, *version, &mut on_commit).await?;
                }
                Write::SetRotationSchedule(schedule) => {
                    Self::put_schedule_in(&mut tx, schedule).await?;
                    on_commit.key(&schedule.key_id);
                }
                Write::InsertAlias(alias) => {
                    Self::insert_alias_in(&mut tx, alias, &mut on_commit).await?;
                }
            }
        }
        Self::commit_announcing(tx, on_commit).await?;
        Ok(committed)
    }
}
