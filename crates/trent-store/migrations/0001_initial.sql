-- Trent store schema, version 1.
--
-- Every backend runs these files unchanged, so they are written in the common subset of
-- SQLite and PostgreSQL:
--   * integers and times (Unix milliseconds) are BIGINT (INTEGER affinity in SQLite);
--   * booleans are BIGINT 0/1 guarded by a CHECK (both engines accept it as is);
--   * bytes are BYTEA. PostgreSQL has no BLOB; SQLite has no BYTEA but accepts any type
--     name, gives this one NUMERIC affinity, and never converts BLOB values stored under
--     that affinity (https://www.sqlite.org/datatype3.html#type_affinity), so the sealed
--     bytes come back exactly as written. The SQLite conformance suite checks it.
--   * every key column is NOT NULL explicitly: SQLite would otherwise allow NULL in a
--     non-INTEGER PRIMARY KEY (https://www.sqlite.org/lang_createtable.html#the_primary_key).
-- Ordering is byte order of UTF-8 text: SQLite's default BINARY collation; the PostgreSQL
-- backend must order with COLLATE "C" in its queries to agree with it.

-- Deployment metadata (e.g. the root key's check value). Set once, never updated.
CREATE TABLE meta (
    name  TEXT NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE keys (
    key_id                       TEXT NOT NULL PRIMARY KEY,
    account_id                   TEXT NOT NULL,
    region                       TEXT NOT NULL,
    arn                          TEXT NOT NULL,
    version                      BIGINT NOT NULL,
    created_at                   BIGINT NOT NULL,
    description                  TEXT NOT NULL,
    key_spec                     TEXT NOT NULL,
    key_usage                    TEXT NOT NULL,
    origin                       TEXT NOT NULL,
    state                        TEXT NOT NULL,
    deletion_date                BIGINT,
    pending_deletion_window_days BIGINT,
    current_material_id          TEXT NOT NULL,
    multi_region                 BIGINT NOT NULL CHECK (multi_region IN (0, 1))
);

-- ListKeys: one account and region, in key id order, paged by key id.
CREATE INDEX keys_by_account_region ON keys (account_id, region, key_id);

-- Tags keep the order in which they were first set (`position`, 0-based), and a tag key
-- appears at most once per KMS key.
CREATE TABLE key_tags (
    key_id    TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key),
    UNIQUE (key_id, position)
);

-- Every version of a key's material, sealed under the root key. `seq` (1, 2, ... per key)
-- records the order in which versions were added: creation times can tie (a frozen test
-- clock, two rotations in one millisecond), the order must not.
CREATE TABLE key_materials (
    key_id      TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
    material_id TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    sealed      BYTEA NOT NULL,
    PRIMARY KEY (key_id, material_id),
    UNIQUE (key_id, seq)
);

-- Aliases are unique per account and region. The target is not a foreign key: the key
-- service decides which keys an alias may point at, the store only records it.
CREATE TABLE aliases (
    account_id    TEXT NOT NULL,
    region        TEXT NOT NULL,
    alias_name    TEXT NOT NULL,
    target_key_id TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, region, alias_name)
);

-- ListAliases with a KeyId filter, and finding the aliases of a key.
CREATE INDEX aliases_by_target ON aliases (target_key_id);

-- Access keys of principals; the secret is sealed under the root key.
CREATE TABLE access_keys (
    access_key_id TEXT NOT NULL PRIMARY KEY,
    account_id    TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    status        TEXT NOT NULL
);
