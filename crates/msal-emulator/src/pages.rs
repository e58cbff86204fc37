//! Server-rendered HTML pages: the `/authorize` sign-in flow (sign-in, account picker,
//! password change, MFA, consent), the device login page, logout and the index page.
//!
//! Every page is a plain HTML form (no script needed) with stable element ids: `#username`,
//! `#password`, `#submit`, `#use-session`, `#mfa-code`, `#new-password`, `#accept`,
//! `#cancel`, `#user-code`; result pages carry `#success`, `#declined`, `#signed-out` or
//! `#error`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State as AxState};

use crate::shared::Shared;
use crate::state::{
    AuthParams, CodeGrant, DeviceStatus, Session, State, TenantSel, Txn, TxnKind, now_secs,
    random_token,
};
use crate::token::client_info;
use crate::wire::{AadErr, Ctx, Incoming, Reply, html_escape as h};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "msal_emulator_session";

fn error_page(status: u16, title: &str, err: &AadErr, ctx: &Ctx) -> Reply {
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

/// Whether a redirect URI is registered; loopback `http` URIs match on any port.
pub(crate) fn redirect_matches(registered: &[String], requested: &str) -> bool {
    let Ok(req) = url::Url::parse(requested) else {
        return false;
    };
    registered.iter().any(|r| {
        if r == requested {
            return true;
        }
        let Ok(reg) = url::Url::parse(r) else {
            return false;
        };
        let loopback = reg.scheme() == "http"
            && matches!(reg.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if loopback {
            req.scheme() == "http"
                && req.host_str() == reg.host_str()
                && req.path() == reg.path()
                && req.query() == reg.query()
        } else {
            reg == req
        }
    })
}

/// Builds the redirect back to the app, honouring `response_mode`.
fn redirect_to_app(params: &AuthParams, pairs: &[(&str, String)]) -> Reply {
    let mut all: Vec<(&str, String)> = pairs.to_vec();
    if let Some(s) = &params.state {
        all.push(("state", s.clone()));
    }
    if let Some(iss) = &params.iss {
        all.push(("iss", iss.clone()));
    }
    match params.response_mode.as_deref() {
        Some("form_post") => {
            let inputs: String = all
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        h(k),
                        h(v)
                    )
                })
                .collect();
            Reply::html(
                200,
                format!(
                    "<!DOCTYPE html><html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\"><form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><button type=\"submit\" id=\"submit\">Submit</button></noscript></form></body></html>",
                    h(&params.redirect_uri)
                ),
            )
        }
        mode => {
            let Ok(mut url) = url::Url::parse(&params.redirect_uri) else {
                return Reply::html(
                    400,
                    page("Error", "<p id=\"error\">Invalid redirect URI.</p>"),
                );
            };
            if mode == Some("fragment") {
                let frag: String = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(all.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish();
                url.set_fragment(Some(&frag));
            } else {
                url.query_pairs_mut()
                    .extend_pairs(all.iter().map(|(k, v)| (*k, v.as_str())));
            }
            Reply::redirect(url.as_str())
        }
    }
}

fn error_redirect(params: &AuthParams, ctx: &Ctx, err: &AadErr) -> Reply {
    let ts = Ctx::timestamp();
    redirect_to_app(
        params,
        &[
            ("error", err.oauth_error()),
            ("error_description", err.full_description(ctx, &ts)),
            ("error_uri", format!("{}error?code={}", ctx.base, err.code)),
        ],
    )
}

