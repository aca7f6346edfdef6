-- Trent store schema, version 11: the number of customer managed keys per account and
-- region, kept by every key insert and delete in the same transaction, so that the key
-- quota's check (on every CreateKey and ReplicateKey) reads a few small rows instead of
-- counting the account's keys: that count read every key row, 240 ms on SQLite at 90,000
-- keys, and grew with them. Split into shards by the key id's last character (16 of them
-- for the random hex of key ids) so that concurrent CreateKey calls in one account rarely
-- wait on the same row; a key is counted, and later uncounted, in its own shard.
CREATE TABLE key_counts (
    account_id    TEXT NOT NULL,
    region        TEXT NOT NULL,
    shard         TEXT NOT NULL,
    customer_keys BIGINT NOT NULL,
    PRIMARY KEY (account_id, region, shard)
);

INSERT INTO key_counts (account_id, region, shard, customer_keys)
SELECT account_id, region, substr(key_id, length(key_id), 1), COUNT(*)
FROM keys
WHERE key_manager = 'CUSTOMER'
GROUP BY account_id, region, substr(key_id, length(key_id), 1);
