//! Managed identity: Azure Arc's challenge and its refusals, Service Fabric's certificate
//! thumbprint, and the retry rules of each source.

mod common;
#[path = "support/managed_identity.rs"]
mod mi;

use std::path::Path;
use std::time::Duration;

use common::{Answer, MockIdp};
use mi::{bounded, fast, imds_app};
use msal::{
    ErrorKind, ManagedIdentityApplication, ManagedIdentityId, ManagedIdentityRetryPolicy,
    ManagedIdentitySource,
};
use serde_json::json;
use sha1::Digest;

const SCOPE: &str = "https://vault.azure.net/.default";
const RESOURCE: &str = "https://vault.azure.net";
const KEY: &str = "arc-key-c0ntent";

fn token(at: &str) -> Answer {
    Answer::json(
        200,
        json!({"access_token": at, "expires_in": "3599", "token_type": "Bearer", "resource": RESOURCE}),
    )
}

fn challenge(path: &Path) -> Answer {
    Answer::raw(401, "", "text/plain").header(
        "www-authenticate",
        &format!("Basic realm={}", path.display()),
    )
}

fn arc_app(idp: &MockIdp, id: ManagedIdentityId, dir: &Path) -> ManagedIdentityApplication {
    ManagedIdentityApplication::builder(id)
        .environment([
            ("IDENTITY_ENDPOINT", format!("{}mi/arc", idp.base)),
            ("IMDS_ENDPOINT", format!("{}mi/imds", idp.base)),
        ])
        .arc_token_directory(dir)
        .retry_policy(fast())
        .build()
        .unwrap()
}

#[tokio::test]
async fn arc_answers_the_challenge_with_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("abc.key");
    std::fs::write(&key, KEY).unwrap();
    let idp = MockIdp::start().await;
    idp.push_mi(challenge(&key));
    idp.push_mi(token("at-arc"));
    let app = arc_app(&idp, ManagedIdentityId::SystemAssigned, dir.path());
    assert_eq!(app.source(), ManagedIdentitySource::AzureArc);
    let r = bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-arc");
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/mi/arc"));
        assert_eq!(
            r.query,
            format!(
                "api-version=2020-06-01&resource={}",
                url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
            )
        );
        assert_eq!(r.header("metadata"), Some("true"));
    }
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(
        reqs[1].header("authorization"),
        Some(format!("Basic {KEY}").as_str())
    );
}

#[tokio::test]
async fn arc_refuses_challenges_naming_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("secret.key");
    std::fs::write(&outside, "not for the agent").unwrap();
    let not_key = dir.path().join("abc.txt");
    std::fs::write(&not_key, KEY).unwrap();
    let big = dir.path().join("big.key");
    std::fs::write(&big, "k".repeat(4097)).unwrap();
    let missing = dir.path().join("missing.key");
    let dotdot = dir.path().join("..").join("x.key");
    let mut cases = vec![
        ("outside the directory", challenge(&outside)),
        ("not .key", challenge(&not_key)),
        ("too big", challenge(&big)),
        ("missing file", challenge(&missing)),
        ("parent dir", challenge(&dotdot)),
        ("relative", challenge(Path::new("abc.key"))),
        ("no header", Answer::raw(401, "", "text/plain")),
        (
            "not Basic",
            Answer::raw(401, "", "text/plain").header(
                "www-authenticate",
                &format!("Bearer realm={}", dir.path().join("abc.key").display()),
            ),
        ),
    ];
    #[cfg(unix)]
    {
        // A link in the directory to a file elsewhere.
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        cases.push(("symlink escaping", challenge(&link)));
    }
    for (what, answer) in cases {
        let idp = MockIdp::start().await;
        idp.push_mi(answer);
        idp.push_mi(token("must-not-be-asked-for"));
        let app = arc_app(&idp, ManagedIdentityId::SystemAssigned, dir.path());
        let e = bounded(app.acquire_token_for_client(SCOPE).send())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, "managed_identity_invalid_challenge"),
            "{what}: {e}"
        );
        assert_eq!(idp.requests().len(), 1, "{what}: no second request");
        assert!(!e.description().contains("not for the agent"), "{what}");
    }
}

