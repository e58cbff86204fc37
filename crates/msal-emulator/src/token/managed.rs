//! Managed identity tokens: signed like every token of the emulator, with the claims Entra
//! gives them (`appid`, `oid`, `sub`, `idtyp` `app`, `xms_mirid`).

use serde_json::json;

use crate::config::ManagedIdentityConfig;
use crate::shared::Shared;
use crate::state::{State, now_secs, random_token};
use crate::wire::AadErr;

use super::issue::sign;

/// A managed identity token and its times (seconds since the epoch).
#[derive(Debug, Clone)]
pub(crate) struct MiToken {
    pub access_token: String,
    pub expires_in: u64,
    pub expires_on: u64,
    pub not_before: u64,
}

/// Issues a token for `resource` (its `aud`) to a managed identity; `xms_cc` carries the client
/// capabilities the request declared.
pub(crate) fn issue_mi_token(
    shared: &Shared,
    st: &State,
    identity: &ManagedIdentityConfig,
    resource: &str,
    xms_cc: &[String],
) -> Result<MiToken, AadErr> {
    let tenant = st
        .home_tenant(identity.tenant.as_deref())
        .ok_or_else(|| AadErr::new(90002))?;
    let now = now_secs();
    let lifetime = st.options.managed_identity_token_lifetime_secs;
    let iss = shared.issuer(&tenant.id);
    let mut claims = json!({
        "aud": resource,
        "iss": iss,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": random_token(24),
        "appid": identity.client_id,
        "appidacr": "2",
        "azp": identity.client_id,
        "idp": iss,
        "idtyp": "app",
        "oid": identity.object_id,
        "rh": "0.emulator",
        "sub": identity.object_id,
        "tid": tenant.id,
        "uti": random_token(16),
        "ver": "2.0",
        "xms_mirid": identity.resource_id,
    });
    if !xms_cc.is_empty() {
        claims["xms_cc"] = json!(xms_cc);
    }
    Ok(MiToken {
        access_token: sign(shared, &claims)?,
        expires_in: lifetime,
        expires_on: now + lifetime,
        not_before: now,
    })
}
