-- Trent store schema, version 8: where a key lives, as data of its record.
--
-- `key_manager` is KeyMetadata.KeyManager (`CUSTOMER` or `AWS`,
-- https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html): every key
-- Trent created so far is a customer managed key. `custom_key_store_id` is
-- KeyMetadata.CustomKeyStoreId, NULL for a key of the default key store (every key so far).
--
-- Nothing is rewritten: the defaults are what every existing key is.
ALTER TABLE keys ADD COLUMN key_manager TEXT NOT NULL DEFAULT 'CUSTOMER';
ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT;
