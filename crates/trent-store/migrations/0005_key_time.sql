-- Trent store schema, version 5: keys over time. Automatic rotation schedules, the
-- history of rotations, and the last cryptographic use of each key.
--
-- Every table hangs off `keys` and goes with its key: `Store::delete_key` deletes the key
-- row, which cascades to these (SQLite runs with foreign_keys=ON), except
-- `key_last_usage`, which is written in batches that may arrive after the key is gone and
-- so holds no foreign key (the batch skips keys that no longer exist; delete_key deletes
-- its row explicitly).

-- A key's automatic rotation: `enabled` 0/1, the period in days (90-2560, kept when
-- rotation is disabled so that re-enabling without a period keeps AWS's default), and
-- when the next automatic rotation is due (Unix milliseconds; NULL while disabled).
CREATE TABLE key_rotation_schedules (
    key_id           TEXT NOT NULL PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
    enabled          BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    period_days      BIGINT NOT NULL,
    next_rotation_at BIGINT
);

-- The rotation job: enabled schedules whose next rotation is due.
CREATE INDEX key_rotation_schedules_due ON key_rotation_schedules (enabled, next_rotation_at);

-- Completed rotations: the material each one made current, when, and how (`AUTOMATIC` or
-- `ON_DEMAND`). The material's `seq` in key_materials orders them.
CREATE TABLE key_rotations (
    key_id        TEXT NOT NULL,
    material_id   TEXT NOT NULL,
    rotated_at    BIGINT NOT NULL,
    rotation_type TEXT NOT NULL,
    PRIMARY KEY (key_id, material_id),
    FOREIGN KEY (key_id, material_id) REFERENCES key_materials (key_id, material_id)
        ON DELETE CASCADE
);

-- The deletion job: keys whose deletion date has passed.
CREATE INDEX keys_by_deletion_date ON keys (deletion_date);

-- The last successful cryptographic use of each key (GetKeyLastUsage), flushed in
-- batches from memory: `operation` is the wire name (Encrypt, Decrypt, ...), `used_at`
-- Unix milliseconds, with the audit event id and request id of that call.
CREATE TABLE key_last_usage (
    key_id     TEXT NOT NULL PRIMARY KEY,
    operation  TEXT NOT NULL,
    used_at    BIGINT NOT NULL,
    event_id   TEXT,
    request_id TEXT
);
