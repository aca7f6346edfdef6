//! trent-crypto
