//! The pages' HTML: the layout, and one function per page of the sign-in and device login
//! flows. Pure rendering: no state changes.

use crate::records::Txn;
use crate::state::State;
use crate::wire::{AadErr, Ctx, Reply, html_escape as h};

/// Renders a small HTML page in the emulator's style.
pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{t}</title>\n<style>\nbody{{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}}\nmain{{max-width:440px;margin:48px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}\nh1{{font-size:24px;font-weight:600;margin:0 0 16px}}\nlabel{{display:block;margin:12px 0 4px}}\ninput[type=text],input[type=password],input[type=email]{{width:100%;box-sizing:border-box;padding:6px;font-size:15px}}\nbutton{{margin-top:20px;padding:6px 24px;font-size:15px;background:#0067b8;color:#fff;border:0}}\nbutton.secondary{{background:#ccc;color:#000}}\n.error{{color:#e81123}}\n.banner{{color:#666;font-size:13px}}\ntable{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px}}\n</style>\n</head>\n<body>\n<main>\n<p class=\"banner\">MSAL Emulator &mdash; a local Microsoft Entra ID look-alike</p>\n<h1>{t}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        t = h(title)
    )
}

/// An error page with the AADSTS code and the request's ids.
pub(super) fn error_page(status: u16, title: &str, err: &AadErr, ctx: &Ctx) -> Reply {
    Reply::html(
        status,
        page(
            title,
            &format!(
                "<div id=\"error\"><p class=\"error\">AADSTS{}: {}</p><p class=\"banner\">Trace ID: {}<br>Correlation ID: {}<br>Timestamp: {}</p></div>",
                err.code,
                h(&err.text()),
                h(&ctx.trace_id),
                h(&ctx.correlation_id),
                Ctx::timestamp()
            ),
        ),
    )
}

/// The sign-in transaction is gone (expired, or never existed): AADSTS50089.
pub(super) fn expired_txn(ctx: &Ctx) -> Reply {
    error_page(
        400,
        "Sign in",
        &AadErr::new(50089).desc(
            "Flow token expired - authentication has failed. Please start the sign-in again.",
        ),
        ctx,
    )
}

/// The hidden fields that tie a form post to its transaction and step.
fn hidden(txn_id: &str, step: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"txn\" value=\"{}\"><input type=\"hidden\" name=\"step\" value=\"{}\">",
        h(txn_id),
        h(step)
    )
}

/// The name the pages show for the transaction's app.
fn app_name(st: &State, txn: &Txn) -> String {
    st.app(&txn.client_id)
        .map(|a| a.cfg.name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| txn.client_id.clone())
}

/// The sign-in page: user name and password.
pub(super) fn login_page(
    st: &State,
    txn_id: &str,
    txn: &Txn,
    action: &str,
    prefill: &str,
    error: Option<&str>,
) -> Reply {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", h(e)))
        .unwrap_or_default();
    Reply::html(
        200,
        page(
            "Sign in",
            &format!(
                "<p>to continue to <b>{app}</b></p>{err}<form method=\"post\" action=\"{action}\" id=\"login-form\">{hidden}<label for=\"username\">Email, phone, or Skype</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{prefill}\" autocomplete=\"username\"><label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\"><button type=\"submit\" id=\"submit\">Sign in</button></form>",
                app = h(&app_name(st, txn)),
                action = h(action),
                hidden = hidden(txn_id, "login"),
                prefill = h(prefill),
            ),
        ),
    )
}

/// The account picker: continue as the signed-in user, or sign in as another.
pub(super) fn account_picker(
    st: &State,
    txn_id: &str,
    txn: &Txn,
    action: &str,
    session_user: &str,
) -> Reply {
    Reply::html(
        200,
        page(
            "Pick an account",
            &format!(
                "<p>to continue to <b>{app}</b></p><form method=\"post\" action=\"{action}\" id=\"session-form\">{hidden}<button type=\"submit\" id=\"use-session\">Continue as {user}</button></form><h2>Use another account</h2><form method=\"post\" action=\"{action}\" id=\"login-form\">{hidden_login}<label for=\"username\">Email, phone, or Skype</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\"><label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\"><button type=\"submit\" id=\"submit\">Sign in</button></form>",
                app = h(&app_name(st, txn)),
                action = h(action),
                hidden = hidden(txn_id, "use_session"),
                hidden_login = hidden(txn_id, "login"),
                user = h(session_user),
            ),
        ),
    )
}

