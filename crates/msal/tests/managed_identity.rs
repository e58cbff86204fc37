//! Managed identity on the wire: each source's exact request, the user-assigned selectors,
//! detection, the answers' shapes, the cache, revocation with claims and the error mapping.
//! Arc's challenge, Service Fabric's TLS and the retries are in `managed_identity_more.rs`.

mod common;
#[path = "support/managed_identity.rs"]
mod mi;

use std::time::Duration;

use common::{Answer, MockIdp};
use mi::{app, bounded, fast, imds_env, query};
use msal::{
    ErrorKind, ManagedIdentityApplication, ManagedIdentityId, ManagedIdentitySource, TokenSource,
};
use serde_json::json;
use sha2::Digest;

const SCOPE: &str = "https://management.azure.com/.default";
const RESOURCE: &str = "https://management.azure.com";
const SECRET: &str = "identity-header-s3cret";

fn app_service_env(idp: &MockIdp) -> Vec<(&'static str, String)> {
    vec![
        ("IDENTITY_ENDPOINT", format!("{}mi/app", idp.base)),
        ("IDENTITY_HEADER", SECRET.to_owned()),
    ]
}

/// IMDS's answer: lifetimes as strings.
fn imds_token(at: &str) -> Answer {
    Answer::json(
        200,
        json!({"access_token": at, "expires_in": "3599", "expires_on": "1795560000",
               "resource": RESOURCE, "token_type": "Bearer"}),
    )
}

/// App Service's answer: `expires_on` in epoch seconds, as a number.
fn app_service_token(at: &str, lifetime: i64) -> Answer {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Answer::json(
        200,
        json!({"access_token": at, "expires_on": now + lifetime, "resource": RESOURCE,
               "token_type": "Bearer", "client_id": "x"}),
    )
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn imds_system_assigned_exact_request_then_the_cache() {
    let idp = MockIdp::start().await;
    idp.push_mi(imds_token("at-imds"));
    let app = app(ManagedIdentityId::SystemAssigned, &imds_env(&idp));
    assert_eq!(app.source(), ManagedIdentitySource::Imds);
    let r = bounded(
        app.acquire_token_for_client(SCOPE)
            .with_correlation_id("cid-1")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.access_token.secret(), "at-imds");
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.correlation_id, "cid-1");
    let now = time::OffsetDateTime::now_utc();
    let left = (r.expires_on - now).whole_seconds();
    assert!((3500..=3600).contains(&left), "{left}");
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/metadata/identity/oauth2/token");
    assert_eq!(
        query(&reqs[0]),
        pairs(&[("api-version", "2018-02-01"), ("resource", RESOURCE)])
    );
    assert_eq!(reqs[0].header("metadata"), Some("true"));
    assert_eq!(reqs[0].header("client-request-id"), Some("cid-1"));

    // The same request again: from the cache, nothing sent.
    let again = bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.access_token.secret(), "at-imds");
    assert_eq!(idp.requests().len(), 1);

    // Cached as MSAL caches managed identity tokens.
    let cache = app.token_cache().serialize();
    let v: serde_json::Value = serde_json::from_str(&cache).unwrap();
    let at = v["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(at["client_id"], "system_assigned_managed_identity");
    assert_eq!(at["realm"], "managed_identity");
    assert_eq!(at["environment"], "login.microsoftonline.com");
    assert_eq!(at["target"], SCOPE);
}

#[tokio::test]
async fn force_refresh_skips_the_cache() {
    let idp = MockIdp::start().await;
    idp.push_mi(imds_token("one"));
    idp.push_mi(imds_token("two"));
    let app = app(ManagedIdentityId::SystemAssigned, &imds_env(&idp));
    bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    let r = bounded(
        app.acquire_token_for_client(SCOPE)
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.access_token.secret(), "two");
    assert_eq!(idp.requests().len(), 2);
}

