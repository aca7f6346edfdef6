-- Trent store schema, version 10: the external key of a KMS key in an external key store
-- (KeyMetadata.XksKeyConfiguration.Id, CreateKey's XksKeyId): the key's id in its external
-- key manager, behind the store's XKS proxy. NULL for every other key (every key so far).
ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
