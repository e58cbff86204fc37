//! `POST /{tenant}/oauth2/v2.0/devicecode`: the device authorization endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Path, State as AxState};
use serde_json::json;

use crate::records::{ClaimsReq, DeviceGrant, DeviceStatus};
use crate::shared::Shared;
use crate::state::{State, random_token};
use crate::wire::{AadErr, Ctx, Incoming, Reply};

use super::endpoint::unknown_tenant_err;

fn user_code() -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..8)
        .map(|_| LETTERS[rand::random_range(0..LETTERS.len())] as char)
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn devicecode(
    AxState(shared): AxState<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(seg): Path<String>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let mut st = shared.st();
    st.purge();
    match devicecode_inner(&shared, &mut st, &seg, &inc) {
        Ok(r) => r,
        Err(e) => e.reply(&ctx),
    }
}

fn devicecode_inner(
    shared: &Shared,
    st: &mut State,
    seg: &str,
    inc: &Incoming,
) -> Result<Reply, AadErr> {
    st.resolve_tenant(seg)
        .ok_or_else(|| unknown_tenant_err(seg))?;
    let client_id = inc
        .f("client_id")
        .ok_or_else(|| AadErr::missing("client_id"))?;
    let app = st.app(client_id).ok_or_else(|| {
        AadErr::new(700016).desc(format!(
            "Application with identifier '{client_id}' was not found in the directory '{seg}'."
        ))
    })?;
    let scope = inc.f("scope").ok_or_else(|| AadErr::missing("scope"))?;
    st.parse_scopes(scope)?;
    let claims = inc.f("claims");
    ClaimsReq::parse(claims)?;
    let device_code = random_token(48);
    let mut code = user_code();
    while st.device_by_user_code(&code).is_some() {
        code = user_code();
    }
    let interval = app
        .cfg
        .device_code_interval_secs
        .unwrap_or(st.options.device_code_interval_secs);
    let expires_in = st.options.device_code_expires_in_secs;
    let uri = format!("{}devicelogin", shared.base);
    st.device_codes.insert(
        device_code.clone(),
        DeviceGrant {
            user_code: code.clone(),
            client_id: app.cfg.client_id.clone(),
            tenant_seg: seg.to_string(),
            scope: scope.to_string(),
            claims: claims.map(str::to_string),
            interval,
            expires_at: Instant::now() + Duration::from_secs(expires_in),
            last_poll: None,
            status: DeviceStatus::Pending,
        },
    );
    Ok(Reply::json(
        200,
        &json!({
            "user_code": code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": expires_in,
            "interval": interval,
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate."),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_upper_case_letters() {
        let c = user_code();
        assert_eq!(c.len(), 8);
        assert!(c.chars().all(|c| c.is_ascii_uppercase()));
    }
}