#[tokio::test]
async fn each_user_assigned_selector_on_each_source_that_takes_one() {
    let ids = [
        (ManagedIdentityId::ClientId("cid-ua".into()), 0),
        (ManagedIdentityId::ObjectId("oid-ua".into()), 1),
        (
            ManagedIdentityId::ResourceId("/subscriptions/s/rg/ua".into()),
            2,
        ),
    ];
    // The parameter names per source: IMDS, App Service, Arc.
    let names = [
        ("imds", ["client_id", "object_id", "msi_res_id"]),
        ("app_service", ["client_id", "object_id", "mi_res_id"]),
        ("arc", ["client_id", "object_id", "msi_res_id"]),
    ];
    for (source, names) in names {
        for (id, i) in &ids {
            let idp = MockIdp::start().await;
            let value = match id {
                ManagedIdentityId::ClientId(v)
                | ManagedIdentityId::ObjectId(v)
                | ManagedIdentityId::ResourceId(v) => v.clone(),
                _ => unreachable!(),
            };
            let (env, api) = match source {
                "imds" => (imds_env(&idp), "2018-02-01"),
                "app_service" => (app_service_env(&idp), "2019-08-01"),
                _ => (
                    vec![
                        ("IDENTITY_ENDPOINT", format!("{}mi/arc", idp.base)),
                        ("IMDS_ENDPOINT", format!("{}mi/imds", idp.base)),
                    ],
                    "2020-06-01",
                ),
            };
            // Arc must echo the selector in its answer.
            let mut answer = json!({"access_token": "at", "expires_in": 3599, "token_type": "Bearer",
                                    "expires_on": time::OffsetDateTime::now_utc().unix_timestamp() + 3599});
            answer[names[*i]] = json!(value);
            idp.push_mi(Answer::json(200, answer));
            let app = app(id.clone(), &env);
            bounded(app.acquire_token_for_client(SCOPE).send())
                .await
                .unwrap_or_else(|e| panic!("{source} {id:?}: {e}"));
            let reqs = idp.requests();
            assert_eq!(reqs.len(), 1, "{source}");
            assert_eq!(
                query(&reqs[0]),
                pairs(&[
                    ("api-version", api),
                    ("resource", RESOURCE),
                    (names[*i], &value)
                ]),
                "{source} {id:?}"
            );
            // Cached under the user-assigned id.
            assert!(app.token_cache().serialize().contains(&value));
        }
    }
}

#[tokio::test]
async fn app_service_exact_request_with_expires_on_as_number_or_string() {
    for as_string in [false, true] {
        let idp = MockIdp::start().await;
        let on = time::OffsetDateTime::now_utc().unix_timestamp() + 86400;
        let on = if as_string {
            json!(on.to_string())
        } else {
            json!(on)
        };
        idp.push_mi(Answer::json(
            200,
            json!({"access_token": "at-app", "expires_on": on, "resource": RESOURCE, "token_type": "Bearer"}),
        ));
        let app = app(ManagedIdentityId::SystemAssigned, &app_service_env(&idp));
        assert_eq!(app.source(), ManagedIdentitySource::AppService);
        let r = bounded(app.acquire_token_for_client(SCOPE).send())
            .await
            .unwrap();
        assert_eq!(r.access_token.secret(), "at-app");
        // A day-long token is refreshed at half its life.
        let now = time::OffsetDateTime::now_utc();
        let refresh = (r.refresh_on.unwrap() - now).whole_seconds();
        assert!((43100..=43200).contains(&refresh), "{refresh}");
        let reqs = idp.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].method, "GET");
        assert_eq!(reqs[0].path, "/mi/app");
        assert_eq!(
            query(&reqs[0]),
            pairs(&[("api-version", "2019-08-01"), ("resource", RESOURCE)])
        );
        assert_eq!(reqs[0].header("x-identity-header"), Some(SECRET));
    }
}