#[tokio::test]
async fn arc_user_assigned_answers_must_echo_the_selector() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("abc.key");
    std::fs::write(&key, KEY).unwrap();
    for echo in [None, Some("another-client")] {
        let idp = MockIdp::start().await;
        idp.push_mi(challenge(&key));
        let mut body = json!({"access_token": "system-token", "expires_in": "3599"});
        if let Some(e) = echo {
            body["client_id"] = json!(e);
        }
        idp.push_mi(Answer::json(200, body));
        let app = arc_app(
            &idp,
            ManagedIdentityId::ClientId("ua-client".into()),
            dir.path(),
        );
        let e = bounded(app.acquire_token_for_client(SCOPE).send())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (
                ErrorKind::Client,
                "user_assigned_managed_identity_not_supported"
            ),
            "{echo:?}"
        );
        assert!(!e.description().contains("system-token"));
        assert_eq!(idp.requests().len(), 2);
        assert!(
            idp.requests()[1].query.contains("client_id=ua-client"),
            "the selector was sent"
        );
        // Nothing was cached.
        assert!(!app.token_cache().serialize().contains("system-token"));
    }
}

/// A self-signed certificate for 127.0.0.1, its key, and its SHA-1 thumbprint.
fn self_signed() -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
    String,
) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let der = ck.cert.der().clone();
    let thumb: String = sha1::Sha1::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    (der, key, thumb)
}

