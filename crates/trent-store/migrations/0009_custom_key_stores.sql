-- Trent store schema, version 9: custom key stores
-- (https://docs.aws.amazon.com/kms/latest/APIReference/API_CustomKeyStoresListEntry.html).
--
-- One row per custom key store of an account and region; its name is unique there. The
-- store's secret (an AWS_CLOUDHSM store's KeyStorePassword: the token's user PIN; an
-- EXTERNAL_KEY_STORE store's XKS proxy secret access key) is sealed under the root key,
-- never stored in the clear. `connection_state` is the store's ConnectionState, shared by
-- every node; `connection_error_code` its ConnectionErrorCode while FAILED. `version` is
-- the optimistic-concurrency version (1 when created).
CREATE TABLE custom_key_stores (
    custom_key_store_id                  TEXT NOT NULL PRIMARY KEY,
    account_id                           TEXT NOT NULL,
    region                               TEXT NOT NULL,
    name                                 TEXT NOT NULL,
    store_type                           TEXT NOT NULL,
    cloud_hsm_cluster_id                 TEXT,
    trust_anchor_certificate             TEXT,
    sealed_secret                        BYTEA,
    xks_proxy_uri_endpoint               TEXT,
    xks_proxy_uri_path                   TEXT,
    xks_proxy_connectivity               TEXT,
    xks_proxy_vpc_endpoint_service_name  TEXT,
    xks_proxy_vpc_endpoint_service_owner TEXT,
    xks_proxy_access_key_id              TEXT,
    connection_state                     TEXT NOT NULL,
    connection_error_code                TEXT,
    created_at                           BIGINT NOT NULL,
    version                              BIGINT NOT NULL,
    UNIQUE (account_id, region, name)
);
CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id);