#[tokio::test]
async fn machine_learning_exact_request_and_its_client_id() {
    let idp = MockIdp::start().await;
    let env = vec![
        ("MSI_ENDPOINT", format!("{}mi/ml", idp.base)),
        ("MSI_SECRET", SECRET.to_owned()),
        ("DEFAULT_IDENTITY_CLIENT_ID", "default-ml-client".to_owned()),
    ];
    idp.push_mi(app_service_token("at-ml", 3600));
    idp.push_mi(app_service_token("at-ml-ua", 3600));
    let sys = app(ManagedIdentityId::SystemAssigned, &env);
    assert_eq!(sys.source(), ManagedIdentitySource::MachineLearning);
    bounded(sys.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    let ua = app(ManagedIdentityId::ClientId("ua-client".into()), &env);
    bounded(ua.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 2);
    for (r, client) in reqs.iter().zip(["default-ml-client", "ua-client"]) {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/mi/ml"));
        assert_eq!(
            query(r),
            pairs(&[
                ("api-version", "2017-09-01"),
                ("resource", RESOURCE),
                ("clientid", client)
            ])
        );
        assert_eq!(r.header("secret"), Some(SECRET));
    }
    // Azure ML takes no object id or resource id.
    let e = bounded(
        app(ManagedIdentityId::ObjectId("o".into()), &env)
            .acquire_token_for_client(SCOPE)
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (
            ErrorKind::Client,
            "user_assigned_managed_identity_not_supported"
        )
    );
    assert_eq!(idp.requests().len(), 2);
}

#[tokio::test]
async fn cloud_shell_posts_the_resource_and_refuses_user_assigned() {
    let idp = MockIdp::start().await;
    let env = vec![("MSI_ENDPOINT", format!("{}mi/shell", idp.base))];
    idp.push_mi(app_service_token("at-shell", 3600));
    let sys = app(ManagedIdentityId::SystemAssigned, &env);
    assert_eq!(sys.source(), ManagedIdentitySource::CloudShell);
    bounded(sys.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/mi/shell")
    );
    assert_eq!(reqs[0].query, "");
    assert_eq!(reqs[0].form, pairs(&[("resource", RESOURCE)]));
    assert_eq!(reqs[0].header("metadata"), Some("true"));

    let ua = app(ManagedIdentityId::ClientId("ua".into()), &env);
    let e = bounded(ua.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (
            ErrorKind::Client,
            "user_assigned_managed_identity_not_supported"
        )
    );
    assert_eq!(idp.requests().len(), 1, "nothing sent");
}

#[test]
fn the_source_is_detected_in_msals_order() {
    use ManagedIdentitySource::*;
    let e = "http://127.0.0.1:1/x";
    /// The variables, whether the Arc agent is installed, the source.
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, ManagedIdentitySource);
    let cases: &[Case] = &[
        (
            &[
                ("IDENTITY_ENDPOINT", e),
                ("IDENTITY_HEADER", "h"),
                ("IDENTITY_SERVER_THUMBPRINT", "ab"),
                ("MSI_ENDPOINT", e),
                ("MSI_SECRET", "s"),
                ("IMDS_ENDPOINT", e),
            ],
            true,
            ServiceFabric,
        ),
        (
            &[
                ("IDENTITY_ENDPOINT", e),
                ("IDENTITY_HEADER", "h"),
                ("MSI_ENDPOINT", e),
                ("MSI_SECRET", "s"),
                ("IMDS_ENDPOINT", e),
            ],
            true,
            AppService,
        ),
        (
            &[
                ("MSI_ENDPOINT", e),
                ("MSI_SECRET", "s"),
                ("IDENTITY_ENDPOINT", e),
                ("IMDS_ENDPOINT", e),
            ],
            true,
            MachineLearning,
        ),
        (
            &[
                ("MSI_ENDPOINT", e),
                ("IDENTITY_ENDPOINT", e),
                ("IMDS_ENDPOINT", e),
            ],
            true,
            CloudShell,
        ),
        (
            &[("IDENTITY_ENDPOINT", e), ("IMDS_ENDPOINT", e)],
            false,
            AzureArc,
        ),
        (&[], true, AzureArc),
        (&[("IDENTITY_ENDPOINT", e)], false, Imds),
        (&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", e)], false, Imds),
        (
            &[("IDENTITY_ENDPOINT", e), ("IDENTITY_HEADER", "")],
            false,
            Imds,
        ),
    ];
    for (env, arc_agent, want) in cases {
        let mut b = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
            .environment(env.iter().copied())
            .arc_agent_installed(*arc_agent);
        if *want == ServiceFabric {
            // Thumbprint checked when the TLS client is built: a valid one.
            b = b.environment(
                env.iter()
                    .map(|(k, v)| {
                        if *k == "IDENTITY_SERVER_THUMBPRINT" {
                            (*k, "0123456789abcdef0123456789ABCDEF01234567")
                        } else {
                            (*k, *v)
                        }
                    })
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(b.build().unwrap().source(), *want, "{env:?}");
    }
    // A forced source.
    let forced = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment([("MSI_ENDPOINT", e)])
        .source(Imds)
        .build()
        .unwrap();
    assert_eq!(forced.source(), Imds);
}

#[test]
fn endpoints_must_be_http_urls() {
    for (name, value) in [
        ("IDENTITY_ENDPOINT", "not a url"),
        ("IDENTITY_ENDPOINT", "ftp://127.0.0.1/x"),
        ("IDENTITY_ENDPOINT", "file:///etc/passwd"),
        ("MSI_ENDPOINT", "javascript:alert(1)"),
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "169.254.169.254"),
    ] {
        let mut env = vec![(name, value)];
        if name == "IDENTITY_ENDPOINT" {
            env.push(("IDENTITY_HEADER", SECRET));
        }
        let e = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
            .environment(env)
            .build()
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, "invalid_managed_identity_endpoint"),
            "{name}={value}"
        );
        assert!(!e.description().contains(SECRET));
    }
    // A source forced without its variables.
    let e = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment(Vec::<(String, String)>::new())
        .source(ManagedIdentitySource::AppService)
        .build()
        .unwrap_err();
    assert_eq!(e.code(), "invalid_managed_identity_endpoint");
}

