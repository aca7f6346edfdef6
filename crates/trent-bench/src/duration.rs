//! `--duration` / `--warmup` values: `10s`, `500ms`, `2m`, `1m30s`, or a bare number of
//! seconds. Every run is bounded, so nothing above [`MAX_DURATION`] is accepted.

use std::time::Duration;

/// The longest warmup or measurement a run accepts: a load generator must stop by itself.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration '{0}': expected e.g. 10s, 500ms, 2m or 1m30s")]
    Syntax(String),
    #[error("duration '{0}' exceeds the maximum of 600s")]
    TooLong(String),
    #[error("duration must be greater than zero")]
    Zero,
}

/// Parses a duration made of `<integer><unit>` parts (units `ms`, `s`, `m`), or a bare
/// integer meaning seconds. Zero is allowed (a warmup may be skipped).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(input.to_owned());
    let text = input.trim();
    if text.is_empty() {
        return Err(syntax());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = text.parse().map_err(|_| syntax())?;
        return bounded(Duration::from_secs(secs), input);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(syntax());
        }
        let (number, tail) = rest.split_at(digits);
        let number: u64 = number.parse().map_err(|_| syntax())?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(syntax)?),
            _ => return Err(syntax()),
        };
        total = total.checked_add(part).ok_or_else(syntax)?;
        rest = tail;
    }
    bounded(total, input)
}

/// Like [`parse_duration`], but refuses zero: a measurement needs some time to measure.
pub fn parse_positive_duration(input: &str) -> Result<Duration, DurationError> {
    let duration = parse_duration(input)?;
    if duration.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(duration)
}

fn bounded(duration: Duration, input: &str) -> Result<Duration, DurationError> {
    if duration > MAX_DURATION {
        return Err(DurationError::TooLong(input.to_owned()));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_units_and_combinations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1s250ms"), Ok(Duration::from_millis(1250)));
        assert_eq!(parse_duration(" 7 "), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("600s"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("10m"), Ok(MAX_DURATION));
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            "", "s", "10x", "1.5s", "-1s", "10 s", "ms10", "1h", "10S", "5s5",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(DurationError::Syntax(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999999m"),
            Err(DurationError::Syntax(_))
        ));
    }

    #[test]
    fn refuses_more_than_the_maximum() {
        assert_eq!(
            parse_duration("601s"),
            Err(DurationError::TooLong("601s".to_owned()))
        );
        assert_eq!(
            parse_duration("10m1ms"),
            Err(DurationError::TooLong("10m1ms".to_owned()))
        );
        assert_eq!(
            parse_duration("3600"),
            Err(DurationError::TooLong("3600".to_owned()))
        );
    }

    #[test]
    fn positive_refuses_zero() {
        assert_eq!(parse_positive_duration("0s"), Err(DurationError::Zero));
        assert_eq!(parse_positive_duration("0ms"), Err(DurationError::Zero));
        assert_eq!(parse_positive_duration("1ms"), Ok(Duration::from_millis(1)));
    }
}
