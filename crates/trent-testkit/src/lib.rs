//! The test kit: what every test suite of the workspace needs to run Trent for real, in one
//! place.
//!
//! - [`process`]: the one harness that starts the `trent` binary (`trent serve` on
//!   `127.0.0.1:0`, ready once it prints its listening line, never after a fixed sleep), stops,
//!   kills or signals it, keeps its stderr for failure messages, and runs starts that must
//!   be refused. [`server::TestServer`] (one node on a private data directory) and
//!   [`cluster::Node`] (nodes sharing a PostgreSQL database) are built on it.
//! - [`postgres`]: a fresh schema or database per test from `TRENT_TEST_POSTGRES_URL`,
//!   dropped afterwards, and a private PostgreSQL server a test may crash.
//! - [`sdk`]: the `aws-sdk-kms` client builder (static credentials, no retries, bounded
//!   timeouts) and the helpers that read its errors; [`server`] also signs raw requests for
//!   what the SDK would never send.
//! - [`aws_cli`]: the AWS CLI's command, isolated from the machine's AWS configuration.
//! - [`services`]: an S3-like service that calls Trent on its callers' behalf (SSE-KMS
//!   through forwarded requests), and the forwarded-request header.
//! - [`xks`]: the XKS proxy API driven with `curl --aws-sigv4`, as AWS's XKS test client
//!   does.
//! - [`otlp`]: an OTLP/HTTP traces endpoint that keeps the spans it is sent.
//! - [`tls`]: TLS files (a private CA, server and client certificates) made with
//!   `openssl`.
//! - [`browser`]: headless Chromium driven over WebDriver (Debian's `chromium` through
//!   its `chromedriver`, one of each per test), with helpers that wait for what they act on.
//!
//! It is a dev-dependency only (`publish = false`) and must never become a dependency of a
//! production crate. A test fails by panicking, so this crate panics where a test would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod aws_cli;
pub mod browser;
pub mod cluster;
pub mod otlp;
pub mod postgres;
pub mod process;
pub mod sdk;
pub mod server;
pub mod services;
pub mod softhsm;
pub mod tls;
pub mod xks;
