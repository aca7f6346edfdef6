//! Multi-node tests: several `trent` processes on one PostgreSQL database, the official AWS
//! SDK talking to each. They check what a cluster promises (DESIGN.md, "Guarantees"): a
//! change made through one node takes effect on the others (measured, printed as
//! `PROPAGATION ...`), concurrent writers through different nodes lose nothing, a node
//! killed under load loses no acknowledged write, a database crash makes nodes answer
//! AWS's retryable errors (never a wrong answer) until they recover by themselves, and an
//! SQLite deployment moves to PostgreSQL intact.
//!
//! They need `TRENT_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`):
//! without it each test prints that it was skipped and passes. Each test runs on a fresh
//! database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod node;

mod audit;
mod crash;
mod import;
mod migrate;
mod propagation;
