//! The token endpoint (every grant) and the device authorization endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Path, State as AxState};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::config::{TenantConfig, UserConfig};
use crate::shared::Shared;
use crate::state::{
    App, ClaimsReq, DeviceGrant, DeviceStatus, Granted, RefreshGrant, Spent, State, TenantSel,
    now_secs, random_token,
};
use crate::wire::{AadErr, Ctx, DeclinedScopes, Incoming, Reply};

const JWT_BEARER_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
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

fn unknown_tenant_err(seg: &str) -> AadErr {
    AadErr::new(90002).error("invalid_request").desc(format!(
        "Tenant '{seg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
    ))
}

fn basic_auth(inc: &Incoming) -> Option<(String, String)> {
    let h = inc.header("authorization")?;
    let b64 = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))?;
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
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
    match grant_type {
        "client_credentials" => client_credentials(shared, st, &app, inc, &sel, azpacr),
        "password" => ropc(shared, st, ctx, &app, inc, &sel, declined, azpacr),
        "refresh_token" => refresh(shared, st, &app, inc, &sel, declined, azpacr),
        "authorization_code" => auth_code(shared, st, &app, inc, declined, azpacr),
        DEVICE_CODE_GRANT => device_code_grant(shared, st, &app, inc, declined, azpacr),
        JWT_BEARER_GRANT => obo(shared, st, &app, inc, declined, azpacr),
        other => Err(AadErr::new(70003)
            .error("unsupported_grant_type")
            .desc(format!(
                "The app requested an unsupported grant type '{other}'."
            ))),
    }
}

/// Checks the client's credentials; answers the `azpacr` value (0 public, 1 secret, 2 cert).
fn authenticate_client(
    shared: &Shared,
    app: &App,
    inc: &Incoming,
    basic_secret: Option<String>,
    seg: &str,
    sel: &TenantSel,
) -> Result<&'static str, AadErr> {
    let secret = inc.f("client_secret").map(str::to_string).or(basic_secret);
    let assertion = inc.f("client_assertion");
    if app.cfg.public_client {
        if secret.is_some() || assertion.is_some() {
            return Err(AadErr::new(700025));
        }
        return Ok("0");
    }
    if let Some(secret) = secret {
        if app.cfg.secrets.contains(&secret) {
            return Ok("1");
        }
        return Err(AadErr::new(7000215));
    }
    if let Some(assertion) = assertion {
        let ty = inc.f("client_assertion_type").unwrap_or_default();
        if ty != JWT_BEARER_ASSERTION_TYPE {
            return Err(AadErr::new(50027).error("invalid_client").status(401).desc(format!(
                "The client_assertion_type '{ty}' is not supported; use '{JWT_BEARER_ASSERTION_TYPE}'."
            )));
        }
        verify_client_assertion(shared, app, assertion, seg, sel)?;
        return Ok("2");
    }
    Err(AadErr::new(7000218))
}

