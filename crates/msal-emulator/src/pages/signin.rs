//! The authorize endpoint: checks the request, then starts a sign-in transaction.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State as AxState};

use crate::records::{AuthParams, ClaimsReq, Txn, TxnKind};
use crate::shared::Shared;
use crate::state::{State, now_secs, random_token};
use crate::wire::{AadErr, Ctx, Incoming, Reply};

use super::flow::advance;
use super::html::error_page;
use super::redirect::{error_redirect, redirect_matches};
use super::steps::handle_step;

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
    if let Err(e) = ClaimsReq::parse(params.claims.as_deref()) {
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
    advance(&mut st, ctx, inc, &txn_id, &action)
}
