//! Multi-record writes: a [`Transaction`] is the list of writes that [`Store::transact`]
//! makes in one database transaction, all of them or none.
//!
//! A write that changes several records (a rotation: the key's version, a material, the
//! rotation's history, the schedule; a multi-Region key's region-keys together; a replica
//! with everything it copies) is not a store method of its own: the key service lists the
//! writes, and the store runs the list with every version check in it. A `Conflict` or
//! `NotFound` anywhere, or a record that breaks an invariant ([`crate::InvalidRecord`]),
//! writes nothing. What the other nodes must forget is announced once the transaction
//! commits, and only then (Garage's `on_commit`): each write notes the records it
//! changes, and the list goes to the change feed with the commit.
//!
//! Why a list of writes and not a closure over an open transaction (Garage's
//! `transaction(|tx| ...)`): the store is shared as `Arc<dyn Store>`, and a trait object
//! cannot take a generic closure, nor hand out its database's transaction type; a closure
//! returning a boxed future over a boxed transaction could, but then nothing outside the
//! store could see what it will write. The write-ahead audit of the key service must name
//! a change before it is made (its intent lists the keys and key materials it changes), so
//! the writes have to be data it can read first: [`Transaction::keys`] and
//! [`Transaction::material_ids`]. Reads that decide a write happen before it, in the key
//! service's optimistic loop; the version checks in the list make them safe.
//!
//! [`Store::transact`]: crate::Store::transact

use crate::{
    AliasRecord, ImportedMaterialRecord, KeyRecord, MaterialRecord, RotationRecord,
    RotationSchedule,
};

/// One write of a [`Transaction`]. Writes run in the order they were added; those that
/// add to a key (its materials, rotations, schedule) must follow a write that holds the
/// key in the same transaction ([`Write::UpdateKey`], [`Write::InsertKey`] or
/// [`Write::BumpVersion`]), whose version check or creation serializes them with every
/// other writer of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// [`crate::Store::update_key`]: the key's fields and tags, iff its stored version is
    /// the record's; the version is bumped.
    UpdateKey(KeyRecord),
    /// A new key with its tags (its version as given); `AlreadyExists` if the id is taken.
    InsertKey(KeyRecord),
    /// Bumps the key's version iff it is `version`, making `current_material_id` (if
    /// given) its current material; nothing else of the key changes.
    BumpVersion {
        key_id: String,
        version: i64,
        current_material_id: Option<String>,
    },
    /// A material version added to its key with the next sequence number.
    AddMaterial(MaterialRecord),
    /// A completed rotation of its key (its material exists, or is added before it).
    RecordRotation(RotationRecord),
    /// Moves the next rotation of the key's schedule, if it has one.
    MoveNextRotation {
        key_id: String,
        next_rotation_at: i64,
    },
    /// An imported material of its key: a material id new to the key is added with the
    /// next `seq`; an existing one keeps its `seq` and `created_at` and takes every other
    /// field (NULL sealed bytes destroy the stored ones).
    PutImportedMaterial(ImportedMaterialRecord),
    /// Moves the rotation schedule of `from` (if it has one) to `to`, replacing any
    /// schedule `to` had.
    MoveRotationSchedule { from: String, to: String },
    /// [`crate::Store::delete_key`]: the key and everything of it, iff its stored version
    /// is `version`.
    DeleteKey { key_id: String, version: i64 },
    /// Sets the key's rotation schedule (a key the transaction holds; its version is not
    /// bumped again).
    SetRotationSchedule(RotationSchedule),
    /// [`crate::Store::create_alias`]: a new alias of a key the transaction holds;
    /// `AlreadyExists` if the name is taken in the account and region.
    InsertAlias(AliasRecord),
}

impl Write {
    /// The key this write changes.
    fn key_id(&self) -> &str {
        match self {
            Write::UpdateKey(k) | Write::InsertKey(k) => &k.key_id,
            Write::BumpVersion { key_id, .. }
            | Write::MoveNextRotation { key_id, .. }
            | Write::DeleteKey { key_id, .. } => key_id,
            Write::AddMaterial(m) => &m.key_id,
            Write::RecordRotation(r) => &r.key_id,
            Write::PutImportedMaterial(m) => &m.key_id,
            Write::MoveRotationSchedule { from, .. } => from,
            Write::SetRotationSchedule(s) => &s.key_id,
            Write::InsertAlias(a) => &a.target_key_id,
        }
    }
}

/// A named list of writes for [`crate::Store::transact`]. The name says what the
/// transaction is (`rotate_key`, `put_imported_materials`, ...): the write-ahead audit
/// records it as the intent's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    name: &'static str,
    writes: Vec<Write>,
}

