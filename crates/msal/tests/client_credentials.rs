//! Client credentials on the wire: exact form fields and headers, cache, every error family,
//! retries and client-side throttling.

mod common;

use std::error::Error as _;
use std::time::Duration;

use common::{Answer, MockIdp, app_token};
use msal::http::RetryPolicy;
use msal::{ConfidentialClientApplication, ErrorKind, TokenSource};
use serde_json::json;

const SCOPE: &str = "api://msal-emulator-api/.default";

fn app(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret-value")
        .retry_policy(RetryPolicy {
            delay: Duration::from_millis(50),
            ..Default::default()
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn sends_the_exact_request_then_serves_from_the_cache() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", SCOPE));
    let app = app(&idp);

    let r = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.access_token.secret(), "at-1");
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.scopes, vec![SCOPE]);
    assert!(r.account.is_none());
    assert_eq!(r.tenant_id.as_deref(), Some(common::TENANT));

    let reqs = idp.token_requests();
    assert_eq!(reqs.len(), 1);
    let t = &reqs[0];
    assert_eq!(
        t.field_names(),
        vec!["client_id", "client_secret", "grant_type", "scope"]
    );
    assert_eq!(t.field("grant_type"), Some("client_credentials"));
    assert_eq!(t.field("client_id"), Some("daemon-app"));
    assert_eq!(t.field("client_secret"), Some("s3cret-value"));
    assert_eq!(t.field("scope"), Some(SCOPE));
    let cid = t.header("client-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(cid).is_ok());
    assert_eq!(cid, r.correlation_id);
    assert_eq!(t.header("return-client-request-id"), Some("true"));
    assert_eq!(t.header("x-client-sku"), Some("msal.rust"));
    assert_eq!(t.header("x-client-ver"), Some(env!("CARGO_PKG_VERSION")));
    assert!(t.header("x-client-os").is_some());
    assert_eq!(t.header("x-ms-lib-capability"), Some("retry-after, h429"));
    assert!(
        t.header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );

    let again = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.access_token.secret(), "at-1");
    assert_eq!(
        idp.token_requests().len(),
        1,
        "a cache hit makes no request"
    );
    // Discovery is fetched once and cached.
    let discovery = idp
        .requests()
        .iter()
        .filter(|r| r.path.contains("discovery/instance"))
        .count();
    assert_eq!(discovery, 1);
}

#[tokio::test]
async fn force_refresh_and_claims_bypass_the_cache() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", SCOPE));
    idp.push_token(app_token("at-2", SCOPE));
    idp.push_token(app_token("at-3", SCOPE));
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    let r = app
        .acquire_token_for_client([SCOPE])
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-2");
    let claims = r#"{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}"#;
    let r = app
        .acquire_token_for_client([SCOPE])
        .with_claims(claims)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-3");
    let reqs = idp.token_requests();
    assert_eq!(reqs.len(), 3);
    let sent: serde_json::Value = serde_json::from_str(reqs[2].field("claims").unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({"access_token": {"nbf": {"essential": true, "value": "1604106651"}, "xms_cc": {"values": ["cp1"]}}})
    );
    // Capabilities alone are sent as claims too.
    let caps: serde_json::Value = serde_json::from_str(reqs[0].field("claims").unwrap()).unwrap();
    assert_eq!(
        caps,
        json!({"access_token": {"xms_cc": {"values": ["cp1"]}}})
    );
}

#[tokio::test]
async fn certificate_credential_sends_a_signed_assertion() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at", SCOPE));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["daemon".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = format!("{}{}", key.serialize_pem(), cert.pem());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, pem).unwrap();
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .certificate_pem_file(&path)
        .build()
        .unwrap();
    app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        vec![
            "client_assertion",
            "client_assertion_type",
            "client_id",
            "grant_type",
            "scope"
        ]
    );
    assert_eq!(
        t.field("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let jwt = t.field("client_assertion").unwrap();
    let header = msal::oauth::decode_jwt_header(jwt).unwrap();
    assert_eq!(header["alg"], "PS256");
    assert!(header["x5t#S256"].is_string());
    let claims = msal::oauth::decode_jwt_payload(jwt).unwrap();
    assert_eq!(claims["aud"], idp.token_endpoint());
    assert_eq!(claims["iss"], "daemon-app");
    assert_eq!(claims["sub"], "daemon-app");
    assert!(claims["jti"].is_string());
}

#[tokio::test]
async fn assertion_callback_is_called_per_request() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at", SCOPE));
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_assertion(|ctx| {
            Box::pin(async move { Ok(msal::Assertion::new(format!("fic-for-{}", ctx.client_id))) })
        })
        .build()
        .unwrap();
    app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(
        idp.token_requests()[0].field("client_assertion"),
        Some("fic-for-daemon-app")
    );
}

