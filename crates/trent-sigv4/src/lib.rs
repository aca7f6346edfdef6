//! trent-sigv4
