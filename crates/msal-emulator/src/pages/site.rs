//! The pages outside the sign-in flow: the index, the AADSTS code page, and sign-out.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State as AxState;

use crate::aadsts::lookup;
use crate::shared::Shared;
use crate::wire::{Incoming, Reply, html_escape as h};

use super::flow::SESSION_COOKIE;
use super::html::page;

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
    match code.and_then(lookup) {
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
