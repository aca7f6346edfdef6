//! Integration tests of the `trent` server: the real binary on `127.0.0.1:0`, driven by the
//! official AWS SDK for Rust (`aws-sdk-kms`) and by raw SigV4-signed HTTP for requests the
//! SDK would never send.
//!
//! The expectations come from AWS KMS's documented behaviour (the service model's
//! documentation in `model/aws-kms-model/service-2.json` and the AWS docs), not from the
//! implementation. One test binary with modules keeps link time down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod aliases;
mod asymmetric_encryption;
mod audit;
mod audit_archive;
mod authorization;
mod aws_cli;
mod aws_managed_keys;
mod backup;
mod console;
mod crypto;
mod custom_key_stores;
mod deletion;
mod dev_credentials;
mod dry_run;
mod error_paths;
mod global_keys;
mod grants;
mod harness;
mod identities;
mod import;
mod interop;
mod isolation;
mod key_policies;
mod key_specs;
mod keys;
mod last_usage;
mod mac_and_agreement;
mod multi_region;
mod multi_region_import;
mod persistence;
mod protocol;
mod quotas;
mod rotation;
mod security;
mod seed;
mod services;
mod signing;
mod sts;
mod tags;
mod test_clock;
mod test_reset;
mod tls;
mod traces;