fn fabric_app(
    idp: &MockIdp,
    thumbprint: &str,
    id: ManagedIdentityId,
) -> ManagedIdentityApplication {
    ManagedIdentityApplication::builder(id)
        .environment([
            ("IDENTITY_ENDPOINT", format!("{}mi/fabric", idp.base)),
            ("IDENTITY_HEADER", "fabric-s3cret".to_owned()),
            ("IDENTITY_SERVER_THUMBPRINT", thumbprint.to_owned()),
        ])
        .retry_policy(fast())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn service_fabric_accepts_exactly_the_certificate_with_the_thumbprint() {
    let (cert, key, thumb) = self_signed();
    let idp = MockIdp::start_tls(vec![cert], key).await;
    let on = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    idp.push_mi(Answer::json(
        200,
        json!({"access_token": "at-sf", "expires_on": on.to_string(), "token_type": "Bearer", "resource": RESOURCE}),
    ));
    // Lower case works as upper case; a user-assigned selector is ignored.
    let app = fabric_app(
        &idp,
        &thumb.to_lowercase(),
        ManagedIdentityId::ClientId("ignored".into()),
    );
    assert_eq!(app.source(), ManagedIdentitySource::ServiceFabric);
    let r = bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-sf");
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/mi/fabric")
    );
    let q: Vec<(String, String)> = url::form_urlencoded::parse(reqs[0].query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        q,
        vec![
            ("api-version".to_owned(), "2019-07-01-preview".to_owned()),
            ("resource".to_owned(), RESOURCE.to_owned())
        ]
    );
    assert_eq!(reqs[0].header("secret"), Some("fabric-s3cret"));

    // Another thumbprint: the TLS handshake fails, nothing reaches the endpoint.
    let mut other = thumb.into_bytes();
    other[0] = if other[0] == b'0' { b'1' } else { b'0' };
    let other = String::from_utf8(other).unwrap();
    let refused = fabric_app(&idp, &other, ManagedIdentityId::SystemAssigned);
    let e = bounded(refused.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    assert_eq!(idp.requests().len(), 1);
    assert!(!format!("{e:?}").contains("fabric-s3cret"));
}

#[tokio::test]
async fn imds_retries_404_408_429_and_5xx_three_times_and_410_longer() {
    for status in [404, 408, 429, 500, 503] {
        // Three retries, then the answer.
        let idp = MockIdp::start().await;
        for _ in 0..3 {
            idp.push_mi(Answer::raw(status, "", "text/plain"));
        }
        idp.push_mi(token("after-retries"));
        let app = imds_app(&idp);
        let r = bounded(app.acquire_token_for_client(SCOPE).send())
            .await
            .unwrap();
        assert_eq!(r.access_token.secret(), "after-retries");
        assert_eq!(idp.requests().len(), 4, "{status}");

        // A fourth failure is final.
        let idp = MockIdp::start().await;
        for _ in 0..5 {
            idp.push_mi(Answer::raw(status, "", "text/plain"));
        }
        let app = imds_app(&idp);
        let e = bounded(app.acquire_token_for_client(SCOPE).send())
            .await
            .unwrap_err();
        assert_eq!(e.http_status(), Some(status));
        assert_eq!(e.code(), "managed_identity_request_failed");
        assert_eq!(idp.requests().len(), 4, "{status}");
    }
    // 410 (IMDS updating): seven retries.
    let idp = MockIdp::start().await;
    for _ in 0..9 {
        idp.push_mi(Answer::raw(410, "", "text/plain"));
    }
    let app = imds_app(&idp);
    let e = bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap_err();
    assert_eq!(e.http_status(), Some(410));
    assert_eq!(idp.requests().len(), 8);
    // 400 and 401 are final at once.
    for status in [400, 401, 403] {
        let idp = MockIdp::start().await;
        idp.push_mi(Answer::raw(status, "", "text/plain"));
        idp.push_mi(token("never"));
        let app = imds_app(&idp);
        bounded(app.acquire_token_for_client(SCOPE).send())
            .await
            .unwrap_err();
        assert_eq!(idp.requests().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn other_sources_retry_their_statuses_honouring_retry_after() {
    let app_for = |idp: &MockIdp| {
        ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
            .environment([
                ("IDENTITY_ENDPOINT", format!("{}mi/app", idp.base)),
                ("IDENTITY_HEADER", "h".to_owned()),
            ])
            .retry_policy(fast())
            .build()
            .unwrap()
    };
    let on = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let ok = || Answer::json(200, json!({"access_token": "ok", "expires_on": on}));
    for status in [404, 408, 429, 500, 503, 504] {
        let idp = MockIdp::start().await;
        for _ in 0..3 {
            // A Retry-After of an hour is waited at most max_retry_after.
            idp.push_mi(Answer::raw(status, "", "text/plain").header("retry-after", "3600"));
        }
        idp.push_mi(ok());
        let r = bounded(app_for(&idp).acquire_token_for_client(SCOPE).send())
            .await
            .unwrap();
        assert_eq!(r.access_token.secret(), "ok");
        assert_eq!(idp.requests().len(), 4, "{status}");
    }
    // Not retried here: 410, 502, 400.
    for status in [410, 502, 400] {
        let idp = MockIdp::start().await;
        idp.push_mi(Answer::raw(status, "", "text/plain"));
        idp.push_mi(ok());
        let e = bounded(app_for(&idp).acquire_token_for_client(SCOPE).send())
            .await
            .unwrap_err();
        assert_eq!(e.http_status(), Some(status));
        assert_eq!(idp.requests().len(), 1, "{status}");
    }
}

#[test]
fn the_default_policy_is_msal_dotnets() {
    let p = ManagedIdentityRetryPolicy::default();
    assert_eq!(p.max_retries, 3);
    assert_eq!(p.delay, Duration::from_secs(1));
    assert_eq!(
        p.imds_gone_delay * p.imds_gone_max_retries,
        Duration::from_secs(70)
    );
    assert_eq!(ManagedIdentityRetryPolicy::none().max_retries, 0);
}
