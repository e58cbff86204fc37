//! `Retry-After`: how long the identity provider asks to be left alone, as an error carries it
//! ([`Error::retry_after`](super::Error::retry_after)) and the retry policy waits it out. Here, at
//! the bottom with the error that reads it; the HTTP layer re-exports it
//! (`msal::http::parse_retry_after`).

use std::time::{Duration, SystemTime};

/// The longest `Retry-After` the library honours; longer values are capped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date, capped at [`MAX_RETRY_AFTER`].
/// A date in the past is a zero delay.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(SystemTime::now()).unwrap_or_default()
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_delta_seconds_and_cap() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[test]
    fn retry_after_http_date() {
        let in_a_minute = SystemTime::now() + Duration::from_secs(61);
        let v = httpdate::fmt_http_date(in_a_minute);
        let d = parse_retry_after(&v).unwrap();
        assert!(
            d <= Duration::from_secs(61) && d >= Duration::from_secs(55),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let far = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(86_400));
        assert_eq!(parse_retry_after(&far), Some(MAX_RETRY_AFTER));
    }
}