fn verify_client_assertion(
    shared: &Shared,
    app: &App,
    assertion: &str,
    seg: &str,
    sel: &TenantSel,
) -> Result<(), AadErr> {
    let malformed = |why: &str| {
        AadErr::new(50027)
            .error("invalid_client")
            .status(401)
            .desc(format!("JWT token is invalid or malformed. {why}"))
    };
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| malformed("The client assertion is not a JWT."))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(malformed(
            "The client assertion must be signed with RS256 or PS256.",
        ));
    }
    let candidates: Vec<_> = if let Some(t) = &header.x5t_s256 {
        app.certs.iter().filter(|c| c.x5t_s256 == *t).collect()
    } else if let Some(t) = &header.x5t {
        app.certs.iter().filter(|c| c.x5t == *t).collect()
    } else {
        app.certs.iter().collect()
    };
    if candidates.is_empty() {
        let thumb = header
            .x5t_s256
            .clone()
            .or(header.x5t.clone())
            .unwrap_or_default();
        return Err(AadErr::new(700027).desc(format!(
            "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}']"
        )));
    }
    let mut names = vec![seg.to_string()];
    if let TenantSel::Specific(t) = sel {
        names.push(t.id.clone());
        names.push(t.domain.clone());
    }
    let mut audiences = Vec::new();
    for n in &names {
        audiences.push(format!("{}{n}/oauth2/v2.0/token", shared.base));
        audiences.push(format!("{}{n}/oauth2/token", shared.base));
        audiences.push(format!("{}{n}/v2.0", shared.base));
    }
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&audiences);
    validation.set_issuer(&[app.cfg.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 300;
    let mut last_err = None;
    for cert in candidates {
        match jsonwebtoken::decode::<Value>(assertion, &cert.key, &validation) {
            Ok(data) => {
                if data.claims.get("sub").and_then(Value::as_str) != Some(&app.cfg.client_id) {
                    return Err(malformed(
                        "The 'sub' claim of the client assertion must be the client id.",
                    ));
                }
                if data
                    .claims
                    .get("jti")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(malformed(
                        "The client assertion must contain a 'jti' claim.",
                    ));
                }
                return Ok(());
            }
            Err(e) => last_err = Some(e),
        }
    }
    use jsonwebtoken::errors::ErrorKind as K;
    Err(match last_err.as_ref().map(|e| e.kind()) {
        Some(K::ExpiredSignature | K::ImmatureSignature) => AadErr::new(700024),
        Some(K::InvalidAudience) => malformed(&format!(
            "The 'aud' claim must be the token endpoint, e.g. '{}'.",
            audiences[0]
        )),
        Some(K::InvalidIssuer) => malformed("The 'iss' claim must be the client id."),
        Some(K::MissingRequiredClaim(c)) => {
            malformed(&format!("The client assertion lacks the '{c}' claim."))
        }
        _ => AadErr::new(700027),
    })
}

fn sign(shared: &Shared, claims: &Value) -> Result<String, AadErr> {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.kid = Some(shared.key.kid.clone());
    header.x5t = Some(shared.key.kid.clone());
    jsonwebtoken::encode(&header, claims, &shared.key.encoding).map_err(|e| {
        AadErr::new(90000)
            .error("server_error")
            .status(500)
            .desc(format!("The emulator could not sign a token: {e}"))
    })
}

fn pairwise_sub(oid: &str, client_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(
        format!("{oid}:{client_id}").as_bytes(),
    ))
}

fn client_credentials(
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

/// What a user token answer is made of.
struct UserIssue<'a> {
    app: &'a App,
    user: &'a UserConfig,
    granted: Granted,
    nonce: Option<String>,
    claims: ClaimsReq,
    mfa: bool,
    azpacr: &'a str,
}

fn user_tenant(st: &State, user: &UserConfig) -> Result<TenantConfig, AadErr> {
    st.home_tenant(user.tenant.as_deref())
        .ok_or_else(|| AadErr::new(50034))
}