impl Transaction {
    pub fn new(name: &'static str) -> Self {
        Transaction {
            name,
            writes: Vec::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Adds any write.
    pub fn push(&mut self, write: Write) -> &mut Self {
        self.writes.push(write);
        self
    }

    /// [`Write::UpdateKey`].
    pub fn update_key(&mut self, key: KeyRecord) -> &mut Self {
        self.push(Write::UpdateKey(key))
    }

    /// [`Write::InsertKey`].
    pub fn insert_key(&mut self, key: KeyRecord) -> &mut Self {
        self.push(Write::InsertKey(key))
    }

    /// [`Write::BumpVersion`] without changing the current material.
    pub fn bump_version(&mut self, key_id: &str, version: i64) -> &mut Self {
        self.push(Write::BumpVersion {
            key_id: key_id.to_owned(),
            version,
            current_material_id: None,
        })
    }

    /// [`Write::AddMaterial`].
    pub fn add_material(&mut self, material: MaterialRecord) -> &mut Self {
        self.push(Write::AddMaterial(material))
    }

    /// [`Write::RecordRotation`].
    pub fn record_rotation(&mut self, rotation: RotationRecord) -> &mut Self {
        self.push(Write::RecordRotation(rotation))
    }

    /// A rotation of a key, iff its stored version is `version`: adds `material`, makes it
    /// the current material (bumping the version), and records `rotation` of it.
    pub fn rotate_key(
        &mut self,
        version: i64,
        material: MaterialRecord,
        rotation: RotationRecord,
    ) -> &mut Self {
        self.push(Write::BumpVersion {
            key_id: material.key_id.clone(),
            version,
            current_material_id: Some(material.material_id.clone()),
        });
        self.add_material(material);
        self.record_rotation(rotation)
    }

    /// [`Write::MoveNextRotation`].
    pub fn move_next_rotation(&mut self, key_id: &str, next_rotation_at: i64) -> &mut Self {
        self.push(Write::MoveNextRotation {
            key_id: key_id.to_owned(),
            next_rotation_at,
        })
    }

    /// [`Write::PutImportedMaterial`].
    pub fn put_imported_material(&mut self, material: ImportedMaterialRecord) -> &mut Self {
        self.push(Write::PutImportedMaterial(material))
    }

    /// [`Write::MoveRotationSchedule`].
    pub fn move_rotation_schedule(&mut self, from: &str, to: &str) -> &mut Self {
        self.push(Write::MoveRotationSchedule {
            from: from.to_owned(),
            to: to.to_owned(),
        })
    }

    /// [`Write::DeleteKey`].
    pub fn delete_key(&mut self, key_id: &str, version: i64) -> &mut Self {
        self.push(Write::DeleteKey {
            key_id: key_id.to_owned(),
            version,
        })
    }

    /// Every key the transaction writes, once each, with its ARN where a write carries the
    /// key's record: first the keys it creates, then the others in the order of their
    /// first write.
    pub fn keys(&self) -> Vec<(&str, Option<&str>)> {
        let mut out: Vec<(&str, Option<&str>)> = Vec::new();
        let created = self.writes.iter().filter_map(|w| match w {
            Write::InsertKey(k) => Some(k),
            _ => None,
        });
        for k in created {
            if !out.iter().any(|(id, _)| *id == k.key_id) {
                out.push((&k.key_id, Some(&k.arn)));
            }
        }
        for w in &self.writes {
            let mut ids = vec![w.key_id()];
            if let Write::MoveRotationSchedule { to, .. } = w {
                ids.push(to);
            }
            let arn = match w {
                Write::UpdateKey(k) | Write::InsertKey(k) => Some(k.arn.as_str()),
                _ => None,
            };
            for id in ids {
                match out.iter_mut().find(|(known, _)| *known == id) {
                    Some((_, known_arn)) => *known_arn = known_arn.or(arn),
                    None => out.push((id, arn)),
                }
            }
        }
        out
    }

    /// The key materials the transaction adds or changes (plain and imported), once each,
    /// in order.
    pub fn material_ids(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for w in &self.writes {
            let id = match w {
                Write::AddMaterial(m) => &m.material_id,
                Write::PutImportedMaterial(m) => &m.material_id,
                _ => continue,
            };
            if !out.contains(&id.as_str()) {
                out.push(id);
            }
        }
        out
    }
}

/// What a committed [`Transaction`] wrote: the keys as stored and their new versions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    keys: Vec<KeyRecord>,
    versions: Vec<(String, i64)>,
}

impl Committed {
    /// The records of the transaction's [`Write::UpdateKey`]s as stored (identity and new
    /// version from the store), in the order of the writes.
    pub fn keys(&self) -> &[KeyRecord] {
        &self.keys
    }

    pub fn into_keys(self) -> Vec<KeyRecord> {
        self.keys
    }

    /// The version `key_id` has now, if the transaction updated, bumped or created it.
    pub fn version(&self, key_id: &str) -> Option<i64> {
        self.versions
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, v)| *v)
    }

    pub(crate) fn stored(&mut self, key: KeyRecord) {
        self.set_version(&key.key_id, key.version);
        self.keys.push(key);
    }

    pub(crate) fn set_version(&mut self, key_id: &str, version: i64) {
        match self.versions.iter_mut().find(|(id, _)| id == key_id) {
            Some((_, v)) => *v = version,
            None => self.versions.push((key_id.to_owned(), version)),
        }
    }
}