#[tokio::test]
async fn a_400_is_a_service_error_with_the_sources_message_and_is_not_retried() {
    // IMDS's shape, then App Service's.
    let idp = MockIdp::start().await;
    idp.push_mi(Answer::json(
        400,
        json!({"error": "invalid_request", "error_description": "Identity not found"}),
    ));
    let e = bounded(
        app(ManagedIdentityId::ClientId("nope".into()), &imds_env(&idp))
            .acquire_token_for_client(SCOPE)
            .with_correlation_id("cid-400")
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "managed_identity_request_failed")
    );
    assert_eq!(e.http_status(), Some(400));
    assert_eq!(e.correlation_id(), Some("cid-400"));
    assert!(e.description().contains("Identity not found"), "{e}");
    assert_eq!(idp.requests().len(), 1);

    let idp = MockIdp::start().await;
    idp.push_mi(Answer::json(
        400,
        json!({"statusCode": 400, "message": "Unable to load the proper Managed Identity."}),
    ));
    let e = bounded(
        app(ManagedIdentityId::SystemAssigned, &app_service_env(&idp))
            .acquire_token_for_client(SCOPE)
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert!(
        e.description()
            .contains("Unable to load the proper Managed Identity."),
        "{e}"
    );
    assert!(!e.description().contains(SECRET) && !format!("{e:?}").contains(SECRET));
    assert_eq!(idp.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error_keeping_the_io_error() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = vec![(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        format!("http://127.0.0.1:{port}"),
    )];
    let e = bounded(
        app(ManagedIdentityId::SystemAssigned, &env)
            .acquire_token_for_client(SCOPE)
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Transport, "managed_identity_unreachable_network")
    );
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    let mut io = false;
    while let Some(s) = src {
        io |= s.downcast_ref::<std::io::Error>().is_some();
        src = s.source();
    }
    assert!(io, "the I/O error is in the source chain: {e:?}");
}

#[tokio::test]
async fn answers_without_a_usable_token_are_refused() {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for body in [
        json!({"expires_in": "3599"}),
        json!({"access_token": "", "expires_in": "3599"}),
        json!({"access_token": "a"}),
        json!({"access_token": "a", "expires_on": now - 10}),
        json!({"access_token": "a", "expires_in": "soon"}),
        json!({"access_token": "a", "expires_in": "-5"}),
    ] {
        let idp = MockIdp::start().await;
        idp.push_mi(Answer::json(200, body.clone()));
        let e = bounded(
            app(ManagedIdentityId::SystemAssigned, &imds_env(&idp))
                .acquire_token_for_client(SCOPE)
                .send(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Service, "invalid_managed_identity_response"),
            "{body}"
        );
    }
    // A lifetime of centuries is capped at a year.
    let idp = MockIdp::start().await;
    idp.push_mi(Answer::json(
        200,
        json!({"access_token": "a", "expires_in": "99999999999999"}),
    ));
    let r = bounded(
        app(ManagedIdentityId::SystemAssigned, &imds_env(&idp))
            .acquire_token_for_client(SCOPE)
            .send(),
    )
    .await
    .unwrap();
    let left = (r.expires_on - time::OffsetDateTime::now_utc()).whole_days();
    assert!((364..=365).contains(&left), "{left}");
}

