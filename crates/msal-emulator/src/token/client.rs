//! Client authentication at the token endpoint: none (public clients), a secret (in the form
//! or `client_secret_basic`), a certificate-signed client assertion (`private_key_jwt`), or a
//! federated credential's token as the assertion (workload identity federation: a service
//! account token of the emulator's own issuer, or a managed identity token of the emulator).

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
        if is_federated(shared, app, assertion) {
            verify_federated_assertion(shared, app, assertion)?;
        } else {
            verify_client_assertion(shared, app, assertion, seg, sel)?;
        }
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

/// The claims of a JWT, unverified (`None` when it is not a JWT with a JSON payload).
fn unverified_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Whether an assertion is a federated credential's token rather than the app's own
/// `private_key_jwt`: its issuer is not the app but one of the app's federated credentials'
/// or one of the emulator's own issuers.
fn is_federated(shared: &Shared, app: &App, assertion: &str) -> bool {
    let Some(iss) = unverified_claims(assertion)
        .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_string))
    else {
        return false;
    };
    if iss == app.cfg.client_id {
        return false;
    }
    iss == shared.federation_issuer()
        || (iss.starts_with(&shared.base) && iss.ends_with("/v2.0"))
        || app
            .cfg
            .federated_credentials
            .iter()
            .any(|f| shared.expand_issuer(&f.issuer) == iss)
}

/// A claim's values: a string, or every string of an array.
fn claim_values(claims: &Value, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Verifies a federated credential's token: one of the emulator's issuers signed it, it is
/// within its lifetime, and a federated credential of the app has its issuer, its subject and
/// one of its audiences (Entra's AADSTS700211, 700213, 700212 otherwise).
fn verify_federated_assertion(shared: &Shared, app: &App, assertion: &str) -> Result<(), AadErr> {
    let unverified = unverified_claims(assertion).unwrap_or(Value::Null);
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let with_issuer: Vec<_> = app
        .cfg
        .federated_credentials
        .iter()
        .filter(|f| shared.expand_issuer(&f.issuer) == iss)
        .collect();
    if with_issuer.is_empty() {
        return Err(AadErr::new(700211).desc(format!(
            "No matching federated identity record found for presented assertion issuer '{iss}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."
        )));
    }
    let key = if iss == shared.federation_issuer() {
        &shared.federation_key.decoding
    } else if iss.starts_with(&shared.base) && iss.ends_with("/v2.0") {
        &shared.key.decoding
    } else {
        // Another issuer's keys would have to be fetched from its metadata: the emulator
        // stays offline and trusts only its own.
        return Err(AadErr::new(700027).desc(format!(
            "Client assertion failed signature validation. [Reason - The emulator verifies the tokens of its own issuers only, not of '{iss}'.]"
        )));
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[iss.as_str()]);
    validation.leeway = 300;
    let claims = jsonwebtoken::decode::<Value>(assertion, key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature | K::ImmatureSignature => AadErr::new(700024),
                K::MissingRequiredClaim(c) => AadErr::new(50027)
                    .error("invalid_client")
                    .status(401)
                    .desc(format!(
                        "JWT token is invalid or malformed. The assertion lacks the '{c}' claim."
                    )),
                _ => AadErr::new(700027),
            }
        })?
        .claims;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let with_subject: Vec<_> = with_issuer.iter().filter(|f| f.subject == sub).collect();
    if with_subject.is_empty() {
        return Err(AadErr::new(700213).desc(format!(
            "No matching federated identity record found for presented assertion subject '{sub}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."
        )));
    }
    let auds = claim_values(&claims, "aud");
    let aud_ok = with_subject
        .iter()
        .any(|f| f.audiences.iter().any(|a| auds.contains(a)));
    if !aud_ok {
        return Err(AadErr::new(700212).desc(format!(
            "No matching federated identity record found for presented assertion audience '{}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
            auds.join(",")
        )));
    }
    Ok(())
}
