//! RFC 9207 mix-up attempts on a web app's redirect, shared by the tests against each
//! identity provider that sends `iss`.

use msal::{AuthCodeFlow, ConfidentialClientApplication, ErrorKind};

/// Asserts that the web app refuses the redirect `params` without its `iss`, and with another
/// server's `iss`, as `issuer_mismatch` (`Client`), before the code is redeemed: the caller
/// redeems the real redirect afterwards to show the code was not used.
pub async fn assert_mix_ups_refused(
    app: &ConfidentialClientApplication,
    flow: &AuthCodeFlow,
    params: &[(String, String)],
) {
    let without_iss: Vec<(String, String)> =
        params.iter().filter(|(k, _)| k != "iss").cloned().collect();
    let other_iss: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| match k.as_str() {
            "iss" => (
                k.clone(),
                "https://login.attacker.example/t/v2.0".to_owned(),
            ),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    for hostile in [without_iss, other_iss] {
        let e = app
            .acquire_token_by_auth_code_flow(flow, hostile)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, "issuer_mismatch"),
            "{e:?}"
        );
    }
}
