//! `POST /{tenant}/oauth2/v2.0/token`: the client is authenticated, then the grant type
//! chooses the grant.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State as AxState};

use crate::shared::Shared;
use crate::state::State;
use crate::wire::{AadErr, Ctx, DeclinedScopes, Incoming, Reply};

use super::client::{authenticate_client, basic_auth};
use super::grants::{auth_code, client_credentials, device_code_grant, obo, refresh, ropc};

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The short name Entra accepts as well, and that msal-node and MSAL.NET send.
const DEVICE_CODE_GRANT_SHORT: &str = "device_code";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(seg): Path<String>,
    Extension(inc): Extension<Arc<Incoming>>,
    declined: Option<Extension<DeclinedScopes>>,
) -> Reply {
    let declined = declined.map(|Extension(d)| d.0).unwrap_or_default();
    let mut st = shared.st();
    st.purge();
    match token_inner(&shared, &mut st, &ctx, &seg, &inc, &declined) {
        Ok(r) => r,
        Err(e) => e.reply(&ctx),
    }
}

/// AADSTS90002: the tenant segment names no tenant.
pub(super) fn unknown_tenant_err(seg: &str) -> AadErr {
    AadErr::new(90002).error("invalid_request").desc(format!(
        "Tenant '{seg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
    ))
}

fn token_inner(
    shared: &Shared,
    st: &mut State,
    ctx: &Ctx,
    seg: &str,
    inc: &Incoming,
    declined: &[String],
) -> Result<Reply, AadErr> {
    let sel = st
        .resolve_tenant(seg)
        .ok_or_else(|| unknown_tenant_err(seg))?;
    let grant_type = inc
        .f("grant_type")
        .ok_or_else(|| AadErr::missing("grant_type"))?;
    let basic = basic_auth(inc);
    let client_id = inc
        .f("client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|b| b.0.clone()))
        .ok_or_else(|| AadErr::missing("client_id"))?;
    let app = st.app(&client_id).ok_or_else(|| {
        AadErr::new(700016).desc(format!(
            "Application with identifier '{client_id}' was not found in the directory '{seg}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ))
    })?;
    let azpacr = authenticate_client(shared, &app, inc, basic.map(|b| b.1), seg, &sel)?;
    let bound = super::bound::requested(inc)?;
    let reply = match grant_type {
        "client_credentials" => client_credentials(shared, st, &app, inc, &sel, azpacr),
        "password" => ropc(shared, st, ctx, &app, inc, &sel, declined, azpacr),
        "refresh_token" => refresh(shared, st, &app, inc, &sel, declined, azpacr),
        "authorization_code" => auth_code(shared, st, &app, inc, declined, azpacr),
        DEVICE_CODE_GRANT | DEVICE_CODE_GRANT_SHORT => {
            device_code_grant(shared, st, &app, inc, declined, azpacr)
        }
        JWT_BEARER_GRANT => obo(shared, st, &app, inc, declined, azpacr),
        other => Err(AadErr::new(70003)
            .error("unsupported_grant_type")
            .desc(format!(
                "The app requested an unsupported grant type '{other}'."
            ))),
    }?;
    super::bound::bind(shared, &bound, reply)
}