/// The password change page, for a user whose password has expired.
pub(super) fn password_page(
    txn_id: &str,
    action: &str,
    username: &str,
    error: Option<&str>,
) -> Reply {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", h(e)))
        .unwrap_or_default();
    Reply::html(
        200,
        page(
            "Update your password",
            &format!(
                "<p>You need to update your password because this is the first time you are signing in, or because your password has expired.</p><p>{user}</p>{err}<form method=\"post\" action=\"{action}\" id=\"password-form\">{hidden}<label for=\"new-password\">New password</label><input type=\"password\" id=\"new-password\" name=\"new_password\" autocomplete=\"new-password\"><button type=\"submit\" id=\"submit\">Sign in</button></form>",
                user = h(username),
                action = h(action),
                hidden = hidden(txn_id, "password"),
            ),
        ),
    )
}

/// The MFA page: enter the code (which the emulator shows).
pub(super) fn mfa_page(txn_id: &str, action: &str, code: &str, error: Option<&str>) -> Reply {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", h(e)))
        .unwrap_or_default();
    Reply::html(
        200,
        page(
            "Enter code",
            &format!(
                "<p>We texted your phone. Please enter the code to sign in.</p><p class=\"banner\">Emulator: the code is <code id=\"expected-mfa-code\">{code}</code>.</p>{err}<form method=\"post\" action=\"{action}\" id=\"mfa-form\">{hidden}<label for=\"mfa-code\">Code</label><input type=\"text\" id=\"mfa-code\" name=\"mfa_code\" autocomplete=\"one-time-code\" inputmode=\"numeric\"><button type=\"submit\" id=\"submit\">Verify</button></form>",
                code = h(code),
                action = h(action),
                hidden = hidden(txn_id, "mfa"),
            ),
        ),
    )
}

/// How the consent page describes a scope.
fn scope_description(scope: &str) -> String {
    match scope {
        "openid" => "Sign you in".into(),
        "profile" => "View your basic profile".into(),
        "email" => "View your email address".into(),
        "offline_access" => "Maintain access to data you have given it access to".into(),
        s => format!("Access {s}"),
    }
}

/// The consent page: the permissions the app asks for, accept or cancel.
pub(super) fn consent_page(st: &State, txn_id: &str, txn: &Txn, action: &str) -> Reply {
    let items: String = txn
        .scope
        .split_whitespace()
        .map(|s| {
            format!(
                "<li class=\"scope\" data-scope=\"{}\">{}</li>",
                h(s),
                h(&scope_description(s))
            )
        })
        .collect();
    let user = txn.username.as_deref().unwrap_or_default();
    Reply::html(
        200,
        page(
            "Permissions requested",
            &format!(
                "<p>{user}</p><p><b>{app}</b> would like to:</p><ul id=\"scopes\">{items}</ul><p>Accepting these permissions means that you allow this app to use your data as specified in their terms of service and privacy statement.</p><form method=\"post\" action=\"{action}\" id=\"consent-form\">{hidden}<button type=\"submit\" id=\"cancel\" name=\"decision\" value=\"cancel\" class=\"secondary\">Cancel</button> <button type=\"submit\" id=\"accept\" name=\"decision\" value=\"accept\">Accept</button></form>",
                user = h(user),
                app = h(&app_name(st, txn)),
                action = h(action),
                hidden = hidden(txn_id, "consent"),
            ),
        ),
    )
}

/// The device login page: enter the code shown on the device.
pub(super) fn device_code_page(prefill: &str, error: Option<&str>) -> Reply {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", h(e)))
        .unwrap_or_default();
    Reply::html(
        200,
        page(
            "Enter code",
            &format!(
                "<p>Enter the code displayed on your app or device.</p>{err}<form method=\"post\" action=\"/devicelogin\" id=\"code-form\"><input type=\"hidden\" name=\"step\" value=\"code\"><label for=\"user-code\">Code</label><input type=\"text\" id=\"user-code\" name=\"user_code\" value=\"{}\" autocomplete=\"off\"><button type=\"submit\" id=\"submit\">Next</button></form>",
                h(prefill)
            ),
        ),
    )
}

/// The device flow's last page: signed in to the app on the device.
pub(super) fn device_signed_in_page(app_name: &str) -> Reply {
    Reply::html(
        200,
        page(
            "You're signed in",
            &format!(
                "<p id=\"success\">You have signed in to the <b>{}</b> application on your device. You may now close this window.</p>",
                h(app_name)
            ),
        ),
    )
}

/// The device flow's page after the user declined consent.
pub(super) fn device_declined_page() -> Reply {
    Reply::html(
        200,
        page(
            "Sign-in declined",
            "<p id=\"declined\">You declined to sign in to the application on your device. You may now close this window.</p>",
        ),
    )
}
