//! A hostile redirect (any query string) to a web app is refused with a typed error: a wrong
//! or missing `state` never reaches the token endpoint, and an `error` is classified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msal::{AuthCodeFlow, ErrorKind};
use msal_fuzz::{HostileIdp, app, runtime};

const FLOW: &str = r#"{"auth_uri":"https://login.microsoftonline.com/t/oauth2/v2.0/authorize","state":"s1","nonce":"n1","code_verifier":"v","redirect_uri":"https://app.example/cb","scope":["User.Read"]}"#;

fuzz_target!(|data: &[u8]| {
    let flow: AuthCodeFlow = serde_json::from_str(FLOW).expect("a valid flow");
    let query: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    // The token endpoint refuses the code, so no input gets a token.
    // Status 100 + 300 = 400, no Retry-After.
    let mut answer = vec![0x2c, 0x01, 0x00];
    answer.extend_from_slice(br#"{"error":"invalid_grant"}"#);
    let idp = HostileIdp::from_bytes(&answer);
    let app = app(idp);
    let answer = runtime().block_on(app.acquire_token_by_auth_code_flow(&flow, query).send());
    let e = answer.expect_err("the token endpoint refuses every code");
    assert!(matches!(
        e.kind(),
        ErrorKind::Client | ErrorKind::Service | ErrorKind::UiRequired | ErrorKind::Cancelled
    ));
});