/// Validates the app and redirect URI of an `/authorize` request.
fn validate_authorize(
    st: &State,
    ctx: &Ctx,
    seg: &str,
    inc: &Incoming,
) -> Result<(AuthParams, String), Reply> {
    if st.resolve_tenant(seg).is_none() {
        return Err(error_page(
            400,
            "Sign in",
            &AadErr::new(90002).desc(format!("Tenant '{seg}' not found.")),
            ctx,
        ));
    }
    let Some(client_id) = inc.param("client_id") else {
        return Err(error_page(
            400,
            "Sign in",
            &AadErr::missing("client_id"),
            ctx,
        ));
    };
    let Some(app) = st.app(client_id) else {
        return Err(error_page(
            400,
            "Sign in",
            &AadErr::new(700016).desc(format!(
                "Application with identifier '{client_id}' was not found in the directory '{seg}'."
            )),
            ctx,
        ));
    };
    let Some(redirect_uri) = inc.param("redirect_uri") else {
        return Err(error_page(
            400,
            "Sign in",
            &AadErr::new(900971).desc("No reply address provided."),
            ctx,
        ));
    };
    if !redirect_matches(&app.cfg.redirect_uris, redirect_uri) {
        return Err(error_page(
            400,
            "Sign in",
            &AadErr::new(50011).desc(format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
                app.cfg.client_id
            )),
            ctx,
        ));
    }
    let params = AuthParams {
        redirect_uri: redirect_uri.to_string(),
        state: inc.param("state").map(str::to_string),
        nonce: inc.param("nonce").map(str::to_string),
        code_challenge: inc.param("code_challenge").map(str::to_string),
        code_challenge_method: inc.param("code_challenge_method").map(str::to_string),
        prompt: inc.param("prompt").map(str::to_ascii_lowercase),
        login_hint: inc.param("login_hint").map(str::to_string),
        response_mode: inc.param("response_mode").map(str::to_ascii_lowercase),
        claims: inc.param("claims").map(str::to_string),
        iss: st
            .options
            .authorization_response_iss
            .then(|| st.issuer(&ctx.base, seg))
            .flatten(),
    };
    Ok((params, app.cfg.client_id))
}

/// An `AadError` fault on the authorize endpoint: redirect with the error when the request
/// names a valid app and redirect URI, else an error page.
pub(crate) fn authorize_fault(
    shared: &Shared,
    ctx: &Ctx,
    seg: &str,
    inc: &Incoming,
    err: AadErr,
) -> Reply {
    let st = shared.st();
    match validate_authorize(&st, ctx, seg, inc) {
        Ok((params, _)) => error_redirect(&params, ctx, &err),
        Err(page) => page,
    }
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
pub(crate) async fn authorize(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(seg): Path<String>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let (shared, ctx, seg, inc) = (&*shared, &ctx, seg.as_str(), &*inc);
    let action = format!("/{seg}/oauth2/v2.0/authorize");
    if inc.f("txn").is_some() {
        return handle_step(shared, ctx, inc, &action);
    }
    let mut st = shared.st();
    st.purge();
    let (params, client_id) = match validate_authorize(&st, ctx, seg, inc) {
        Ok(v) => v,
        Err(page) => return page,
    };
    let fail = |err: AadErr| error_redirect(&params, ctx, &err);
    match inc.param("response_type") {
        Some("code") => {}
        Some(other) => {
            return fail(
                AadErr::new(700054)
                    .error("unsupported_response_type")
                    .desc(format!(
                        "The response_type '{other}' is not supported by the emulator; use 'code'."
                    )),
            );
        }
        None => return fail(AadErr::missing("response_type")),
    }
    let Some(scope) = inc.param("scope") else {
        return fail(AadErr::missing("scope"));
    };
    if let Err(e) = st.parse_scopes(scope) {
        return fail(e);
    }
    if let Err(e) = crate::state::ClaimsReq::parse(params.claims.as_deref()) {
        return fail(e);
    }
    if let Some(m) = &params.code_challenge_method
        && !m.eq_ignore_ascii_case("S256")
        && !m.eq_ignore_ascii_case("plain")
    {
        return fail(
            AadErr::new(501491)
                .error("invalid_request")
                .desc(format!("The code_challenge_method '{m}' is not supported.")),
        );
    }
    if let Some(p) = &params.prompt
        && !matches!(
            p.as_str(),
            "none" | "login" | "consent" | "select_account" | "create"
        )
    {
        return fail(
            AadErr::new(90023)
                .error("invalid_request")
                .desc(format!("The prompt value '{p}' is not supported.")),
        );
    }
    let txn_id = random_token(24);
    st.txns.insert(
        txn_id.clone(),
        Txn {
            kind: TxnKind::Authorize(Box::new(params)),
            tenant_seg: seg.to_string(),
            client_id,
            scope: scope.to_string(),
            username: None,
            mfa_done: false,
            consent_done: false,
            account_chosen: false,
            created: now_secs(),
        },
    );
    advance(shared, &mut st, ctx, inc, &txn_id, &action, None)
}

fn txn_params(txn: &Txn) -> Option<&AuthParams> {
    match &txn.kind {
        TxnKind::Authorize(p) => Some(p),
        TxnKind::Device { .. } => None,
    }
}

fn hidden(txn_id: &str, step: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"txn\" value=\"{}\"><input type=\"hidden\" name=\"step\" value=\"{}\">",
        h(txn_id),
        h(step)
    )
}

