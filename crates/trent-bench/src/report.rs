//! The run's summary, for people and (with `--json`) for scripts: the same fields both
//! ways. Latencies are in milliseconds, three decimals (the histogram's microseconds).

use std::fmt::Write as _;

use serde::Serialize;

use crate::run::Measurement;

/// The fields of `--json` output, in this order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub op: &'static str,
    pub concurrency: u32,
    pub duration_s: f64,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn new(op: &'static str, concurrency: u32, m: &Measurement) -> Self {
        let seconds = m.elapsed.as_secs_f64();
        let rps = if seconds > 0.0 {
            m.requests as f64 / seconds
        } else {
            0.0
        };
        let ms = |us: u64| round(us as f64 / 1000.0, 1000.0);
        // An empty histogram answers 0 everywhere: no successful request, no latency.
        let h = &m.latency_us;
        Self {
            op,
            concurrency,
            duration_s: round(seconds, 1000.0),
            requests: m.requests,
            errors: m.errors,
            rps: round(rps, 10.0),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    /// The human summary, a few aligned lines.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} at concurrency {}, {:.3} s measured",
            self.op, self.concurrency, self.duration_s
        );
        let _ = writeln!(
            out,
            "  requests    {} ok, {} errors",
            self.requests, self.errors
        );
        let _ = writeln!(out, "  throughput  {:.1} requests/s", self.rps);
        let _ = writeln!(
            out,
            "  latency     p50 {:.3} ms   p99 {:.3} ms   p99.9 {:.3} ms   max {:.3} ms",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms
        );
        out
    }

    /// The single-line JSON object of `--json`.
    pub fn json(&self) -> String {
        // Serializing plain numbers and a static string cannot fail; keep a valid
        // object even so.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

fn round(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use hdrhistogram::Histogram;

    use super::*;

    fn measurement(latencies_us: &[u64], elapsed: Duration, errors: u64) -> Measurement {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &l in latencies_us {
            h.record(l).unwrap();
        }
        Measurement {
            requests: latencies_us.len() as u64,
            errors,
            error_types: BTreeMap::new(),
            first_error: None,
            elapsed,
            latency_us: h,
            aborted: None,
            abandoned: 0,
            created_key_ids: Vec::new(),
        }
    }

    #[test]
    fn percentiles_and_rate() {
        // 1000 requests: 1..=1000 µs, in 2 s.
        let lat: Vec<u64> = (1..=1000).collect();
        let s = Summary::new("encrypt", 64, &measurement(&lat, Duration::from_secs(2), 3));
        assert_eq!(s.requests, 1000);
        assert_eq!(s.errors, 3);
        assert_eq!(s.duration_s, 2.0);
        assert_eq!(s.rps, 500.0);
        assert_eq!(s.p50_ms, 0.5);
        assert_eq!(s.p99_ms, 0.99);
        assert_eq!(s.p999_ms, 0.999);
        assert_eq!(s.max_ms, 1.0);
    }

    #[test]
    fn a_slow_tail_shows_in_the_high_percentiles_only() {
        let mut lat = vec![2_000u64; 9_980];
        lat.extend([250_000u64; 20]);
        let s = Summary::new(
            "decrypt",
            1,
            &measurement(&lat, Duration::from_millis(10_500), 0),
        );
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 2.0);
        // hdrhistogram answers the highest value equivalent at 3 significant digits.
        assert!((249.9..=250.2).contains(&s.p999_ms), "{}", s.p999_ms);
        assert!((249.9..=250.2).contains(&s.max_ms), "{}", s.max_ms);
        assert_eq!(s.rps, 952.4);
        assert_eq!(s.duration_s, 10.5);
    }

    #[test]
    fn empty_run_is_all_zeroes() {
        let s = Summary::new("generate-random", 4, &measurement(&[], Duration::ZERO, 0));
        assert_eq!(
            (s.rps, s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms),
            (0.0, 0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn human_and_json_carry_the_same_fields() {
        let lat: Vec<u64> = (1..=1000).collect();
        let s = Summary::new("encrypt", 64, &measurement(&lat, Duration::from_secs(2), 3));
        assert_eq!(
            s.human(),
            "encrypt at concurrency 64, 2.000 s measured\n\
             \x20 requests    1000 ok, 3 errors\n\
             \x20 throughput  500.0 requests/s\n\
             \x20 latency     p50 0.500 ms   p99 0.990 ms   p99.9 0.999 ms   max 1.000 ms\n"
        );
        let json: serde_json::Value = serde_json::from_str(&s.json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "op": "encrypt", "concurrency": 64, "duration_s": 2.0, "requests": 1000,
                "errors": 3, "rps": 500.0, "p50_ms": 0.5, "p99_ms": 0.99,
                "p999_ms": 0.999, "max_ms": 1.0
            })
        );
        assert!(!s.json().contains('\n'));
    }
}
