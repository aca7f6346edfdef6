-- Trent store schema, version 4: grants (CreateGrant), one row per grant.
--
-- A grant belongs to one key and goes with it (ON DELETE CASCADE). The grant id is
-- 64 hex digits, random, unique across the store (RetireGrant by token alone finds it, and
-- ListRetirableGrants pages across keys by it). The grant token is not stored: it is a
-- MAC over the grant id made by the key service, and verified, never looked up.
--
-- `operations` is the grant's operations joined with ',' (operation names hold none);
-- `constraint_equals` / `constraint_subset` are the EncryptionContextEquals / Subset pairs
-- in the store's own escaped `key=value&key=value` form, NULL when the grant has no such
-- constraint. `name` is NULL when CreateGrant had no Name; names are not unique (AWS returns
-- the existing grant only for a retry with the same name AND the same parameters).
CREATE TABLE grants (
    grant_id           TEXT NOT NULL PRIMARY KEY,
    key_id             TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
    key_arn            TEXT NOT NULL,
    name               TEXT,
    grantee_principal  TEXT NOT NULL,
    retiring_principal TEXT,
    issuing_account    TEXT NOT NULL,
    operations         TEXT NOT NULL,
    constraint_equals  TEXT,
    constraint_subset  TEXT,
    created_at         BIGINT NOT NULL
);

-- ListGrants (one key, paged by grant id) and the key's grants for authorization.
CREATE INDEX grants_by_key ON grants (key_id, grant_id);
-- ListRetirableGrants (one retiring principal, paged by grant id).
CREATE INDEX grants_by_retiring_principal ON grants (retiring_principal, grant_id);
