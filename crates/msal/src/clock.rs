//! The wall clock in Unix seconds, as the cache stores times, and the dates the results
//! report. A bottom module: the cache and the applications both read the clock, so it belongs
//! to neither (and neither imports the other for it).

use time::OffsetDateTime;

/// The current Unix time in seconds.
pub(crate) fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
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