#[tokio::test]
async fn an_oauth_error_carries_every_detail() {
    let idp = MockIdp::start().await;
    idp.push_token(
        Answer::oauth_error(401, "invalid_client", 7000215, None).header("x-ms-request-id", "r1"),
    );
    let e = app(&idp)
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert_eq!(e.code(), "invalid_client");
    assert_eq!(e.classification(), None);
    assert_eq!(e.aadsts_codes(), &[7000215]);
    assert_eq!(e.http_status(), Some(401));
    assert_eq!(e.trace_id(), Some("trace-123"));
    assert_eq!(e.timestamp(), Some("2026-11-24 10:00:00Z"));
    assert!(e.description().starts_with("AADSTS7000215"));
    let sent = idp.token_requests()[0]
        .header("client-request-id")
        .unwrap()
        .to_owned();
    assert_eq!(e.correlation_id(), Some(sent.as_str()));
    assert_eq!(
        e.response_headers()
            .unwrap()
            .get("x-ms-request-id")
            .unwrap(),
        "r1"
    );
    assert!(!e.is_retryable());
    assert!(!format!("{e} {e:?}").contains("s3cret"));
}

#[tokio::test]
async fn a_5xx_is_retried_once() {
    let idp = MockIdp::start().await;
    idp.push_token(Answer::raw(503, "busy", "text/plain"));
    idp.push_token(app_token("at", SCOPE));
    let r = app(&idp)
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at");
    let reqs = idp.token_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("client-request-id"),
        reqs[1].header("client-request-id")
    );
    // The retry (built anew, not copied) is the same request on the wire: URL, form and
    // every header, the telemetry's included.
    assert_eq!(
        (&reqs[1].method, &reqs[1].path, &reqs[1].query),
        (&reqs[0].method, &reqs[0].path, &reqs[0].query)
    );
    assert_eq!(reqs[1].form, reqs[0].form);
    assert_eq!(reqs[1].field("client_secret"), Some("s3cret-value"));
    assert_eq!(reqs[1].headers, reqs[0].headers);
    assert!(reqs[1].header("x-client-current-telemetry").is_some());
}

#[tokio::test]
async fn two_5xx_give_a_service_error_with_an_unparsable_body() {
    let idp = MockIdp::start().await;
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    idp.push_token(Answer::raw(502, html, "text/html"));
    idp.push_token(Answer::raw(502, html, "text/html"));
    let e = app(&idp)
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert_eq!(e.code(), "non_parsable_oauth_error");
    assert_eq!(e.http_status(), Some(502));
    assert!(e.is_retryable());
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn retry_after_is_not_retried_and_throttles_the_same_request() {
    let idp = MockIdp::start().await;
    idp.push_token(
        Answer::oauth_error(503, "temporarily_unavailable", 50196, None)
            .header("retry-after", "30"),
    );
    idp.push_token(app_token("at", SCOPE));
    let app = app(&idp);
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "temporarily_unavailable");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    assert!(!e.is_client_throttled());
    assert_eq!(
        idp.token_requests().len(),
        1,
        "Retry-After is never retried by the library"
    );

    let t = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert!(t.is_client_throttled() && t.is_throttled());
    assert_eq!(t.code(), "temporarily_unavailable");
    assert!(t.retry_after().unwrap() <= Duration::from_secs(30));
    assert_eq!(idp.token_requests().len(), 1, "throttled: no request");

    // Another request (other scopes) is not throttled.
    idp.push_token(app_token("other", "api://other/.default"));
    app.acquire_token_for_client(["api://other/.default"])
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_429_is_never_retried() {
    let idp = MockIdp::start().await;
    idp.push_token(Answer::raw(429, "slow down", "text/plain"));
    idp.push_token(app_token("at", SCOPE));
    let e = app(&idp)
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "request_throttled");
    assert_eq!(e.http_status(), Some(429));
    assert!(e.is_throttled());
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn malformed_success_bodies_are_service_errors() {
    let idp = MockIdp::start().await;
    idp.push_token(Answer::raw(
        200,
        r#"{"token_type":"Bearer","access_tok"#,
        "application/json",
    ));
    idp.push_token(Answer::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 10}),
    ));
    let app = app(&idp);
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "non_parsable_oauth_error")
    );
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "invalid_token_response")
    );
    assert_eq!(e.http_status(), Some(200));
}

