//! `WWW-Authenticate` parsing and claims challenges, with real-world headers.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, header::WWW_AUTHENTICATE};
use msal::ErrorKind;
use msal::claims::{
    WwwAuthenticate, claims_challenge_from_header, claims_challenge_from_response,
    parse_www_authenticate,
};
use proptest::prelude::*;

const GRAPH_CAE: &str = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=""#;
const GRAPH_CAE_CLAIMS: &str =
    r#"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn graph_cae_challenge() {
    let c = parse_www_authenticate(GRAPH_CAE).unwrap();
    assert_eq!(
        c,
        vec![WwwAuthenticate {
            scheme: "Bearer".into(),
            params: params(&[
                ("realm", ""),
                (
                    "authorization_uri",
                    "https://login.microsoftonline.com/common/oauth2/authorize"
                ),
                ("client_id", "00000003-0000-0000-c000-000000000000"),
                ("error", "insufficient_claims"),
                (
                    "claims",
                    "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0="
                ),
            ]),
        }]
    );
    assert!(c[0].is_scheme("bearer"));
    assert_eq!(
        claims_challenge_from_header(GRAPH_CAE).as_deref(),
        Some(GRAPH_CAE_CLAIMS)
    );
}

#[test]
fn graph_unauthenticated_has_no_claims_challenge() {
    let h = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#;
    let c = parse_www_authenticate(h).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].param("Client_ID"),
        Some("00000003-0000-0000-c000-000000000000")
    );
    assert_eq!(claims_challenge_from_header(h), None);
}

#[test]
fn arm_and_key_vault_challenges() {
    // Azure Resource Manager, CAE.
    let arm = r#"Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="User session has been revoked", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjAzNzQyODAwIn19fQ==""#;
    assert_eq!(
        parse_www_authenticate(arm).unwrap()[0].param("error"),
        Some("invalid_token")
    );
    assert_eq!(
        claims_challenge_from_header(arm),
        None,
        "not insufficient_claims"
    );

    // Key Vault.
    let kv = r#"Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net""#;
    let c = parse_www_authenticate(kv).unwrap();
    assert_eq!(c[0].param("resource"), Some("https://vault.azure.net"));
}

#[test]
fn several_challenges_in_one_header() {
    let h = r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", PoP nonce="abc, def", Bearer"#;
    let c = parse_www_authenticate(h).unwrap();
    assert_eq!(c.len(), 4);
    assert_eq!(c[0].scheme, "Newauth");
    assert_eq!(
        c[0].params,
        params(&[
            ("realm", "apps"),
            ("type", "1"),
            ("title", r#"Login to "apps""#)
        ])
    );
    assert_eq!(c[1].scheme, "Basic");
    assert_eq!(c[1].param("realm"), Some("simple"));
    assert_eq!(c[2].param("nonce"), Some("abc, def"));
    assert_eq!(c[3].scheme, "Bearer");
    assert!(c[3].params.is_empty());
}

#[test]
fn token68() {
    let c = parse_www_authenticate("Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXag==").unwrap();
    assert_eq!(c[0].scheme, "Negotiate");
    assert_eq!(c[0].token68(), Some("YIIBhgYGKwYBBQUCoIIBejCCAXag=="));
    let c = parse_www_authenticate("Negotiate abc/+_.~-, Bearer realm=\"x\", NTLM").unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].token68(), Some("abc/+_.~-"));
    assert_eq!(c[1].param("realm"), Some("x"));
    assert!(c[1].token68().is_none());
    assert_eq!(c[2].scheme, "NTLM");
}