fn issue_user_tokens(
    shared: &Shared,
    st: &mut State,
    inc: &Incoming,
    p: UserIssue<'_>,
) -> Result<Reply, AadErr> {
    let tenant = user_tenant(st, p.user)?;
    let now = now_secs();
    let lifetime = st.options.access_token_lifetime_secs;
    let oid = p.user.oid();
    let client_id = &p.app.cfg.client_id;
    let mut amr = vec!["pwd"];
    if p.mfa {
        amr.push("mfa");
    }
    let mut at_claims = json!({
        "aud": p.granted.resource.identifier,
        "iss": shared.issuer(&tenant.id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": random_token(24),
        "amr": amr,
        "azp": client_id,
        "appid": client_id,
        "azpacr": p.azpacr,
        "idtyp": "user",
        "name": p.user.display_name,
        "oid": oid,
        "preferred_username": p.user.username,
        "rh": "0.emulator",
        "scp": p.granted.scp(),
        "sub": pairwise_sub(&oid, client_id),
        "tid": tenant.id,
        "unique_name": p.user.username,
        "upn": p.user.username,
        "uti": random_token(16),
        "ver": "2.0",
    });
    if !p.claims.xms_cc.is_empty() {
        at_claims["xms_cc"] = json!(p.claims.xms_cc);
    }
    if !p.claims.acrs.is_empty() {
        at_claims["acrs"] = json!(p.claims.acrs);
    }
    let access_token = sign(shared, &at_claims)?;
    let mut out = Map::new();
    out.insert("token_type".into(), json!("Bearer"));
    out.insert("scope".into(), json!(p.granted.response_scope()));
    out.insert("expires_in".into(), json!(lifetime));
    out.insert("ext_expires_in".into(), json!(lifetime));
    if st.options.include_refresh_in {
        out.insert("refresh_in".into(), json!(lifetime / 2));
    }
    out.insert("access_token".into(), json!(access_token));
    if p.granted.oidc.iter().any(|s| s == "offline_access") {
        let rt = random_token(64);
        st.refresh_tokens.insert(
            rt.clone(),
            RefreshGrant {
                username: p.user.username.to_ascii_lowercase(),
                client_id: client_id.clone(),
                foci: p.app.cfg.foci,
                granted: p.granted.clone(),
                claims: p.claims.clone(),
                mfa: p.mfa,
                last_used: now,
            },
        );
        out.insert("refresh_token".into(), json!(rt));
    }
    if p.granted.oidc.iter().any(|s| s == "openid") {
        let mut id_claims = json!({
            "aud": client_id,
            "iss": shared.issuer(&tenant.id),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "auth_time": now,
            "name": p.user.display_name,
            "oid": oid,
            "preferred_username": p.user.username,
            "rh": "0.emulator",
            "sub": pairwise_sub(&oid, client_id),
            "tid": tenant.id,
            "uti": random_token(16),
            "ver": "2.0",
        });
        if let Some(n) = &p.nonce {
            id_claims["nonce"] = json!(n);
        }
        if p.granted.oidc.iter().any(|s| s == "email") {
            id_claims["email"] = json!(p.user.username);
        }
        out.insert("id_token".into(), json!(sign(shared, &id_claims)?));
    }
    if inc.param("client_info") == Some("1") {
        out.insert("client_info".into(), json!(client_info(&oid, &tenant.id)));
    }
    if p.app.cfg.foci {
        out.insert("foci".into(), json!("1"));
    }
    Ok(Reply::json(200, &Value::Object(out)))
}

/// base64url of `{"uid": oid, "utid": tid}`.
pub(crate) fn client_info(oid: &str, tid: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({"uid": oid, "utid": tid}).to_string())
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

#[allow(clippy::too_many_arguments)]
fn ropc(
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

fn refresh(
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

fn auth_code(
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

fn device_code_grant(
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

fn obo(
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

pub(crate) enum OwnTokenError {
    Expired,
    Invalid(String),
}

/// Verifies a token this emulator issued (signature, issuer, expiry); answers its claims.
pub(crate) fn verify_own_token(shared: &Shared, token: &str) -> Result<Value, OwnTokenError> {
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iss"]);
    v.leeway = 0;
    let data =
        jsonwebtoken::decode::<Value>(token, &shared.key.decoding, &v).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => OwnTokenError::Expired,
                _ => OwnTokenError::Invalid(format!("the token is not valid: {e}")),
            }
        })?;
    let iss = data
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let tid = data
        .claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != shared.issuer(tid) {
        return Err(OwnTokenError::Invalid(format!(
            "the issuer '{iss}' is not this emulator"
        )));
    }
    Ok(data.claims)
}

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
    fn client_info_encodes_uid_and_utid() {
        let ci = client_info("u", "t");
        let raw = URL_SAFE_NO_PAD.decode(ci).unwrap();
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v, json!({"uid": "u", "utid": "t"}));
    }

    #[test]
    fn user_codes_are_eight_upper_case_letters() {
        let c = user_code();
        assert_eq!(c.len(), 8);
        assert!(c.chars().all(|c| c.is_ascii_uppercase()));
    }
}
