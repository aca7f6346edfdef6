-- Trent store schema, version 6: keys with imported key material (Origin EXTERNAL, BYOK).
--
-- Such a key is created without material: its `keys.current_material_id` is the empty
-- string until its first import (the column stays NOT NULL, as SQLite cannot relax a
-- constraint in place; the store reads '' as "no current material", `KeyRecord::
-- current_material_id == None`, and writes None as ''). KMS-made keys always have one.
--
-- Its materials live here, not in `key_materials`: an imported material outlives its
-- bytes (DeleteImportedKeyMaterial and expiry destroy the sealed bytes, the material
-- stays known by its id, description and rotation until the same material is imported
-- again), which `key_materials.sealed NOT NULL` cannot express.
--
-- `material_id` is 64 hex digits derived from the key id and the material (the same
-- material always gets the same id on a key). `seq` (1, 2, ... per key) orders the
-- materials by first import. `sealed` is the material sealed under the root key, NULL
-- while it is not imported (deleted or expired: the bytes are gone, not flagged).
-- `expiration_model` (`KEY_MATERIAL_EXPIRES` / `KEY_MATERIAL_DOES_NOT_EXPIRE`) and
-- `valid_to` (Unix milliseconds) are those of the last import, NULL while not imported.
-- `rotated_at` / `rotation_type` record the RotateKeyOnDemand that made it current (NULL
-- for the first material and for one still pending rotation).
CREATE TABLE imported_materials (
    key_id           TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
    material_id      TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    description      TEXT,
    expiration_model TEXT,
    valid_to         BIGINT,
    sealed           BYTEA,
    rotated_at       BIGINT,
    rotation_type    TEXT,
    PRIMARY KEY (key_id, material_id),
    UNIQUE (key_id, seq)
);

-- The expiry job: imported materials whose ValidTo has passed.
CREATE INDEX imported_materials_by_valid_to ON imported_materials (valid_to);
