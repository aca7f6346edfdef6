//! Request timestamps: the ISO 8601 basic format of `X-Amz-Date`
//! (`YYYYMMDD'T'HHMMSS'Z'`) and the RFC 1123 (IMF-fixdate) format of `Date`.
//!
//! Timestamps are whole seconds since the Unix epoch, UTC. The calendar
//! arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>): exact for the
//! proleptic Gregorian calendar, branch-light and allocation-free, which keeps
//! the per-request cost negligible.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of `YYYYMMDDTHHMMSSZ`.
pub(crate) const AMZ_DATE_LEN: usize = 16;

/// Seconds since the epoch of the earliest and latest instants that format as a
/// four-digit year (0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z).
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// A timestamp rendered in the ISO 8601 basic format AWS signs with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct AmzDate([u8; AMZ_DATE_LEN]);

impl AmzDate {
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits, 'T' and 'Z' are ever written.
        std::str::from_utf8(&self.0).unwrap_or("00000000T000000Z")
    }

    /// The `YYYYMMDD` date part, as used in the credential scope.
    pub(crate) fn date(&self) -> &str {
        &self.as_str()[..8]
    }
}

impl std::fmt::Display for AmzDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for AmzDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whole seconds since the epoch (floor), negative before 1970.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            // Floor, not truncation toward zero.
            if d.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// Formats `secs` (clamped to years 0000–9999) as `YYYYMMDDTHHMMSSZ`.
pub(crate) fn format_amz_date(secs: i64) -> AmzDate {
    let secs = secs.clamp(MIN_SECS, MAX_SECS);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = [0u8; AMZ_DATE_LEN];
    put_digits(&mut out[0..4], y);
    put_digits(&mut out[4..6], m);
    put_digits(&mut out[6..8], d);
    out[8] = b'T';
    put_digits(&mut out[9..11], sod / 3600);
    put_digits(&mut out[11..13], (sod % 3600) / 60);
    put_digits(&mut out[13..15], sod % 60);
    out[15] = b'Z';
    AmzDate(out)
}

/// Parses `YYYYMMDDTHHMMSSZ` strictly; `None` if malformed or not a real
/// calendar instant.
pub(crate) fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != AMZ_DATE_LEN || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let m = digits(&b[4..6])?;
    let d = digits(&b[6..8])?;
    let hh = digits(&b[9..11])?;
    let mm = digits(&b[11..13])?;
    let ss = digits(&b[13..15])?;
    to_unix(y, m, d, hh, mm, ss)
}

/// Parses an RFC 1123 / IMF-fixdate `Date` header value
/// (`Sun, 30 Aug 2015 12:36:00 GMT`, RFC 9110 §5.6.7).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let b = s.trim().as_bytes();
    // "Sun, 30 Aug 2015 12:36:00 GMT" is exactly 29 bytes.
    if b.len() != 29
        || !DAYS.contains(&&b[0..3])
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..29] != b" GMT"
    {
        return None;
    }
    let d = digits(&b[5..7])?;
    let m = MONTHS.iter().position(|name| *name == &b[8..11])?;
    let y = digits(&b[12..16])?;
    let hh = digits(&b[17..19])?;
    let mm = digits(&b[20..22])?;
    let ss = digits(&b[23..25])?;
    to_unix(y, i64::try_from(m).ok()? + 1, d, hh, mm, ss)
}

fn to_unix(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn put_digits(out: &mut [u8], mut v: i64) {
    for slot in out.iter_mut().rev() {
        // `v` is non-negative and fits the slot by construction (clamped input).
        *slot = b'0' + u8::try_from(v.rem_euclid(10)).unwrap_or(0);
        v /= 10;
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SUITE: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z

    #[test]
    fn formats_and_parses_the_suite_instant() {
        assert_eq!(format_amz_date(SUITE).as_str(), "20150830T123600Z");
        assert_eq!(format_amz_date(SUITE).date(), "20150830");
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(SUITE));
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(SUITE)
        );
    }

    #[test]
    fn round_trips_across_the_calendar() {
        for secs in [
            0,
            -1,
            951_782_400,   // 2000-02-29
            1_709_164_800, // 2024-02-29
            4_102_444_799, // 2099-12-31T23:59:59
            MIN_SECS,
            MAX_SECS,
        ] {
            let f = format_amz_date(secs);
            assert_eq!(parse_amz_date(f.as_str()), Some(secs), "{f}");
        }
        assert_eq!(format_amz_date(0).as_str(), "19700101T000000Z");
        assert_eq!(format_amz_date(-1).as_str(), "19691231T235959Z");
        assert_eq!(format_amz_date(i64::MAX).as_str(), "99991231T235959Z");
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "20150830",
            "20150830T123600",
            "20150830T123600z",
            "2015-08-30T12:36:00Z",
            "20150830 123600Z",
            "20150230T123600Z",
            "20150229T000000Z",
            "20151330T000000Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "2015083+T123600Z",
            "20150830T123600ZZ",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
        assert_eq!(parse_amz_date("20160229T000000Z"), Some(1_456_704_000));
        for bad in [
            "Sun, 30 Aug 2015 12:36:00 UTC",
            "Sunday, 30-Aug-15 12:36:00 GMT",
            "Sun Aug 30 12:36:00 2015",
            "Sun, 31 Sep 2015 12:36:00 GMT",
            "Xyz, 30 Aug 2015 12:36:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn system_time_floors_to_whole_seconds() {
        let t = UNIX_EPOCH + Duration::from_millis(SUITE as u64 * 1000 + 999);
        assert_eq!(unix_seconds(t), SUITE);
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_seconds(before), -1);
    }
}
