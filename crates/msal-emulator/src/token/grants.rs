//! The grants of the token endpoint: client credentials, password (ROPC), refresh token,
//! authorization code, device code and on-behalf-of.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::config::UserConfig;
use crate::records::{ClaimsReq, DeviceStatus, Spent};
use crate::shared::Shared;
use crate::state::{App, State, TenantSel, now_secs, random_token};
use crate::wire::{AadErr, Ctx, Incoming, Reply};

use super::issue::{OwnTokenError, UserIssue, issue_user_tokens, sign, verify_own_token};

/// `grant_type=client_credentials`: an app token for `{resource}/.default`, with the app's
/// roles on that resource.
pub(super) fn client_credentials(
    shared: &Shared,
    st: &State,
    app: &App,
    inc: &Incoming,
    sel: &TenantSel,
    azpacr: &str,
) -> Result<Reply, AadErr> {
    let tenant = match sel {
        TenantSel::Specific(t) => t.clone(),
        _ => return Err(AadErr::new(90010)),
    };
    let scope = inc.f("scope").ok_or_else(|| AadErr::missing("scope"))?;
    let parts: Vec<&str> = scope.split_whitespace().collect();
    let [one] = parts.as_slice() else {
        return Err(AadErr::new(1002012).desc(format!(
            "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        )));
    };
    let (resource, rest) = st.split_scope(one)?;
    if !rest.eq_ignore_ascii_case(".default") {
        return Err(AadErr::new(1002012).desc(format!(
            "The provided value for scope {one} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        )));
    }
    let prefix = format!("{}/", resource.identifier.to_ascii_lowercase());
    let roles: Vec<String> = app
        .cfg
        .app_roles
        .iter()
        .filter(|r| r.to_ascii_lowercase().starts_with(&prefix))
        .map(|r| r[prefix.len()..].to_string())
        .collect();
    let now = now_secs();
    let lifetime = st.options.access_token_lifetime_secs;
    let sp_oid = crate::config::derived_guid(&format!("sp:{}", app.cfg.client_id));
    let mut claims = json!({
        "aud": resource.identifier,
        "iss": shared.issuer(&tenant.id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": random_token(24),
        "azp": app.cfg.client_id,
        "appid": app.cfg.client_id,
        "azpacr": azpacr,
        "idtyp": "app",
        "oid": sp_oid,
        "rh": "0.emulator",
        "sub": sp_oid,
        "tid": tenant.id,
        "uti": random_token(16),
        "ver": "2.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    let at = sign(shared, &claims)?;
    Ok(Reply::json(
        200,
        &json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": at,
        }),
    ))
}

/// Checks that a user may get tokens (exists in the tenant, enabled).
fn active_user(st: &State, username: &str, sel: Option<&TenantSel>) -> Result<UserConfig, AadErr> {
    let not_found = || {
        AadErr::new(50034).desc(format!(
            "The user account {username} does not exist in the directory. To sign into this application, the account must be added to the directory."
        ))
    };
    let user = st.user(username).ok_or_else(not_found)?;
    if let Some(sel) = sel
        && !st.user_in(&user, sel)
    {
        return Err(not_found());
    }
    if user.disabled {
        return Err(AadErr::new(50057));
    }
    Ok(user)
}

/// `grant_type=password` (ROPC): the user's name and password.
#[allow(clippy::too_many_arguments)]
pub(super) fn ropc(
    shared: &Shared,
    st: &mut State,
    _ctx: &Ctx,
    app: &App,
    inc: &Incoming,
    sel: &TenantSel,
    declined: &[String],
    azpacr: &str,
) -> Result<Reply, AadErr> {
    let username = inc
        .f("username")
        .ok_or_else(|| AadErr::missing("username"))?;
    let password = inc
        .f("password")
        .ok_or_else(|| AadErr::missing("password"))?;
    let scope = inc.f("scope").ok_or_else(|| AadErr::missing("scope"))?;
    if matches!(sel, TenantSel::Consumers) {
        return Err(AadErr::new(90010));
    }
    let user = active_user(st, username, Some(sel))?;
    if user.password != password {
        return Err(AadErr::new(50126));
    }
    if user.password_expired {
        return Err(AadErr::new(50055));
    }
    if user.mfa_required {
        return Err(AadErr::new(50076));
    }
    let req = st.parse_scopes(scope)?;
    let granted = st.grant(&user, app, &req, declined, false)?;
    let claims = ClaimsReq::parse(inc.f("claims"))?;
    issue_user_tokens(
        shared,
        st,
        inc,
        UserIssue {
            app,
            user: &user,
            granted,
            nonce: None,
            claims,
            mfa: false,
            azpacr,
        },
    )
}

/// `grant_type=refresh_token`: a refresh token of the app (or of its family), rotated.
pub(super) fn refresh(
    shared: &Shared,
    st: &mut State,
    app: &App,
    inc: &Incoming,
    sel: &TenantSel,
    declined: &[String],
    azpacr: &str,
) -> Result<Reply, AadErr> {
    let rt = inc
        .f("refresh_token")
        .ok_or_else(|| AadErr::missing("refresh_token"))?;
    let Some(grant) = st.refresh_tokens.get(rt).cloned() else {
        return Err(match st.spent_refresh_tokens.get(rt) {
            Some(Spent::Rotated) => AadErr::new(70000).desc(
                "Provided grant is invalid or malformed. The refresh token was already redeemed and has been replaced by a newer one.",
            ),
            Some(Spent::Revoked) => AadErr::new(50173),
            None => AadErr::new(9002313),
        });
    };
    let now = now_secs();
    if now.saturating_sub(grant.last_used) > st.options.refresh_token_max_inactive_secs {
        st.refresh_tokens.remove(rt);
        return Err(AadErr::new(700082));
    }
    let same_client = grant.client_id.eq_ignore_ascii_case(&app.cfg.client_id);
    let family = grant.foci && app.cfg.foci;
    if !(same_client || family) {
        return Err(AadErr::new(70000).desc(format!(
            "Provided grant is invalid or malformed. The refresh token was issued to a different client id than '{}'.",
            app.cfg.client_id
        )));
    }
    let user = active_user(st, &grant.username, Some(sel))?;
    if user.mfa_required && !grant.mfa {
        return Err(AadErr::new(50076));
    }
    if user.password_expired {
        return Err(AadErr::new(50055));
    }
    let scope = match inc.f("scope") {
        Some(s) => s.to_string(),
        None => {
            let mut all = grant.granted.full_scopes();
            all.extend(grant.granted.oidc.iter().cloned());
            all.join(" ")
        }
    };
    let mut req = st.parse_scopes(&scope)?;
    // Refreshing keeps the refresh token: offline_access is implied.
    if !req.oidc.iter().any(|s| s == "offline_access") {
        req.oidc.push("offline_access".into());
    }
    let granted = st.grant(&user, app, &req, declined, false)?;
    let claims = match inc.f("claims") {
        Some(c) => ClaimsReq::parse(Some(c))?,
        None => grant.claims.clone(),
    };
    st.refresh_tokens.remove(rt);
    st.spent_refresh_tokens
        .insert(rt.to_string(), Spent::Rotated);
    issue_user_tokens(
        shared,
        st,
        inc,
        UserIssue {
            app,
            user: &user,
            granted,
            nonce: None,
            claims,
            mfa: grant.mfa,
            azpacr,
        },
    )
}

/// `grant_type=authorization_code`: a code from `/authorize`, with its PKCE verifier.
pub(super) fn auth_code(
    shared: &Shared,
    st: &mut State,
    app: &App,
    inc: &Incoming,
    declined: &[String],
    azpacr: &str,
) -> Result<Reply, AadErr> {
    let code = inc.f("code").ok_or_else(|| AadErr::missing("code"))?;
    let Some(grant) = st.codes.remove(code) else {
        return Err(if st.used_codes.contains(code) {
            AadErr::new(70008).desc(
                "The provided authorization code or refresh token has expired due to inactivity. The authorization code was already redeemed. Send a new interactive authorization request for this user and resource.",
            )
        } else {
            AadErr::new(9002313)
        });
    };
    st.used_codes.insert(code.to_string());
    if grant.expires_at <= now_secs() {
        return Err(AadErr::new(70008));
    }
    if !grant.client_id.eq_ignore_ascii_case(&app.cfg.client_id) {
        return Err(AadErr::new(70000).desc(
            "Provided grant is invalid or malformed. The authorization code was issued to a different client.",
        ));
    }
    let redirect = inc
        .f("redirect_uri")
        .ok_or_else(|| AadErr::missing("redirect_uri"))?;
    if redirect != grant.redirect_uri {
        return Err(AadErr::new(500112).desc(format!(
            "The reply address '{redirect}' does not match the reply address '{}' provided when requesting Authorization code.",
            grant.redirect_uri
        )));
    }
    if let Some(challenge) = &grant.code_challenge {
        let verifier = inc.f("code_verifier").unwrap_or_default();
        let ok = match grant.code_challenge_method.as_deref() {
            Some(m) if m.eq_ignore_ascii_case("plain") => verifier == challenge,
            _ => URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())) == *challenge,
        };
        if verifier.is_empty() || !ok {
            return Err(AadErr::new(501481));
        }
    }
    let user = active_user(st, &grant.username, None)?;
    issue_user_tokens(
        shared,
        st,
        inc,
        UserIssue {
            app,
            user: &user,
            granted: grant.granted.without(declined),
            nonce: grant.nonce,
            claims: grant.claims,
            mfa: grant.mfa,
            azpacr,
        },
    )
}

/// The device code grant: pending, slow down, declined, expired, or the tokens.
pub(super) fn device_code_grant(
    shared: &Shared,
    st: &mut State,
    app: &App,
    inc: &Incoming,
    declined: &[String],
    azpacr: &str,
) -> Result<Reply, AadErr> {
    let dc = inc
        .f("device_code")
        .ok_or_else(|| AadErr::missing("device_code"))?;
    let Some(grant) = st.device_codes.get(dc).cloned() else {
        return Err(AadErr::new(70000)
            .desc("Provided grant is invalid or malformed. The device code is not known."));
    };
    if !grant.client_id.eq_ignore_ascii_case(&app.cfg.client_id) {
        return Err(AadErr::new(70000)
            .desc("Provided grant is invalid or malformed. The device code was issued to a different client."));
    }
    let now = Instant::now();
    if grant.expires_at <= now {
        return Err(AadErr::new(70019));
    }
    match &grant.status {
        DeviceStatus::Denied => {
            st.device_codes.remove(dc);
            Err(AadErr::new(70000)
                .error("authorization_declined")
                .desc("The end user denied the authorization request."))
        }
        DeviceStatus::Pending => {
            let too_fast = grant.last_poll.is_some_and(|last| {
                let min =
                    Duration::from_secs(grant.interval).saturating_sub(Duration::from_millis(100));
                now.duration_since(last) < min
            });
            if let Some(g) = st.device_codes.get_mut(dc) {
                g.last_poll = Some(now);
            }
            if too_fast {
                Err(AadErr::new(70016)
                    .error("slow_down")
                    .desc("OAuth 2.0 device flow error. The client is polling too fast; increase the interval between requests by 5 seconds."))
            } else {
                Err(AadErr::new(70016))
            }
        }
        DeviceStatus::Approved { username, mfa } => {
            let user = active_user(st, username, None)?;
            let req = st.parse_scopes(&grant.scope)?;
            let granted = st.grant(&user, app, &req, declined, true)?;
            let claims = ClaimsReq::parse(grant.claims.as_deref())?;
            st.device_codes.remove(dc);
            issue_user_tokens(
                shared,
                st,
                inc,
                UserIssue {
                    app,
                    user: &user,
                    granted,
                    nonce: None,
                    claims,
                    mfa: *mfa,
                    azpacr,
                },
            )
        }
    }
}

/// The on-behalf-of grant (`jwt-bearer`): a user token for this app, exchanged for one to
/// another resource.
pub(super) fn obo(
    shared: &Shared,
    st: &mut State,
    app: &App,
    inc: &Incoming,
    declined: &[String],
    azpacr: &str,
) -> Result<Reply, AadErr> {
    if app.cfg.public_client {
        return Err(AadErr::new(7000218));
    }
    let assertion = inc
        .f("assertion")
        .ok_or_else(|| AadErr::missing("assertion"))?;
    if inc.f("requested_token_use") != Some("on_behalf_of") {
        return Err(AadErr::missing("requested_token_use").desc(
            "The request body must contain the following parameter: 'requested_token_use' with the value 'on_behalf_of'.",
        ));
    }
    let scope = inc.f("scope").ok_or_else(|| AadErr::missing("scope"))?;
    let claims = verify_own_token(shared, assertion).map_err(|e| match e {
        OwnTokenError::Expired => AadErr::new(500133),
        OwnTokenError::Invalid(why) => AadErr::new(50013).desc(format!(
            "Assertion failed signature validation. [Reason - {why}]"
        )),
    })?;
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let aud_ok = aud.eq_ignore_ascii_case(&app.cfg.client_id)
        || st.resources.iter().any(|r| {
            r.identifier.eq_ignore_ascii_case(aud)
                && r.app_id
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&app.cfg.client_id))
        });
    if !aud_ok {
        return Err(AadErr::new(50013).desc(format!(
            "Assertion failed signature validation. [Reason - The assertion audience '{aud}' does not match the client application '{}'.]",
            app.cfg.client_id
        )));
    }
    let oid = claims
        .get("oid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if claims.get("idtyp").and_then(Value::as_str) == Some("app") {
        return Err(AadErr::new(50013).desc(
            "Assertion failed signature validation. [Reason - The assertion is an app-only token; on-behalf-of needs a user token.]",
        ));
    }
    let user = st.user_by_oid(oid).ok_or_else(|| AadErr::new(50034))?;
    let user = active_user(st, &user.username, None)?;
    let mfa = claims
        .get("amr")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "mfa"));
    let req = st.parse_scopes(scope)?;
    let granted = st.grant(&user, app, &req, declined, false)?;
    let claims_req = ClaimsReq::parse(inc.f("claims"))?;
    issue_user_tokens(
        shared,
        st,
        inc,
        UserIssue {
            app,
            user: &user,
            granted,
            nonce: None,
            claims: claims_req,
            mfa,
            azpacr,
        },
    )
}
