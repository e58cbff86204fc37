//! Client authentication at the token endpoint: none (public clients), a secret (in the form
//! or `client_secret_basic`), or a certificate-signed client assertion (`private_key_jwt`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::shared::Shared;
use crate::state::{App, TenantSel};
use crate::wire::{AadErr, Incoming};

const JWT_BEARER_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client id and secret of an `Authorization: Basic` header (`client_secret_basic`).
pub(super) fn basic_auth(inc: &Incoming) -> Option<(String, String)> {
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

/// Checks the client's credentials; answers the `azpacr` value (0 public, 1 secret, 2 cert).
pub(super) fn authenticate_client(
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
