-- Trent store schema, version 2: named leases, so that a background job (rotation,
-- deletion, import expiry) runs on exactly one node of a cluster at a time.
--
-- A lease is held by `holder` until `expires_at` (Unix milliseconds, by the store's clock:
-- the database server's for PostgreSQL); the holder renews it before then, and anyone may
-- take it over once it has expired.
CREATE TABLE leases (
    name       TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
