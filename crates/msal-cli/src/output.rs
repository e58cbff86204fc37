//! The contract's output: one JSON object on stdout (`--output json`) or text for people, and
//! the exit code of each error kind.

use std::io::IsTerminal;
use std::process::ExitCode;

use msal::{Account, AuthenticationResult, Error, ErrorKind};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::OutputFormat;

/// `--output`, else `text` on a terminal and `json` otherwise.
pub(crate) fn format(requested: Option<OutputFormat>) -> OutputFormat {
    requested.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            OutputFormat::Text
        } else {
            OutputFormat::Json
        }
    })
}

/// The exit code of an error: 3 `ui_required`, 4 `service`, 5 `transport`, 6 `client`,
/// 7 `cancelled`.
pub(crate) fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::UiRequired => 3,
        ErrorKind::Service => 4,
        ErrorKind::Transport => 5,
        ErrorKind::Client => 6,
        ErrorKind::Cancelled => 7,
        _ => 4,
    }
}

/// An account as the contract shows it.
pub(crate) fn account_json(a: &Account) -> Value {
    json!({
        "home_account_id": a.home_account_id,
        "username": a.username,
        "environment": a.environment,
    })
}

/// The success object.
pub(crate) fn success_json(r: &AuthenticationResult) -> Value {
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
pub(crate) fn error_json(e: &Error) -> Value {
    json!({
        "error": {
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
        }
    })
}

/// Prints a JSON value as the one object on stdout.
pub(crate) fn print_json(v: &Value) {
    println!("{v}");
}

/// Prints an error (JSON on stdout, or text on stderr) and returns its exit code.
pub(crate) fn fail(format: OutputFormat, e: &Error) -> ExitCode {
    match format {
        OutputFormat::Json => print_json(&error_json(e)),
        OutputFormat::Text => {
            eprintln!("error: {e}");
            if let Some(c) = e.classification() {
                eprintln!("  classification: {c}");
            }
            if let Some(c) = e.claims() {
                eprintln!("  claims: {c}");
            }
            if let (Some(g), Some(d)) = (e.granted_scopes(), e.declined_scopes()) {
                eprintln!("  granted scopes: {}", g.join(" "));
                eprintln!("  declined scopes: {}", d.join(" "));
            }
            if let Some(d) = e.retry_after() {
                eprintln!("  retry after: {} s", d.as_secs());
            }
            if let Some(c) = e.correlation_id() {
                eprintln!("  correlation id: {c}");
            }
            if let Some(t) = e.trace_id() {
                eprintln!("  trace id: {t}");
            }
        }
    }
    ExitCode::from(exit_code(e))
}

/// Prints the outcome of a token flow and returns the exit code.
pub(crate) fn token_outcome(
    format: OutputFormat,
    outcome: Result<AuthenticationResult, Error>,
) -> ExitCode {
    let r = match outcome {
        Ok(r) => r,
        Err(e) => return fail(format, &e),
    };
    match format {
        OutputFormat::Json => print_json(&success_json(&r)),
        OutputFormat::Text => {
            let expires = r
                .expires_on
                .format(&Rfc3339)
                .unwrap_or_else(|_| r.expires_on.unix_timestamp().to_string());
            println!("token type:     {}", r.token_type);
            println!("scopes:         {}", r.scopes.join(" "));
            println!("expires on:     {expires}");
            println!("source:         {}", r.source.as_str());
            if let Some(t) = &r.tenant_id {
                println!("tenant:         {t}");
            }
            if let Some(a) = &r.account {
                println!("account:        {} ({})", a.username, a.home_account_id);
            }
            println!("correlation id: {}", r.correlation_id);
            println!("access token:   {}", r.access_token.secret());
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_every_contract_field_and_their_exit_code() {
        let e = Error::client("invalid_argument", "bad");
        let v = error_json(&e);
        let keys: Vec<&str> = v["error"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "kind",
                "code",
                "suberror",
                "classification",
                "aadsts_codes",
                "message",
                "claims",
                "correlation_id",
                "trace_id",
                "http_status",
                "retry_after_seconds",
                "throttled",
                "granted_scopes",
                "declined_scopes"
            ]
        );
        assert_eq!(v["error"]["kind"], "client");
        assert_eq!(v["error"]["classification"], Value::Null);
        assert_eq!(exit_code(&e), 6);
        assert_eq!(
            exit_code(&Error::cancelled("authentication_canceled", "x")),
            7
        );
        let ui = Error::ui_required(
            "no_tokens_found",
            msal::UiRequiredClassification::AcquireTokenSilentFailed,
            "x",
        );
        assert_eq!(exit_code(&ui), 3);
        assert_eq!(
            error_json(&ui)["error"]["classification"],
            "acquire_token_silent_failed"
        );
        assert_eq!(exit_code(&Error::service("x", "y")), 4);
    }
}