#[tokio::test]
async fn one_scope_only() {
    let idp = MockIdp::start().await;
    let e = bounded(
        app(ManagedIdentityId::SystemAssigned, &imds_env(&idp))
            .acquire_token_for_client("a/.default b/.default")
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "invalid_argument")
    );
    assert!(idp.requests().is_empty());
}

#[tokio::test]
async fn claims_skip_the_cache_and_name_the_token_to_refresh_where_supported() {
    let idp = MockIdp::start().await;
    idp.push_mi(app_service_token("at-old", 3600));
    idp.push_mi(app_service_token("at-new", 3600));
    let app = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment(app_service_env(&idp))
        .client_capabilities(["cp1", "cp2"])
        .retry_policy(fast())
        .build()
        .unwrap();
    bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    let claims = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    let r = bounded(
        app.acquire_token_for_client(SCOPE)
            .with_claims(claims)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.access_token.secret(), "at-new");
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 2);
    let hash = format!("{:x}", sha2::Sha256::digest(b"at-old"));
    assert_eq!(
        query(&reqs[0]),
        pairs(&[
            ("api-version", "2019-08-01"),
            ("resource", RESOURCE),
            ("xms_cc", "cp1,cp2")
        ])
    );
    assert_eq!(
        query(&reqs[1]),
        pairs(&[
            ("api-version", "2019-08-01"),
            ("resource", RESOURCE),
            ("token_sha256_to_refresh", &hash),
            ("xms_cc", "cp1,cp2")
        ])
    );
    // The new token replaced the old one in the cache.
    let cached = bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    assert_eq!(cached.access_token.secret(), "at-new");
    assert_eq!(idp.requests().len(), 2);

    // IMDS takes neither: claims only skip the cache.
    let idp = MockIdp::start().await;
    idp.push_mi(imds_token("a1"));
    idp.push_mi(imds_token("a2"));
    let imds = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment(imds_env(&idp))
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    bounded(imds.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    bounded(
        imds.acquire_token_for_client(SCOPE)
            .with_claims(claims)
            .send(),
    )
    .await
    .unwrap();
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        query(&reqs[1]),
        pairs(&[("api-version", "2018-02-01"), ("resource", RESOURCE)])
    );
}

#[tokio::test]
async fn a_token_past_refresh_on_is_served_and_refreshed_in_the_background() {
    let idp = MockIdp::start().await;
    idp.push_mi(Answer::json(
        200,
        json!({"access_token": "first", "expires_in": "3599", "refresh_in": 0}),
    ));
    idp.push_mi(imds_token("second"));
    let app = app(ManagedIdentityId::SystemAssigned, &imds_env(&idp));
    bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    let hit = bounded(app.acquire_token_for_client(SCOPE).send())
        .await
        .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(hit.access_token.secret(), "first");
    bounded(async {
        while idp.requests().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    bounded(async {
        loop {
            let r = app.acquire_token_for_client(SCOPE).send().await.unwrap();
            if r.access_token.secret() == "second" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(idp.requests().len(), 2);
}

#[tokio::test]
async fn concurrent_calls_share_one_request() {
    let idp = MockIdp::start().await;
    idp.push_mi(imds_token("shared").delayed(Duration::from_millis(200)));
    let app = app(ManagedIdentityId::SystemAssigned, &imds_env(&idp));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.acquire_token_for_client(SCOPE).send().await })
        })
        .collect();
    for c in calls {
        let r = bounded(c).await.unwrap().unwrap();
        assert_eq!(r.access_token.secret(), "shared");
    }
    assert_eq!(idp.requests().len(), 1);
}

#[test]
fn secrets_stay_out_of_debug() {
    let app = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment([
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/x"),
            ("IDENTITY_HEADER", SECRET),
        ])
        .build()
        .unwrap();
    assert!(!format!("{app:?}").contains(SECRET));
    assert!(format!("{app:?}").contains("redacted"));
}
