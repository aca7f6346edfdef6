//! Fail closed (issue 13): one module per item of the review, each test a regression that
//! failed on the main of before the fix, through the real server.

mod audit_bounds;
mod crypto_hygiene;
mod dev_switches;
mod principals;
mod signatures;
mod smaller_holes;
mod write_ahead;
