-- Trent store schema, version 7: multi-Region keys
-- (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html).
--
-- A multi-Region key is one key id (`mrk-` + 32 hex) in several regions: a primary and
-- its replicas, each a key of its own (own policy, state, tags, grants, aliases) in its
-- own region. Each of them is a row of `keys`, whose `key_id` must stay unique across the
-- store, so the key service gives each region-key its own storage id; `mrk_id` is the
-- shared public id, the same in every row of one multi-Region key, and NULL for a
-- single-Region key. `primary_region` is the region of the primary key, also the same in
-- every row (UpdatePrimaryRegion rewrites them all in one transaction), NULL for a
-- single-Region key.
--
-- Nothing is rewritten: keys created before this version are single-Region (their
-- `multi_region` is 0), and both columns are NULL for them.
ALTER TABLE keys ADD COLUMN mrk_id TEXT;
ALTER TABLE keys ADD COLUMN primary_region TEXT;

-- Every region-key of a multi-Region key (DescribeKey's MultiRegionConfiguration,
-- ReplicateKey, rotation, UpdatePrimaryRegion, deletion of the primary).
CREATE INDEX keys_by_mrk_id ON keys (mrk_id, region);
