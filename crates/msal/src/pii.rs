//! Personal data in logs: user names, object and account ids, tenant ids, authority URLs
//! (their path names the tenant) and the server's error descriptions (they may quote any of
//! these) go into `tracing` events only through [`Pii`] and [`PiiError`], which print them
//! as they are when the application turned PII logging on
//! (`enable_pii_logging(true)` on its builder, like MSAL's `enablePiiLogging`), and a
//! redaction marker otherwise.
//!
//! The marker, `[pii:0123abcd]`, is the start of a SHA-256 of the value salted with a random
//! salt of the process: the same value gets the same marker within one run, so events about
//! one user can be told apart from events about another, and the value cannot be looked up
//! from the marker (a guessed user name hashes differently in every run).
//!
//! Tokens, secrets, passwords, assertions and codes are never logged, PII logging or not.
//! A bottom module: every other module may use it.

use std::fmt;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::error::Error;

/// A personal value in a log event: shown, or a salted-hash marker.
#[derive(Clone, Copy)]
pub(crate) struct Pii<'a> {
    value: &'a str,
    show: bool,
}

/// `value` as a log field: as it is when `show` (the app's PII logging switch), else a marker.
pub(crate) fn pii(value: &str, show: bool) -> Pii<'_> {
    Pii { value, show }
}

/// A random salt for the markers of this process.
fn salt() -> &'static [u8; 16] {
    static SALT: OnceLock<[u8; 16]> = OnceLock::new();
    SALT.get_or_init(|| {
        use rand::RngCore as _;
        let mut s = [0u8; 16];
        rand::rng().fill_bytes(&mut s);
        s
    })
}

/// The marker of a value hidden from the log.
fn marker(value: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let digest = Sha256::new()
        .chain_update(salt())
        .chain_update(value.as_bytes())
        .finalize();
    f.write_str("[pii:")?;
    for b in &digest[..4] {
        write!(f, "{b:02x}")?;
    }
    f.write_str("]")
}

impl fmt::Display for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.show || self.value.is_empty() {
            f.write_str(self.value)
        } else {
            marker(self.value, f)
        }
    }
}

impl fmt::Debug for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A URL in a log event (an authority, a metadata or discovery URL: its path and query name
/// the tenant): whole when PII logging is on; else its scheme and host, and a marker for the
/// rest.
pub(crate) struct PiiUrl<'a> {
    url: &'a str,
    show: bool,
}

/// `url` as a log field (see [`PiiUrl`]).
pub(crate) fn pii_url(url: &str, show: bool) -> PiiUrl<'_> {
    PiiUrl { url, show }
}

impl fmt::Display for PiiUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.show {
            return f.write_str(self.url);
        }
        let host_start = self.url.find("://").map_or(0, |i| i + 3);
        let host_end = self.url[host_start..]
            .find(['/', '?', '#'])
            .map_or(self.url.len(), |i| host_start + i);
        let (origin, rest) = self.url.split_at(host_end);
        f.write_str(origin)?;
        if rest.is_empty() || rest == "/" {
            f.write_str(rest)
        } else {
            f.write_str("/")?;
            marker(rest, f)
        }
    }
}

/// An error in a log event: in full when PII logging is on; else its kind, code and HTTP
/// status only (its description may quote a user name or a tenant).
pub(crate) struct PiiError<'a> {
    error: &'a Error,
    show: bool,
}

/// `error` as a log field (see [`PiiError`]).
pub(crate) fn pii_error(error: &Error, show: bool) -> PiiError<'_> {
    PiiError { error, show }
}

impl fmt::Display for PiiError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.error;
        if self.show {
            return fmt::Display::fmt(e, f);
        }
        write!(f, "{} error `{}`", e.kind(), e.code())?;
        if let Some(s) = e.suberror() {
            write!(f, " ({s})")?;
        }
        if let Some(status) = e.http_status() {
            write!(f, " [HTTP {status}]")?;
        }
        if !e.description().is_empty() {
            f.write_str(": [pii]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_when_on_else_a_stable_salted_marker() {
        let user = "alice@contoso.com";
        assert_eq!(pii(user, true).to_string(), user);
        let hidden = pii(user, false).to_string();
        assert!(
            hidden.starts_with("[pii:") && hidden.len() == 14,
            "{hidden}"
        );
        assert!(!hidden.contains("alice"));
        assert_eq!(pii(user, false).to_string(), hidden);
        assert_ne!(pii("bob@contoso.com", false).to_string(), hidden);
        assert_eq!(pii("", false).to_string(), "");
    }

    #[test]
    fn urls_keep_their_host() {
        let url = "https://login.microsoftonline.com/7f3c0d4e-5b6a/v2.0?x=1";
        assert_eq!(pii_url(url, true).to_string(), url);
        let off = pii_url(url, false).to_string();
        assert!(
            off.starts_with("https://login.microsoftonline.com/[pii:"),
            "{off}"
        );
        assert!(!off.contains("7f3c"), "{off}");
        assert_eq!(
            pii_url("http://127.0.0.1:8080/", false).to_string(),
            "http://127.0.0.1:8080/"
        );
    }

    #[test]
    fn errors_keep_their_code_and_hide_their_description() {
        let e = Error::service(
            "invalid_grant",
            "AADSTS50126: bad password for alice@contoso.com",
        );
        let off = pii_error(&e, false).to_string();
        assert!(off.contains("invalid_grant"), "{off}");
        assert!(!off.contains("alice"), "{off}");
        assert!(
            pii_error(&e, true)
                .to_string()
                .contains("alice@contoso.com")
        );
    }
}