fn app_name(st: &State, txn: &Txn) -> String {
    st.app(&txn.client_id)
        .map(|a| a.cfg.name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| txn.client_id.clone())
}

fn login_page(
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

fn account_picker(st: &State, txn_id: &str, txn: &Txn, action: &str, session_user: &str) -> Reply {
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

fn password_page(txn_id: &str, action: &str, username: &str, error: Option<&str>) -> Reply {
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

fn mfa_page(txn_id: &str, action: &str, code: &str, error: Option<&str>) -> Reply {
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

fn scope_description(scope: &str) -> String {
    match scope {
        "openid" => "Sign you in".into(),
        "profile" => "View your basic profile".into(),
        "email" => "View your email address".into(),
        "offline_access" => "Maintain access to data you have given it access to".into(),
        s => format!("Access {s}"),
    }
}

fn consent_page(st: &State, txn_id: &str, txn: &Txn, action: &str) -> Reply {
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

fn session_cookie(id: &str) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax")
}

fn expired_txn(ctx: &Ctx) -> Reply {
    error_page(
        400,
        "Sign in",
        &AadErr::new(50089).desc(
            "Flow token expired - authentication has failed. Please start the sign-in again.",
        ),
        ctx,
    )
}

/// A form post from one of the sign-in pages.
fn handle_step(shared: &Shared, ctx: &Ctx, inc: &Incoming, action: &str) -> Reply {
    let mut st = shared.st();
    let txn_id = inc.f("txn").unwrap_or_default().to_string();
    let Some(mut txn) = st.txns.get(&txn_id).cloned() else {
        return expired_txn(ctx);
    };
    let sel = st
        .resolve_tenant(&txn.tenant_seg)
        .unwrap_or(TenantSel::Common);
    match inc.f("step").unwrap_or_default() {
        "login" => {
            let username = inc.f("username").unwrap_or_default().trim().to_string();
            let password = inc.f("password").unwrap_or_default();
            let user = st.user(&username).filter(|u| st.user_in(u, &sel));
            let error = match &user {
                None => Some(
                    "This username may be incorrect. Make sure you typed it correctly. (AADSTS50034)",
                ),
                Some(u) if u.disabled => Some(
                    "Your account has been locked. Contact your support person to unlock it, then try again. (AADSTS50057)",
                ),
                Some(u) if u.password != password => {
                    Some("Your account or password is incorrect. (AADSTS50126)")
                }
                Some(_) => None,
            };
            if let Some(e) = error {
                return login_page(&st, &txn_id, &txn, action, &username, Some(e));
            }
            txn.username = user.map(|u| u.username.to_ascii_lowercase());
            txn.mfa_done = false;
            txn.account_chosen = true;
        }
        "use_session" => {
            let session = inc
                .cookie(SESSION_COOKIE)
                .and_then(|id| st.sessions.get(&id).cloned());
            match session {
                Some(s) => {
                    txn.username = Some(s.username);
                    txn.mfa_done = s.mfa;
                    txn.account_chosen = true;
                }
                None => return login_page(&st, &txn_id, &txn, action, "", None),
            }
        }
        "password" => {
            let Some(username) = txn.username.clone() else {
                return expired_txn(ctx);
            };
            let new_password = inc.f("new_password").unwrap_or_default();
            let Some(mut user) = st.user(&username) else {
                return expired_txn(ctx);
            };
            if new_password.is_empty() || new_password == user.password {
                return password_page(
                    &txn_id,
                    action,
                    &username,
                    Some("Enter a new password that is different from the old one."),
                );
            }
            user.password = new_password.to_string();
            user.password_expired = false;
            if let Err(e) = st.upsert_user(user) {
                tracing::warn!("password change failed: {e}");
            }
        }
        "mfa" => {
            let code = inc.f("mfa_code").unwrap_or_default().trim().to_string();
            if code != st.options.mfa_code {
                let expected = st.options.mfa_code.clone();
                return mfa_page(
                    &txn_id,
                    action,
                    &expected,
                    Some("You didn't enter the expected verification code. Please try again."),
                );
            }
            txn.mfa_done = true;
        }
        "consent" => {
            let (Some(username), Some(app)) = (txn.username.clone(), st.app(&txn.client_id)) else {
                return expired_txn(ctx);
            };
            if inc.f("decision") != Some("accept") {
                st.txns.remove(&txn_id);
                return match &txn.kind {
                    TxnKind::Authorize(params) => error_redirect(params, ctx, &AadErr::new(65004)),
                    TxnKind::Device { device_code } => {
                        if let Some(g) = st.device_codes.get_mut(device_code) {
                            g.status = DeviceStatus::Denied;
                        }
                        Reply::html(
                            200,
                            page(
                                "Sign-in declined",
                                "<p id=\"declined\">You declined to sign in to the application on your device. You may now close this window.</p>",
                            ),
                        )
                    }
                };
            }
            if let (Some(user), Ok(req)) = (st.user(&username), st.parse_scopes(&txn.scope)) {
                let missing = st.missing_consent(&user, &app, &req);
                let mut full = missing;
                if req.resource_explicit && !req.is_default {
                    full.extend(
                        req.scopes
                            .iter()
                            .map(|s| format!("{}/{}", req.resource.identifier, s)),
                    );
                }
                st.record_consent(&username, &app.cfg.client_id, &full);
            }
            txn.consent_done = true;
        }
        _ => return expired_txn(ctx),
    }
    st.txns.insert(txn_id.clone(), txn);
    advance(shared, &mut st, ctx, inc, &txn_id, action, None)
}

/// Moves a sign-in forward: the next page to show, or the final redirect.
fn advance(
    _shared: &Shared,
    st: &mut State,
    ctx: &Ctx,
    inc: &Incoming,
    txn_id: &str,
    action: &str,
    _unused: Option<()>,
) -> Reply {
    let Some(mut txn) = st.txns.get(txn_id).cloned() else {
        return expired_txn(ctx);
    };
    let params = txn_params(&txn).cloned();
    let prompt = params.as_ref().and_then(|p| p.prompt.clone());
    let prompt_none = prompt.as_deref() == Some("none");
    let is_device = params.is_none();
    let sel = st
        .resolve_tenant(&txn.tenant_seg)
        .unwrap_or(TenantSel::Common);
    let fail = |err: AadErr| -> Reply {
        match &params {
            Some(p) => error_redirect(p, ctx, &err),
            None => error_page(400, "Sign in", &err, ctx),
        }
    };
    let session_id = inc.cookie(SESSION_COOKIE);
    if txn.username.is_none() {
        let session = session_id
            .as_ref()
            .and_then(|id| st.sessions.get(id).cloned())
            .filter(|s| {
                st.user(&s.username)
                    .is_some_and(|u| !u.disabled && st.user_in(&u, &sel))
            });
        let hint = params.as_ref().and_then(|p| p.login_hint.clone());
        match session {
            Some(s) if prompt.as_deref() != Some("login") => {
                let hint_mismatch = hint
                    .as_deref()
                    .is_some_and(|h| !h.eq_ignore_ascii_case(&s.username));
                if hint_mismatch {
                    if prompt_none {
                        return fail(AadErr::new(50058).error("login_required"));
                    }
                    return login_page(
                        st,
                        txn_id,
                        &txn,
                        action,
                        hint.as_deref().unwrap_or(""),
                        None,
                    );
                }
                if (prompt.as_deref() == Some("select_account") || is_device) && !txn.account_chosen
                {
                    return account_picker(st, txn_id, &txn, action, &s.username);
                }
                txn.username = Some(s.username.clone());
                txn.mfa_done = s.mfa;
                st.txns.insert(txn_id.to_string(), txn.clone());
            }
            _ => {
                if prompt_none {
                    return fail(AadErr::new(50058).error("login_required"));
                }
                return login_page(
                    st,
                    txn_id,
                    &txn,
                    action,
                    hint.as_deref().unwrap_or(""),
                    None,
                );
            }
        }
    }
    let username = txn.username.clone().unwrap_or_default();
    let Some(user) = st.user(&username) else {
        return login_page(st, txn_id, &txn, action, "", None);
    };
    if user.disabled {
        return fail(AadErr::new(50057));
    }
    if user.password_expired {
        if prompt_none {
            return fail(AadErr::new(50055).error("interaction_required"));
        }
        return password_page(txn_id, action, &user.username, None);
    }
    if user.mfa_required && !txn.mfa_done {
        if prompt_none {
            return fail(AadErr::new(50076));
        }
        let code = st.options.mfa_code.clone();
        return mfa_page(txn_id, action, &code, None);
    }
    // Signed in: remember the session (also when consent is still to be given).
    let sid = match &session_id {
        Some(id)
            if st
                .sessions
                .get(id)
                .is_some_and(|s| s.username == user.username.to_ascii_lowercase()) =>
        {
            id.clone()
        }
        _ => random_token(24),
    };
    let prior_mfa = st.sessions.get(&sid).is_some_and(|s| s.mfa);
    st.sessions.insert(
        sid.clone(),
        Session {
            username: user.username.to_ascii_lowercase(),
            mfa: txn.mfa_done || prior_mfa,
        },
    );
    let cookie = session_cookie(&sid);
    let Some(app) = st.app(&txn.client_id) else {
        return expired_txn(ctx);
    };
    let req = match st.parse_scopes(&txn.scope) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let missing = st.missing_consent(&user, &app, &req);
    let force = prompt.as_deref() == Some("consent");
    if (!missing.is_empty() || force) && !txn.consent_done {
        if prompt_none {
            return fail(AadErr::new(65001).error("consent_required")).header("set-cookie", cookie);
        }
        return consent_page(st, txn_id, &txn, action).header("set-cookie", cookie);
    }
    st.txns.remove(txn_id);
    match &txn.kind {
        TxnKind::Authorize(p) => {
            let granted = match st.grant(&user, &app, &req, &[], true) {
                Ok(g) => g,
                Err(e) => return fail(e),
            };
            let claims = crate::state::ClaimsReq::parse(p.claims.as_deref()).unwrap_or_default();
            let code = random_token(48);
            let lifetime = st.options.auth_code_lifetime_secs;
            st.codes.insert(
                code.clone(),
                CodeGrant {
                    client_id: app.cfg.client_id.clone(),
                    redirect_uri: p.redirect_uri.clone(),
                    code_challenge: p.code_challenge.clone(),
                    code_challenge_method: p.code_challenge_method.clone(),
                    username: user.username.to_ascii_lowercase(),
                    granted,
                    nonce: p.nonce.clone(),
                    claims,
                    mfa: txn.mfa_done,
                    expires_at: now_secs() + lifetime,
                },
            );
            let tid = st
                .home_tenant(user.tenant.as_deref())
                .map(|t| t.id)
                .unwrap_or_default();
            // On `common` and `organizations` the issuer is the user's tenant's.
            let mut p = p.clone();
            p.iss = p.iss.map(|i| i.replace("{tenantid}", &tid));
            redirect_to_app(
                &p,
                &[
                    ("code", code),
                    ("client_info", client_info(&user.oid(), &tid)),
                    ("session_state", sid.clone()),
                ],
            )
            .header("set-cookie", cookie)
        }
        TxnKind::Device { device_code } => {
            let Some(g) = st.device_codes.get_mut(device_code) else {
                return expired_txn(ctx);
            };
            if g.status != DeviceStatus::Pending {
                return error_page(
                    400,
                    "Sign in",
                    &AadErr::new(70019).desc("The code was already used or has expired."),
                    ctx,
                );
            }
            g.status = DeviceStatus::Approved {
                username: user.username.to_ascii_lowercase(),
                mfa: txn.mfa_done,
            };
            Reply::html(
                200,
                page(
                    "You're signed in",
                    &format!(
                        "<p id=\"success\">You have signed in to the <b>{}</b> application on your device. You may now close this window.</p>",
                        h(&app.cfg.name)
                    ),
                ),
            )
            .header("set-cookie", cookie)
        }
    }
}

fn device_code_page(prefill: &str, error: Option<&str>) -> Reply {
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

/// `GET|POST /devicelogin`.
pub(crate) async fn devicelogin(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let (shared, ctx, inc) = (&*shared, &ctx, &*inc);
    if inc.method == http::Method::GET {
        return device_code_page(inc.q("user_code").or(inc.q("otc")).unwrap_or(""), None);
    }
    if inc.f("txn").is_some() {
        return handle_step(shared, ctx, inc, "/devicelogin");
    }
    let mut st = shared.st();
    st.purge();
    let entered = inc.f("user_code").or(inc.f("otc")).unwrap_or_default();
    let Some((device_code, grant)) = st.device_by_user_code(entered) else {
        return device_code_page(
            entered,
            Some("That code didn't work. Check the code and try again. (AADSTS70018)"),
        );
    };
    if grant.expires_at <= std::time::Instant::now() {
        return device_code_page(
            entered,
            Some(
                "That code has expired. Get a new code from your device and try again. (AADSTS70019)",
            ),
        );
    }
    if grant.status != DeviceStatus::Pending {
        return device_code_page(entered, Some("That code was already used."));
    }
    let txn_id = random_token(24);
    st.txns.insert(
        txn_id.clone(),
        Txn {
            kind: TxnKind::Device { device_code },
            tenant_seg: grant.tenant_seg.clone(),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            username: None,
            mfa_done: false,
            consent_done: false,
            account_chosen: false,
            created: now_secs(),
        },
    );
    advance(shared, &mut st, ctx, inc, &txn_id, "/devicelogin", None)
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the sign-in session.
pub(crate) async fn logout(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    if let Some(id) = inc.cookie(SESSION_COOKIE) {
        shared.st().sessions.remove(&id);
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Some(uri) = inc.param("post_logout_redirect_uri")
        && let Ok(mut url) = url::Url::parse(uri)
    {
        if let Some(state) = inc.param("state") {
            url.query_pairs_mut().append_pair("state", state);
        }
        return Reply::redirect(url.as_str()).header("set-cookie", clear);
    }
    Reply::html(
        200,
        page(
            "You signed out of your account",
            "<p id=\"signed-out\">It's a good idea to close all browser windows.</p>",
        ),
    )
    .header("set-cookie", clear)
}

/// `GET /`: what this emulator serves.
pub(crate) async fn index(AxState(shared): AxState<Arc<Shared>>) -> Reply {
    let st = shared.st();
    let b = &shared.base;
    let tenants: String = st
        .tenants
        .iter()
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td><td><a href=\"{b}{}/v2.0/.well-known/openid-configuration\">metadata</a></td></tr>",
                h(&t.id),
                h(&t.domain),
                h(&t.id)
            )
        })
        .collect();
    let apps: String = st
        .apps
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                h(&a.cfg.client_id),
                h(&a.cfg.name),
                if a.cfg.public_client {
                    "public"
                } else {
                    "confidential"
                },
                if a.cfg.foci { "yes" } else { "no" }
            )
        })
        .collect();
    let users: String = st
        .users
        .iter()
        .map(|u| {
            let mut flags = Vec::new();
            if u.mfa_required {
                flags.push("MFA");
            }
            if u.password_expired {
                flags.push("password expired");
            }
            if u.disabled {
                flags.push("disabled");
            }
            if u.require_claims_challenge {
                flags.push("claims challenge");
            }
            if !u.consent_given {
                flags.push("no blanket consent");
            }
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                h(&u.username),
                h(&u.display_name),
                flags.join(", ")
            )
        })
        .collect();
    Reply::html(
        200,
        page(
            "MSAL Emulator",
            &format!(
                "<p>Authority: <code>{b}&lt;tenant&gt;</code>. Device login: <a href=\"{b}devicelogin\">{b}devicelogin</a>.</p><h2>Tenants</h2><table><tr><th>id</th><th>domain</th><th></th></tr>{tenants}</table><h2>Apps</h2><table><tr><th>client id</th><th>name</th><th>type</th><th>FOCI</th></tr>{apps}</table><h2>Users</h2><table><tr><th>username</th><th>name</th><th>state</th></tr>{users}</table>"
            ),
        ),
    )
}

