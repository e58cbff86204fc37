//! Server telemetry: the `x-client-current-telemetry` and `x-client-last-telemetry` headers of
//! every request to the token endpoint (and only there, as the other MSALs do).
//!
//! The format is MSAL Python's (`msal/telemetry.py`, schema version 4), byte for byte:
//!
//! - current: `4|<api_id>,<cache_refresh>|` — the flow's API id (MSAL Python's ids, e.g. 730
//!   for client credentials) and why the cache did not answer (0 not a silent call, 1 forced
//!   refresh or claims, 2 no access token, 3 expired, 4 past `refresh_on`); the platform
//!   section after the second `|` is empty, as MSAL Python sends it for bearer tokens;
//! - last: `4|<silent_hits>|<api_id>,<correlation_id>,...|<error>,...|` — the tokens served
//!   from the cache and the token requests that failed since the last request that succeeded.
//!
//! The failed requests are bounded as MSAL Python bounds them (the `,api,correlation,error`
//! entries fit in 350 characters; later failures are dropped until a request succeeds), and
//! every value that goes into a header (the server's error code, the caller's correlation id)
//! is sanitised first: only `[A-Za-z0-9._-]`, at most [`MAX_VALUE_LEN`] characters, so a
//! hostile answer cannot forge fields or grow the header.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::fmt::Write as _;

use http::HeaderName;

/// The header describing the request it is sent with.
pub(crate) const CURRENT_HEADER: HeaderName = HeaderName::from_static("x-client-current-telemetry");
/// The header describing the requests since the last one that succeeded.
pub(crate) const LAST_HEADER: HeaderName = HeaderName::from_static("x-client-last-telemetry");
/// MSAL Python's schema version.
const SCHEMA_VERSION: &str = "4";
/// MSAL Python's bound on the failed requests (`_LAST_HEADER_SIZE_LIMIT`): the sum of the
/// lengths of their `,api_id,correlation_id,error` entries stays below it.
pub(crate) const MAX_FAILED_CHARS: usize = 350;
/// The longest error code or correlation id put into a header; longer ones are cut.
pub(crate) const MAX_VALUE_LEN: usize = 64;

/// Why the cache did not answer a request (MSAL Python's `CACHE_REFRESH` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheRefresh {
    /// Not a silent request: the flow never looks in the cache first.
    NonSilent = 0,
    /// The caller forced a refresh, or sent claims.
    ForceRefresh = 1,
    /// The cache held no usable access token.
    AtAbsent = 2,
}

/// MSAL Python's API id of a flow (`ClientApplication.ACQUIRE_TOKEN_*`), by the pipeline's
/// flow name.
pub(crate) fn api_id(flow: &str) -> u16 {
    match flow {
        "silent" => 84,
        "refresh_token" => 85,
        "interactive" => 169,
        "username_password" => 301,
        "on_behalf_of" => 523,
        "device_code" => 622,
        "client_credentials" => 730,
        "authorization_code" => 832,
        // Not a flow of MSAL Python's (managed identity sends no telemetry at all).
        _ => 0,
    }
}

/// Whether MSAL Python looks in the cache before this flow's request (its silent path, which
/// client credentials share), and so reports why the cache did not answer.
pub(crate) fn consults_cache(flow: &str) -> bool {
    matches!(flow, "silent" | "client_credentials")
}

/// A value safe in a telemetry field: `[A-Za-z0-9._-]` kept, anything else `_`, cut at
/// [`MAX_VALUE_LEN`] characters.
pub(crate) fn sanitize(value: &str) -> String {
    value
        .chars()
        .take(MAX_VALUE_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One failed token request, waiting to be reported.
#[derive(Debug)]
struct Failure {
    seq: u64,
    api_id: u16,
    correlation_id: String,
    error: String,
}

impl Failure {
    /// Its length as MSAL Python counts it against [`MAX_FAILED_CHARS`].
    fn size(api_id: u16, correlation_id: &str, error: &str) -> usize {
        // ",{api_id},{correlation_id},{error}"
        3 + api_id.to_string().len() + correlation_id.len() + error.len()
    }
}

#[derive(Debug, Default)]
struct Failures {
    list: VecDeque<Failure>,
    size: usize,
    next_seq: u64,
}

/// Appends `n` in decimal. The headers are written for every cache miss: without the
/// formatting machinery, which costs more than the few digits.
fn push_decimal(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&digits[start..]).unwrap_or("0"));
}

/// An application's telemetry since its last successful token request: thread-safe and
/// bounded (a count, and failures within [`MAX_FAILED_CHARS`]).
#[derive(Debug, Default)]
pub(crate) struct ServerTelemetry {
    /// Tokens served from the cache: an atomic, so a cache hit takes no lock.
    silent_hits: AtomicU64,
    failures: Mutex<Failures>,
}

/// The headers of one token request, and what they reported (cleared once it succeeds).
#[derive(Debug)]
pub(crate) struct Report {
    pub api_id: u16,
    current: String,
    last: String,
    silent_hits: u64,
    /// The failures up to this sequence number were reported.
    failures_before: u64,
}

impl Report {
    /// The headers to send: `x-client-current-telemetry` and `x-client-last-telemetry`.
    pub(crate) fn headers(&self) -> [(HeaderName, &str); 2] {
        [(CURRENT_HEADER, &self.current), (LAST_HEADER, &self.last)]
    }
}

