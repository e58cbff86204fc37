//! The wall clock in Unix seconds, as the cache stores times, and the dates the results
//! report. A bottom module: the cache and the applications both read the clock, so it belongs
//! to neither (and neither imports the other for it).

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// The current Unix time in seconds. From `SystemTime` (not `OffsetDateTime::now_utc`, which
/// computes a calendar date on each call): every call reads it, cache hits included.
pub(crate) fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // A clock before 1970: the whole seconds before it, rounded towards the past.
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            }
        }
    }
}

/// The date of a Unix time; a time beyond the dates `time` represents (a cache file may hold
/// any number) is the nearest one it does, never a date on the other side of now.
pub(crate) fn from_unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or_else(|_| {
        if secs < 0 {
            time::Date::MIN.midnight().assume_utc()
        } else {
            time::Date::MAX.with_time(time::Time::MAX).assume_utc()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_calendar_clock_in_unix_seconds() {
        let before = OffsetDateTime::now_utc().unix_timestamp();
        let now = now_unix();
        let after = OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            (before..=after).contains(&now),
            "{before} <= {now} <= {after}"
        );
    }
}
