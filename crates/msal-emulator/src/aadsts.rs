//! The built-in table of Entra ID (AADSTS) errors the emulator can answer with.

use serde::Serialize;

/// One Entra ID error: its AADSTS number and how Entra ID reports it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AadstsError {
    /// The AADSTS number, e.g. `65001` for `AADSTS65001`.
    pub code: u32,
    /// The OAuth 2.0 `error` value sent with it, e.g. `invalid_grant`.
    pub error: &'static str,
    /// The `suberror` value sent with it, if any, e.g. `consent_required`.
    pub suberror: Option<&'static str>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The human readable text that follows `AADSTSnnnn: ` in `error_description`.
    pub description: &'static str,
}

const fn e(
    code: u32,
    error: &'static str,
    suberror: Option<&'static str>,
    status: u16,
    description: &'static str,
) -> AadstsError {
    AadstsError {
        code,
        error,
        suberror,
        status,
        description,
    }
}

static TABLE: &[AadstsError] = &[
    e(
        28000,
        "invalid_scope",
        None,
        400,
        "Provided value for the input parameter scope is not valid because it contains more than one resource.",
    ),
    e(
        50011,
        "invalid_request",
        None,
        400,
        "The redirect URI specified in the request does not match the redirect URIs configured for the application. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
    ),
    e(
        50013,
        "invalid_grant",
        None,
        400,
        "Assertion failed signature validation.",
    ),
    e(
        50027,
        "invalid_request",
        None,
        400,
        "JWT token is invalid or malformed.",
    ),
    e(
        50034,
        "invalid_grant",
        None,
        400,
        "The user account does not exist in the directory. To sign into this application, the account must be added to the directory.",
    ),
    e(
        50049,
        "invalid_instance",
        None,
        400,
        "Unknown or invalid instance.",
    ),
    e(
        50055,
        "invalid_grant",
        Some("user_password_expired"),
        400,
        "The password is expired.",
    ),
    e(
        50057,
        "invalid_grant",
        None,
        400,
        "The user account is disabled.",
    ),
    e(
        50058,
        "login_required",
        None,
        400,
        "A silent sign-in request was sent but no user is signed in.",
    ),
    e(
        50076,
        "interaction_required",
        Some("basic_action"),
        400,
        "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
    ),
    e(
        50079,
        "interaction_required",
        Some("basic_action"),
        400,
        "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.",
    ),
    e(
        50105,
        "invalid_grant",
        None,
        400,
        "Your administrator has configured the application to block users unless they are specifically granted ('assigned') access to the application.",
    ),
    e(
        50126,
        "invalid_grant",
        None,
        400,
        "Error validating credentials due to invalid username or password.",
    ),
    e(
        50158,
        "interaction_required",
        Some("additional_action"),
        400,
        "External security challenge not satisfied. User will be redirected to another page or authentication provider to satisfy additional authentication challenges.",
    ),
    e(
        50173,
        "invalid_grant",
        Some("bad_token"),
        400,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
    ),
    e(
        50196,
        "invalid_request",
        None,
        400,
        "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.",
    ),
    e(
        53003,
        "invalid_grant",
        Some("message_only"),
        400,
        "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
    ),
    e(
        53005,
        "invalid_grant",
        Some("protection_policy_required"),
        400,
        "Application needs to enforce Intune protection policies.",
    ),
    e(
        65001,
        "invalid_grant",
        Some("consent_required"),
        400,
        "The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.",
    ),
    e(
        65004,
        "access_denied",
        None,
        400,
        "User declined to consent to access the app.",
    ),
    e(
        70000,
        "invalid_grant",
        None,
        400,
        "Provided grant is invalid or malformed.",
    ),
    e(
        70002,
        "invalid_client",
        None,
        401,
        "Error validating credentials.",
    ),
    e(
        70008,
        "invalid_grant",
        None,
        400,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
    ),
    e(
        70011,
        "invalid_scope",
        None,
        400,
        "The provided value for the input parameter 'scope' is not valid.",
    ),
    e(
        70016,
        "authorization_pending",
        None,
        400,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    ),
    e(
        70019,
        "expired_token",
        None,
        400,
        "Verification code expired.",
    ),
    e(
        90002,
        "invalid_tenant",
        None,
        400,
        "Tenant not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
    ),
    e(
        90010,
        "invalid_request",
        None,
        400,
        "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
    ),
    e(
        500011,
        "invalid_resource",
        None,
        400,
        "The resource principal was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
    ),
    e(
        500112,
        "invalid_grant",
        None,
        400,
        "The reply address does not match the reply address provided when requesting Authorization code.",
    ),
    e(
        500133,
        "invalid_grant",
        None,
        400,
        "Assertion is not within its valid time range.",
    ),
    e(
        501481,
        "invalid_grant",
        None,
        400,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    ),
    e(
        700016,
        "unauthorized_client",
        None,
        400,
        "Application was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
    ),
    e(
        700024,
        "invalid_client",
        None,
        401,
        "Client assertion is not within its valid time range.",
    ),
    e(
        700025,
        "invalid_client",
        None,
        401,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    ),
    e(
        700027,
        "invalid_client",
        None,
        401,
        "Client assertion failed signature validation.",
    ),
    e(
        700082,
        "invalid_grant",
        Some("bad_token"),
        400,
        "The refresh token has expired due to inactivity. The token was issued and was inactive for too long.",
    ),
    e(
        700211,
        "invalid_client",
        None,
        401,
        "No matching federated identity record found for presented assertion issuer. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
    ),
    e(
        700212,
        "invalid_client",
        None,
        401,
        "No matching federated identity record found for presented assertion audience. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
    ),
    e(
        700213,
        "invalid_client",
        None,
        401,
        "No matching federated identity record found for presented assertion subject. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
    ),
    e(
        900144,
        "invalid_request",
        None,
        400,
        "The request body must contain the following parameter.",
    ),
    e(
        900561,
        "invalid_request",
        None,
        400,
        "The endpoint only accepts POST, OPTIONS requests.",
    ),
    e(
        1002012,
        "invalid_scope",
        None,
        400,
        "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
    ),
    e(
        7000215,
        "invalid_client",
        None,
        401,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to the app.",
    ),
    e(
        7000218,
        "invalid_client",
        None,
        401,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    ),
    e(
        9002313,
        "invalid_grant",
        None,
        400,
        "Invalid request. Request is malformed or invalid.",
    ),
];

/// The built-in AADSTS table: every error the emulator answers with by number, with
/// Entra's OAuth `error`, `suberror`, HTTP status and description.
pub fn aadsts_table() -> &'static [AadstsError] {
    TABLE
}

/// Looks an AADSTS number up in the built-in table.
pub fn lookup(code: u32) -> Option<&'static AadstsError> {
    TABLE.iter().find(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_required_codes_and_no_duplicates() {
        for code in [
            65001, 50079, 50076, 50055, 53003, 50158, 70002, 7000215, 90010, 700082, 50173, 50196,
            70016, 70019, 500011, 50126, 53005, 50105,
        ] {
            assert!(lookup(code).is_some(), "missing {code}");
        }
        let mut codes: Vec<u32> = aadsts_table().iter().map(|e| e.code).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        assert_eq!(
            lookup(65001).map(|e| e.suberror),
            Some(Some("consent_required"))
        );
        assert_eq!(lookup(7000215).map(|e| e.status), Some(401));
    }
}