impl ServerTelemetry {
    /// Counts a token served from the cache.
    pub(crate) fn hit(&self) {
        self.silent_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The headers of a token request of the flow `flow`.
    pub(crate) fn report(&self, flow: &str, refresh: CacheRefresh) -> Report {
        let api_id = api_id(flow);
        // Written in place, two strings per request: every cache miss sends them. Only
        // `[A-Za-z0-9._|,-]` can be in them (see `sanitize`): always valid header values.
        let mut current = String::with_capacity(16);
        current.push_str(SCHEMA_VERSION);
        current.push('|');
        push_decimal(&mut current, api_id.into());
        current.push(',');
        push_decimal(&mut current, refresh as u64);
        current.push('|');
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let silent_hits = self.silent_hits.load(Ordering::Relaxed);
        let mut last = String::with_capacity(16 + failures.size);
        last.push_str(SCHEMA_VERSION);
        last.push('|');
        push_decimal(&mut last, silent_hits);
        last.push('|');
        for (i, f) in failures.list.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(last, "{sep}{},{}", f.api_id, f.correlation_id);
        }
        last.push('|');
        for (i, f) in failures.list.iter().enumerate() {
            if i > 0 {
                last.push(',');
            }
            last.push_str(&f.error);
        }
        last.push('|');
        let failures_before = failures.next_seq;
        drop(failures);
        Report {
            api_id,
            current,
            last,
            silent_hits,
            failures_before,
        }
    }

    /// The request `report` was sent with succeeded: what it reported is cleared (what
    /// happened meanwhile, in concurrent requests, is kept for the next one).
    pub(crate) fn succeeded(&self, report: &Report) {
        let _ = self
            .silent_hits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(report.silent_hits))
            });
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        while failures
            .list
            .front()
            .is_some_and(|f| f.seq < report.failures_before)
        {
            if let Some(f) = failures.list.pop_front() {
                failures.size -= Failure::size(f.api_id, &f.correlation_id, &f.error);
            }
        }
    }

    /// The request `report` was sent with failed with the error code `error`: it is reported
    /// with the next request, unless the failures reported already fill their bound.
    pub(crate) fn failed(&self, report: &Report, correlation_id: &str, error: &str) {
        let correlation_id = sanitize(correlation_id);
        let error = sanitize(error);
        let size = Failure::size(report.api_id, &correlation_id, &error);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.size + size >= MAX_FAILED_CHARS {
            return;
        }
        let seq = failures.next_seq;
        failures.next_seq += 1;
        failures.size += size;
        failures.list.push_back(Failure {
            seq,
            api_id: report.api_id,
            correlation_id,
            error,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(r: &Report, name: HeaderName) -> &str {
        r.headers()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .unwrap()
    }

    #[test]
    fn decimals_are_written_as_format_writes_them() {
        for n in [0, 7, 10, 84, 730, 1_000_001, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn headers_in_msal_pythons_format() {
        let t = ServerTelemetry::default();
        let r = t.report("client_credentials", CacheRefresh::AtAbsent);
        assert_eq!(header(&r, CURRENT_HEADER), "4|730,2|");
        assert_eq!(header(&r, LAST_HEADER), "4|0|||");
        t.failed(&r, "cid-1", "invalid_client");
        t.hit();
        t.hit();
        let r2 = t.report("device_code", CacheRefresh::NonSilent);
        assert_eq!(header(&r2, CURRENT_HEADER), "4|622,0|");
        assert_eq!(header(&r2, LAST_HEADER), "4|2|730,cid-1|invalid_client|");
        t.failed(&r2, "cid-2", "authorization_declined");
        let r3 = t.report("silent", CacheRefresh::ForceRefresh);
        assert_eq!(header(&r3, CURRENT_HEADER), "4|84,1|");
        assert_eq!(
            header(&r3, LAST_HEADER),
            "4|2|730,cid-1,622,cid-2|invalid_client,authorization_declined|"
        );
        // A failure after the report was taken stays for the next request.
        t.failed(&r3, "cid-3", "server_error");
        t.hit();
        t.succeeded(&r3);
        let r4 = t.report("silent", CacheRefresh::AtAbsent);
        assert_eq!(header(&r4, LAST_HEADER), "4|1|84,cid-3|server_error|");
        t.succeeded(&r4);
        let r5 = t.report("silent", CacheRefresh::AtAbsent);
        assert_eq!(header(&r5, LAST_HEADER), "4|0|||");
    }

    #[test]
    fn hostile_values_cannot_forge_fields_or_grow_the_header() {
        let t = ServerTelemetry::default();
        let r = t.report("silent", CacheRefresh::AtAbsent);
        t.failed(&r, "a|b,c", &format!("x|y,z\r\n{}", "e".repeat(1000)));
        let r = t.report("silent", CacheRefresh::AtAbsent);
        let last = header(&r, LAST_HEADER);
        let error = format!("x_y_z__{}", "e".repeat(MAX_VALUE_LEN - 7));
        assert_eq!(last, format!("4|0|84,a_b_c|{error}|"));
    }

    #[test]
    fn failures_are_bounded_like_msal_pythons() {
        let t = ServerTelemetry::default();
        let r = t.report("client_credentials", CacheRefresh::AtAbsent);
        let cid = "00000000-0000-0000-0000-000000000000";
        for _ in 0..100 {
            t.failed(&r, cid, "invalid_grant");
        }
        // ",730,<36>,invalid_grant" is 54 characters: 6 fit below 350.
        let r = t.report("client_credentials", CacheRefresh::AtAbsent);
        let last = header(&r, LAST_HEADER);
        assert_eq!(last.matches("invalid_grant").count(), 6);
        t.succeeded(&r);
        let r = t.report("client_credentials", CacheRefresh::AtAbsent);
        assert_eq!(header(&r, LAST_HEADER), "4|0|||");
    }
}