#[test]
fn case_whitespace_and_sloppy_servers() {
    let h = "  bEaReR   REALM = \"a\"\t,ERROR=insufficient_claims ,, claims=e30=,";
    let c = parse_www_authenticate(h).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].scheme, "bEaReR");
    assert_eq!(
        c[0].params,
        params(&[
            ("realm", "a"),
            ("error", "insufficient_claims"),
            ("claims", "e30=")
        ])
    );
    // Parameters separated by spaces only; an empty unquoted value; a repeated name.
    let c = parse_www_authenticate(r#"Bearer a="1" b=2 c=, a="3""#).unwrap();
    assert_eq!(c[0].params, params(&[("a", "1"), ("b", "2"), ("c", "")]));
    // Escapes and UTF-8 inside quotes.
    let c = parse_www_authenticate(r#"Bearer realm="caf\é \\ \"x\"""#).unwrap();
    assert_eq!(c[0].param("realm"), Some(r#"café \ "x""#));
    assert_eq!(parse_www_authenticate("").unwrap(), vec![]);
    assert_eq!(parse_www_authenticate(" , ,").unwrap(), vec![]);
}

#[test]
fn malformed_headers_are_client_errors() {
    for h in [
        "=Bearer",
        "\"Bearer\"",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"ends with backslash\\",
        "Bearer=x",
        "Bearer a b",
        "Bearer realm=\"x\" \"y\"",
        "Bearer a=b \"c\"",
        "Bearer realm=x Basic",
    ] {
        let e = parse_www_authenticate(h).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Client, "{h}");
        assert_eq!(e.code(), "invalid_argument", "{h}");
        assert_eq!(claims_challenge_from_header(h), None);
    }
}

#[test]
fn claims_in_every_base64_form_or_plain() {
    let json = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}},"x":"??>>"}"#;
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let encoded = engine.encode(json);
        let h = format!(r#"Bearer error="insufficient_claims", claims="{encoded}""#);
        assert_eq!(
            claims_challenge_from_header(&h).as_deref(),
            Some(json),
            "{encoded}"
        );
        // Unquoted, as some servers send it.
        let h = format!("Bearer error=insufficient_claims, claims={encoded}");
        assert_eq!(
            claims_challenge_from_header(&h).as_deref(),
            Some(json),
            "{encoded}"
        );
    }
    // Plain JSON, escaped in a quoted string.
    let h = r#"Bearer error="insufficient_claims", claims="{\"access_token\":{\"nbf\":{\"essential\":true}}}""#;
    assert_eq!(
        claims_challenge_from_header(h).as_deref(),
        Some(r#"{"access_token":{"nbf":{"essential":true}}}"#)
    );
    // Base64 of something that is not a JSON object: the value as sent.
    let h = r#"Bearer error="insufficient_claims", claims="aGVsbG8=""#;
    assert_eq!(claims_challenge_from_header(h).as_deref(), Some("aGVsbG8="));
}

#[test]
fn only_bearer_insufficient_claims_with_claims_counts() {
    for h in [
        r#"Bearer error="invalid_token", claims="e30=""#,
        r#"Bearer error="insufficient_claims""#,
        r#"Bearer error="insufficient_claims", claims="""#,
        r#"Basic error="insufficient_claims", claims="e30=""#,
        r#"PoP error="insufficient_claims", claims="e30=""#,
    ] {
        assert_eq!(claims_challenge_from_header(h), None, "{h}");
    }
    // The Bearer challenge among others.
    let h = r#"PoP nonce="n", Bearer realm="", ERROR="insufficient_claims", CLAIMS="e30=""#;
    assert_eq!(claims_challenge_from_header(h).as_deref(), Some("{}"));
}

#[test]
fn from_a_401_response_with_several_headers() {
    let mut headers = HeaderMap::new();
    headers.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"PoP nonce="abc""#),
    );
    headers.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("garbage \"unterminated"),
    );
    headers.append(WWW_AUTHENTICATE, HeaderValue::from_str(GRAPH_CAE).unwrap());
    assert_eq!(
        claims_challenge_from_response(401, &headers).as_deref(),
        Some(GRAPH_CAE_CLAIMS)
    );
    assert_eq!(claims_challenge_from_response(403, &headers), None);
    assert_eq!(claims_challenge_from_response(200, &headers), None);
    assert_eq!(claims_challenge_from_response(401, &HeaderMap::new()), None);
    // Non-UTF-8 header bytes are skipped, not fatal.
    let mut odd = HeaderMap::new();
    odd.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_bytes(b"Bearer realm=\"\xff\"").unwrap(),
    );
    assert_eq!(claims_challenge_from_response(401, &odd), None);
}

proptest! {
    #[test]
    fn parser_never_panics(s in ".*") {
        let _ = parse_www_authenticate(&s);
        let _ = claims_challenge_from_header(&s);
    }

    #[test]
    fn parser_never_panics_on_header_like_input(
        s in r#"([A-Za-z]{1,6}( |, |,|\t)?([a-z_]{1,5} ?= ?("([^"\\]|\\.){0,8}"?|[A-Za-z0-9+/=]{0,8})|[A-Za-z0-9+/]{1,8}=*)?[ ,]{0,3}){0,5}"#,
    ) {
        if let Ok(challenges) = parse_www_authenticate(&s) {
            for c in challenges {
                prop_assert!(!c.scheme.is_empty());
                for k in c.params.keys() {
                    prop_assert_eq!(k.clone(), k.to_ascii_lowercase());
                }
            }
        }
        let _ = claims_challenge_from_header(&s);
    }
}