/// `GET /error?code=N`: what an AADSTS code means.
pub(crate) async fn error_code_page(Extension(inc): Extension<Arc<Incoming>>) -> Reply {
    let code: Option<u32> = inc.q("code").and_then(|c| c.parse().ok());
    match code.and_then(crate::aadsts::lookup) {
        Some(e) => Reply::html(
            200,
            page(
                &format!("AADSTS{}", e.code),
                &format!(
                    "<p id=\"error\"><b>{}</b>{}</p><p>{}</p><p>HTTP status {}</p>",
                    h(e.error),
                    e.suberror
                        .map(|s| format!(" (suberror <b>{}</b>)", h(s)))
                        .unwrap_or_default(),
                    h(e.description),
                    e.status
                ),
            ),
        ),
        None => Reply::html(
            404,
            page(
                "Unknown error code",
                "<p id=\"error\">The emulator's table has no such code.</p>",
            ),
        ),
    }
}

/// Renders a small HTML page in the emulator's style.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{t}</title>\n<style>\nbody{{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}}\nmain{{max-width:440px;margin:48px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}\nh1{{font-size:24px;font-weight:600;margin:0 0 16px}}\nlabel{{display:block;margin:12px 0 4px}}\ninput[type=text],input[type=password],input[type=email]{{width:100%;box-sizing:border-box;padding:6px;font-size:15px}}\nbutton{{margin-top:20px;padding:6px 24px;font-size:15px;background:#0067b8;color:#fff;border:0}}\nbutton.secondary{{background:#ccc;color:#000}}\n.error{{color:#e81123}}\n.banner{{color:#666;font-size:13px}}\ntable{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px}}\n</style>\n</head>\n<body>\n<main>\n<p class=\"banner\">MSAL Emulator &mdash; a local Microsoft Entra ID look-alike</p>\n<h1>{t}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        t = h(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_any_port() {
        let reg = vec![
            "http://localhost".to_string(),
            "https://app.example/cb".to_string(),
        ];
        assert!(redirect_matches(&reg, "http://localhost"));
        assert!(redirect_matches(&reg, "http://localhost:51234"));
        assert!(redirect_matches(&reg, "http://localhost:51234/"));
        assert!(!redirect_matches(&reg, "http://localhost:51234/other"));
        assert!(!redirect_matches(&reg, "http://127.0.0.1:51234"));
        assert!(redirect_matches(&reg, "https://app.example/cb"));
        assert!(!redirect_matches(&reg, "https://app.example:8443/cb"));
        assert!(!redirect_matches(&reg, "not a url"));
    }
}
