//! What the CLI prints: exactly one JSON object on stdout with `--output json`, readable lines
//! with `text`; the shapes are the contract in CONTRACT.md.

use msal::{Account, AuthenticationResult, Error, ErrorKind};
use serde_json::{Value, json};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Exactly one JSON object on stdout.
    Json,
    /// For people.
    Text,
}

/// The exit code of an error kind, per the contract.
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::UiRequired => 3,
        ErrorKind::Service => 4,
        ErrorKind::Transport => 5,
        ErrorKind::Client => 6,
        ErrorKind::Cancelled => 7,
        _ => 4,
    }
}

/// An account as the contract shows it.
pub fn account_json(a: &Account) -> Value {
    json!({
        "home_account_id": a.home_account_id,
        "username": a.username,
        "environment": a.environment,
    })
}

/// The success object.
pub fn result_json(r: &AuthenticationResult) -> Value {
    json!({
        "access_token": r.access_token.secret(),
        "token_type": r.token_type,
        "expires_on": r.expires_on.unix_timestamp(),
        "scopes": r.scopes,
        "source": r.source.as_str(),
        "tenant_id": r.tenant_id,
        "correlation_id": r.correlation_id,
        "account": r.account.as_ref().map(account_json),
    })
}

/// The failure object.
pub fn error_json(e: &Error) -> Value {
    json!({"error": {
        "kind": e.kind().as_str(),
        "code": e.code(),
        "suberror": e.suberror(),
        "classification": e.classification().map(|c| c.as_str()),
        "aadsts_codes": e.aadsts_codes(),
        "message": e.description(),
        "claims": e.claims(),
        "correlation_id": e.correlation_id(),
        "trace_id": e.trace_id(),
        "http_status": e.http_status(),
        "retry_after_seconds": e.retry_after().map(|d| d.as_secs()),
        "throttled": e.is_throttled(),
        "granted_scopes": e.granted_scopes(),
        "declined_scopes": e.declined_scopes(),
    }})
}

/// Prints a success.
pub fn print_result(format: OutputFormat, r: &AuthenticationResult) {
    match format {
        OutputFormat::Json => println!("{}", result_json(r)),
        OutputFormat::Text => {
            println!(
                "Token from {} for {}",
                r.source.as_str().replace('_', " "),
                r.scopes.join(" ")
            );
            println!("  expires on:     {}", r.expires_on);
            if let Some(a) = &r.account {
                println!("  account:        {} ({})", a.username, a.home_account_id);
            }
            if let Some(t) = &r.tenant_id {
                println!("  tenant:         {t}");
            }
            println!("  correlation id: {}", r.correlation_id);
            println!("{}", r.access_token.secret());
        }
    }
}

/// Prints a failure: JSON on stdout, or a readable report on stderr.
pub fn print_error(format: OutputFormat, e: &Error) {
    match format {
        OutputFormat::Json => println!("{}", error_json(e)),
        OutputFormat::Text => eprintln!("{}", error_text(e)),
    }
}

/// A readable, multi-line report of an error, with what to do about it.
pub fn error_text(e: &Error) -> String {
    let mut out = format!("error: {e}");
    let mut line = |k: &str, v: String| out.push_str(&format!("\n  {k:<15} {v}"));
    line("kind:", e.kind().as_str().into());
    if let Some(c) = e.classification() {
        line("classification:", c.as_str().into());
    }
    if !e.aadsts_codes().is_empty() {
        let codes: Vec<String> = e
            .aadsts_codes()
            .iter()
            .map(|c| format!("AADSTS{c}"))
            .collect();
        line("aadsts:", codes.join(", "));
    }
    if let Some(c) = e.correlation_id() {
        line("correlation id:", c.into());
    }
    if let Some(t) = e.trace_id() {
        line("trace id:", t.into());
    }
    if let Some(d) = e.retry_after() {
        line("retry after:", format!("{}s", d.as_secs()));
    }
    if let Some(d) = e.declined_scopes() {
        line("declined:", d.join(" "));
    }
    if let Some(c) = e.claims() {
        line("claims:", c.into());
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        line("caused by:", s.to_string());
        src = s.source();
    }
    line("what to do:", e.advice().text().into());
    out
}