#[tokio::test]
async fn a_timeout_is_retried_once_then_reported() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("slow", SCOPE).delayed(Duration::from_secs(3)));
    idp.push_token(app_token("slow", SCOPE).delayed(Duration::from_secs(3)));
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .timeout(Duration::from_millis(600))
        .build()
        .unwrap();
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert_eq!(e.code(), "request_timeout");
    assert!(e.is_timeout() && e.is_retryable());
    assert!(e.correlation_id().is_some());
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_with_its_io_source() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority(format!("http://127.0.0.1:{port}/tenant"))
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap();
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert_eq!(e.code(), "network_error");
    let mut src = e.source();
    let mut found_io = false;
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            found_io = io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        src = s.source();
    }
    assert!(found_io, "the io::Error is in the source chain: {e:?}");
}

#[tokio::test]
async fn configuration_errors_are_client_errors_before_any_request() {
    let idp = MockIdp::start().await;
    let insecure = ConfidentialClientApplication::builder("c")
        .authority("http://login.example.com/tenant")
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap_err();
    assert_eq!(insecure.kind(), ErrorKind::Client);
    assert_eq!(insecure.code(), "insecure_authority");

    let loopback_without_opt_in = ConfidentialClientApplication::builder("c")
        .authority(idp.authority())
        .client_secret("s")
        .build()
        .unwrap_err();
    assert_eq!(loopback_without_opt_in.code(), "insecure_authority");

    let no_cred = ConfidentialClientApplication::builder("c")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap_err();
    assert_eq!(no_cred.code(), "missing_client_credential");

    let bad_cert = ConfidentialClientApplication::builder("c")
        .certificate_pem_file("/nonexistent.pem")
        .authority("not a url")
        .build()
        .unwrap_err();
    assert_eq!(
        bad_cert.code(),
        "invalid_certificate",
        "the first error is kept"
    );

    let empty = app(&idp)
        .acquire_token_for_client(Vec::<String>::new())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (empty.kind(), empty.code()),
        (ErrorKind::Client, "empty_scopes")
    );
    let bad_claims = app(&idp)
        .acquire_token_for_client([SCOPE])
        .with_claims("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad_claims.code(), "invalid_claims");
    assert!(idp.requests().is_empty(), "no request was made");
}

/// A multi-tenant daemon names the tenant per request: the token is asked of that tenant's
/// token endpoint, cached under that tenant (a hit for it, a miss for another), and a tenant
/// the authority cannot take is a `Client` error before any request: never a token of the
/// app's own tenant instead.
#[tokio::test]
async fn a_tenant_per_request_is_asked_and_cached_as_that_tenant() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let (a, b) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "contoso.onmicrosoft.com",
    );
    let for_tenant = |tenant: &str| {
        app.acquire_token_for_client([SCOPE])
            .with_tenant(tenant)
            .send()
    };
    for (tenant, at) in [(a, "at-a"), (b, "at-b")] {
        idp.push_token(app_token(at, SCOPE));
        let r = for_tenant(tenant).await.unwrap();
        assert_eq!(
            (r.access_token.secret(), r.source),
            (at, TokenSource::IdentityProvider)
        );
        assert_eq!(r.tenant_id.as_deref(), Some(tenant));
        let last = idp.token_requests().pop().unwrap();
        assert_eq!(last.path, format!("/{tenant}/oauth2/v2.0/token"));
    }
    for (tenant, at) in [(a, "at-a"), (b, "at-b")] {
        let r = for_tenant(tenant).await.unwrap();
        assert_eq!(
            (r.access_token.secret(), r.source),
            (at, TokenSource::Cache)
        );
    }
    // The app's own tenant has no token yet.
    idp.push_token(app_token("at-own", SCOPE));
    let r = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.access_token.secret(), "at-own");
    assert_eq!(idp.token_requests().len(), 3);

    for bad in ["", "/", "a/b", "a b", "adfs", "x?y"] {
        let e = for_tenant(bad).await.unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, "invalid_authority"),
            "{bad:?}"
        );
        assert!(e.correlation_id().is_some());
    }
    assert_eq!(idp.token_requests().len(), 3, "no request for a bad tenant");
}

#[tokio::test]
async fn graph_scopes_answered_in_their_short_form_are_found_in_the_cache() {
    // Entra answers `https://graph.microsoft.com/X` as `X`, and the cache keeps what it
    // answered: the lookup is retried in the short form, as for user tokens.
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", "Application.Read.All"));
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap();
    let scope = "https://graph.microsoft.com/Application.Read.All";
    let r = app.acquire_token_for_client([scope]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let again = app.acquire_token_for_client([scope]).send().await.unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.access_token.secret(), "at-1");
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn client_capabilities_alone_do_not_bypass_the_cache() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", SCOPE));
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    let r = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let again = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.access_token.secret(), "at-1");
    assert_eq!(idp.token_requests().len(), 1);
}
