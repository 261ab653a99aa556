//! When to retry a request and how long to wait first.
//!
//! A 429 waits what the server asks: `Retry-After` seconds, else `inin-ratelimit-reset`
//! (seconds until the rate-limit window resets), else the backoff. 502, 503, 504 and
//! connection errors wait the backoff: exponential from one second, capped, with jitter so
//! that concurrent workers do not retry in step.
//!
//! Every wait goes through [`Policy::sleep`], which the hidden environment variable
//! `GCAGG_WAIT_SCALE` (a factor, e.g. `0.001`) shortens: the tests use it so that waits
//! are decided and reported as in real use without making the suite slow.

use std::time::Duration;

/// The first backoff wait.
const BASE: Duration = Duration::from_secs(1);
/// The longest backoff wait.
const CAP: Duration = Duration::from_secs(60);
/// The longest wait a server may ask for; a larger `Retry-After` is surely wrong.
const MAX_ASKED: u64 = 3600;

/// The longest single wait a server may impose unless `--max-wait` says otherwise.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(300);
/// Waits longer than this are announced on stderr, terminal or not: a run that seems to
/// hang must say why.
pub const ANNOUNCED_WAIT: Duration = Duration::from_secs(60);

/// How often to retry, and the clock that waits.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest single wait a server's `Retry-After` (or rate-limit reset) may ask for.
    max_wait: Duration,
    scale: f64,
}

impl Policy {
    /// A policy with `max_retries`, its waits scaled by `GCAGG_WAIT_SCALE` if set.
    pub fn new(max_retries: u32) -> Policy {
        let scale = std::env::var("GCAGG_WAIT_SCALE")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f >= 0.0)
            .unwrap_or(1.0);
        Policy {
            max_retries,
            max_wait: DEFAULT_MAX_WAIT,
            scale,
        }
    }

    /// The longest single wait a server may ask for.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The same policy with another longest single wait (`--max-wait`).
    pub fn with_max_wait(self, max_wait: Duration) -> Policy {
        Policy { max_wait, ..self }
    }

    /// The wait before retry number `retry` (from 0): capped exponential with jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = exponential(retry, BASE, CAP);
        // "Equal jitter": half fixed, half random, so a wait never collapses to nothing.
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    }

    /// Sleeps `wait` (scaled).
    pub fn sleep(&self, wait: Duration) {
        std::thread::sleep(self.scaled(wait));
    }

    /// How long `wait` lasts on this policy's clock (scaled).
    pub fn scaled(&self, wait: Duration) -> Duration {
        wait.mul_f64(self.scale)
    }
}

/// `base * 2^step`, at most `cap`.
pub fn exponential(step: u32, base: Duration, cap: Duration) -> Duration {
    base.saturating_mul(1u32.checked_shl(step.min(31)).unwrap_or(u32::MAX))
        .min(cap)
}

/// The wait a 429 answer asks for, and which header said so.
pub fn rate_limit_wait(retry_after: Option<&str>, reset: Option<&str>) -> Option<(Duration, &'static str)> {
    let seconds = |v: Option<&str>| {
        v.and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_ASKED as f64)))
    };
    seconds(retry_after)
        .map(|d| (d, "Retry-After"))
        .or_else(|| seconds(reset).map(|d| (d, "inin-ratelimit-reset")))
}

/// A wait as people say it: `2m`, `1m30s`, `1h5m`, `45s`, `1.5s`.
pub fn spoken(wait: Duration) -> String {
    let secs = wait.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut text = String::new();
    for (n, unit) in [(h, "h"), (m, "m")] {
        if n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    // Milliseconds when there are some (`--every 1.5s`), trailing zeros dropped.
    let millis = wait.subsec_millis();
    if millis > 0 {
        let fraction = format!("{millis:03}");
        text.push_str(&format!("{s}.{}s", fraction.trim_end_matches('0')));
    } else if s > 0 || text.is_empty() {
        text.push_str(&format!("{s}s"));
    }
    text
}

/// Whether a status is worth retrying: rate limited, or a gateway that may recover.
pub fn is_transient(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_over_reset() {
        assert_eq!(
            rate_limit_wait(Some("7"), Some("30")),
            Some((Duration::from_secs(7), "Retry-After"))
        );
        assert_eq!(
            rate_limit_wait(None, Some("30")),
            Some((Duration::from_secs(30), "inin-ratelimit-reset"))
        );
        assert_eq!(
            rate_limit_wait(Some("Wed, 21 Oct 2015 07:28:00 GMT"), Some("2")),
            Some((Duration::from_secs(2), "inin-ratelimit-reset"))
        );
        assert_eq!(rate_limit_wait(None, None), None);
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let policy = Policy::new(5);
        for retry in 0..40 {
            let full = exponential(retry, BASE, CAP);
            let wait = policy.backoff(retry);
            assert!(wait >= full / 2 && wait <= full, "{retry}: {wait:?}");
        }
        assert_eq!(exponential(0, BASE, CAP), BASE);
        assert_eq!(exponential(3, BASE, CAP), Duration::from_secs(8));
        assert_eq!(exponential(40, BASE, CAP), CAP);
    }

    #[test]
    fn waits_are_spoken_plainly() {
        for (secs, text) in [(0, "0s"), (45, "45s"), (120, "2m"), (90, "1m30s"), (3900, "1h5m")] {
            assert_eq!(spoken(Duration::from_secs(secs)), text);
        }
        for (ms, text) in [(1_500, "1.5s"), (61_250, "1m1.25s"), (5, "0.005s")] {
            assert_eq!(spoken(Duration::from_millis(ms)), text);
        }
    }

    #[test]
    fn transient_statuses() {
        for s in [429, 502, 503, 504] {
            assert!(is_transient(s));
        }
        for s in [400, 401, 403, 404, 500] {
            assert!(!is_transient(s));
        }
    }
}
