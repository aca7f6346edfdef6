//! trent-core
