//! Issue 13: see security/mod.rs.
