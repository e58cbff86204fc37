//! How the demo prints: sections, steps, tokens and errors, in colour on a terminal.

use msal::{AuthenticationResult, Error};

/// Colours on a terminal, plain text when piped or with NO_COLOR.
pub(super) struct Style {
    pub(super) color: bool,
}

impl Style {
    pub(super) fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub(super) fn section(&self, n: usize, title: &str) {
        println!("\n{}", self.paint("1;36", &format!("{n}. {title}")));
    }
    pub(super) fn step(&self, s: &str) {
        println!("   {} {s}", self.paint("2", "→"));
    }
    pub(super) fn ok(&self, s: &str) {
        println!("   {} {s}", self.paint("32", "✓"));
    }
    pub(super) fn error(&self, e: &Error) {
        let kind = self.paint("1;33", e.kind().as_str());
        let mut line = format!("   {} {kind} `{}`", self.paint("33", "✗"), e.code());
        if let Some(c) = e.classification() {
            line.push_str(&format!(" classification={}", c.as_str()));
        }
        if let Some(s) = e.suberror() {
            line.push_str(&format!(" suberror={s}"));
        }
        if !e.aadsts_codes().is_empty() {
            let codes: Vec<String> = e
                .aadsts_codes()
                .iter()
                .map(|c| format!("AADSTS{c}"))
                .collect();
            line.push_str(&format!(" {}", codes.join(",")));
        }
        if let Some(s) = e.http_status() {
            line.push_str(&format!(" http={s}"));
        }
        if let Some(r) = e.retry_after() {
            line.push_str(&format!(" retry_after={}s", r.as_secs()));
        }
        if e.is_client_throttled() {
            line.push_str(" throttled=client");
        }
        println!("{line}");
        if let Some(c) = e.correlation_id() {
            println!("     {}", self.paint("2", &format!("correlation id {c}")));
        }
        println!("     {} {}", self.paint("2", "handling:"), e.advice());
    }
    pub(super) fn token(&self, r: &AuthenticationResult) {
        let who = r
            .account
            .as_ref()
            .map(|a| format!(" for {}", a.username))
            .unwrap_or_default();
        self.ok(&format!(
            "token from {}{who}, scopes [{}], expires {}",
            self.paint("1", r.source.as_str()),
            r.scopes.join(" "),
            r.expires_on.time()
        ));
    }
}
