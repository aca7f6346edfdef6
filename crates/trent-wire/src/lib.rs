//! trent-wire
