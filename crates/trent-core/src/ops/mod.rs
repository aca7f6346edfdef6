//! One file per AWS KMS operation, each an `impl KeyService` block with the handler named
//! after the operation. Every handler takes the authenticated [`crate::Caller`] and the
//! decoded request, and follows AWS's documented key-state rules:
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html>

mod cancel_key_deletion;
mod create_alias;
mod create_grant;
mod create_key;
mod decrypt;
mod delete_alias;
mod derive_shared_secret;
mod describe_key;
mod disable_key;
mod enable_key;
mod encrypt;
mod generate_data_key;
mod generate_data_key_pair;
mod generate_data_key_pair_without_plaintext;
mod generate_data_key_without_plaintext;
mod generate_mac;
mod generate_random;
mod get_public_key;
mod list_aliases;
mod list_grants;
mod list_keys;
mod list_resource_tags;
mod list_retirable_grants;
mod re_encrypt;
mod retire_grant;
mod revoke_grant;
mod schedule_key_deletion;
mod sign;
mod tag_resource;
mod untag_resource;
mod update_alias;
mod update_key_description;
mod verify;
mod verify_mac;

mod common;
mod mac;
mod signing;
