//! One file per AWS KMS operation, each an `impl KeyService` block with the handler named
//! after the operation. Every handler takes the authenticated [`crate::Caller`] and the
//! decoded request, and follows AWS's documented key-state rules:
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html>

mod cancel_key_deletion;
mod connect_custom_key_store;
pub(crate) mod create_alias;
mod create_custom_key_store;
mod create_grant;
mod create_key;
mod decrypt;
mod delete_alias;
mod delete_custom_key_store;
mod delete_imported_key_material;
mod derive_shared_secret;
mod describe_custom_key_stores;
mod describe_key;
mod disable_key;
mod disable_key_rotation;
mod disconnect_custom_key_store;
mod enable_key;
mod enable_key_rotation;
mod encrypt;
mod generate_data_key;
mod generate_data_key_pair;
mod generate_data_key_pair_without_plaintext;
mod generate_data_key_without_plaintext;
mod generate_mac;
mod generate_random;
mod get_key_last_usage;
mod get_key_policy;
mod get_key_rotation_status;
mod get_parameters_for_import;
mod get_public_key;
mod import_key_material;
mod list_aliases;
mod list_grants;
mod list_key_policies;
mod list_key_rotations;
mod list_keys;
mod list_resource_tags;
mod list_retirable_grants;
mod put_key_policy;
mod re_encrypt;
mod replicate_key;
mod retire_grant;
mod revoke_grant;
mod rotate_key_on_demand;
mod schedule_key_deletion;
mod sign;
mod tag_resource;
mod untag_resource;
mod update_alias;
mod update_custom_key_store;
mod update_key_description;
mod update_primary_region;
mod verify;
mod verify_mac;

pub(crate) mod common;
mod mac;
mod signing;
