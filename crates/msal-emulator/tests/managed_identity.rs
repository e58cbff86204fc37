//! The managed identity sources (IMDS, App Service, Service Fabric, Azure ML, Cloud Shell,
//! Azure Arc), their fault presets, and workload identity federation, on the wire.

mod common;

use std::time::Duration;

use common::*;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Endpoint, FaultRule, defaults as d};
use serde_json::Value;

const RESOURCE: &str = "https://management.azure.com/";

fn imds(emu: &EmulatorHandle, extra: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let mut q = vec![("api-version", "2018-02-01"), ("resource", RESOURCE)];
    q.extend_from_slice(extra);
    client().get(emu.imds_endpoint()).query(&q)
}

fn assert_string_fields(a: &Answer, fields: &[&str]) {
    for f in fields {
        assert!(a.json[f].is_string(), "{f} of {:?}", a.json);
    }
}

/// Checks the token: signed by the emulator (its tenant's keys), for the resource, of the
/// identity.
async fn assert_mi_token(emu: &EmulatorHandle, token: &str, client_id: &str, object_id: &str) {
    let claims = jwt_claims(token);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["appid"], client_id);
    assert_eq!(claims["oid"], object_id);
    assert_eq!(claims["sub"], object_id);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["tid"], d::TENANT_ID);
    assert!(
        claims["xms_mirid"]
            .as_str()
            .unwrap()
            .starts_with("/subscriptions/")
    );
    // The same key as the emulator's other tokens.
    let keys = send(client().get(format!(
        "{}{}/discovery/v2.0/keys",
        emu.base_url(),
        d::TENANT_ID
    )))
    .await;
    let kid = keys.json["keys"][0]["kid"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&base64_url(token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["kid"], kid);
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[tokio::test]
async fn imds_system_and_user_assigned() {
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let a = send(imds(&emu, &[]).header("Metadata", "true")).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_string_fields(
        &a,
        &[
            "access_token",
            "expires_in",
            "expires_on",
            "ext_expires_in",
            "not_before",
            "resource",
            "token_type",
            "client_id",
        ],
    );
    assert_eq!(a.json["token_type"], "Bearer");
    assert_eq!(a.json["resource"], RESOURCE);
    assert_eq!(a.json["client_id"], d::SYSTEM_ASSIGNED_CLIENT_ID);
    assert_eq!(a.json["expires_in"], "86399");
    let t = a.json["access_token"].as_str().unwrap();
    assert_mi_token(
        &emu,
        t,
        d::SYSTEM_ASSIGNED_CLIENT_ID,
        d::SYSTEM_ASSIGNED_OBJECT_ID,
    )
    .await;
    assert_eq!(jwt_claims(t)["xms_mirid"], d::SYSTEM_ASSIGNED_RESOURCE_ID);

    for sel in [
        ("client_id", d::USER_ASSIGNED_CLIENT_ID),
        ("object_id", d::USER_ASSIGNED_OBJECT_ID),
        ("msi_res_id", d::USER_ASSIGNED_RESOURCE_ID),
    ] {
        let a = send(imds(&emu, &[sel]).header("Metadata", "true")).await;
        assert_eq!(a.status, 200, "{sel:?}: {:?}", a.json);
        assert_eq!(a.json["client_id"], d::USER_ASSIGNED_CLIENT_ID);
        let claims = jwt_claims(a.json["access_token"].as_str().unwrap());
        assert_eq!(claims["oid"], d::USER_ASSIGNED_OBJECT_ID);
        assert_eq!(claims["xms_mirid"], d::USER_ASSIGNED_RESOURCE_ID);
    }
    // The exact request is in the log.
    let log = emu.requests();
    let last = log.last().unwrap();
    assert_eq!(last.method, "GET");
    assert_eq!(last.path, "/metadata/identity/oauth2/token");
    assert_eq!(last.header("metadata"), Some("true"));
}

#[tokio::test]
async fn imds_refusals() {
    let emu = start().await;
    // No Metadata header.
    let a = send(imds(&emu, &[])).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["error"], "invalid_request");
    // Unknown identity.
    let a = send(
        imds(
            &emu,
            &[("client_id", "00000000-0000-0000-0000-000000000000")],
        )
        .header("Metadata", "true"),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json,
        serde_json::json!({"error": "invalid_request", "error_description": "Identity not found"})
    );
    // Two selectors.
    let a = send(
        imds(
            &emu,
            &[
                ("client_id", d::USER_ASSIGNED_CLIENT_ID),
                ("object_id", d::USER_ASSIGNED_OBJECT_ID),
            ],
        )
        .header("Metadata", "true"),
    )
    .await;
    assert_eq!(a.status, 400);
    // No resource.
    let a = send(
        client()
            .get(emu.imds_endpoint())
            .query(&[("api-version", "2018-02-01")])
            .header("Metadata", "true"),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["error"], "invalid_request");
}

#[tokio::test]
async fn app_service_shape_secret_and_revocation() {
    let emu = start().await;
    let req = |extra: &[(&str, &str)]| {
        let mut q = vec![("api-version", "2019-08-01"), ("resource", RESOURCE)];
        q.extend_from_slice(extra);
        client().get(emu.app_service_endpoint()).query(&q)
    };
    let a = send(req(&[]).header("X-IDENTITY-HEADER", d::IDENTITY_HEADER)).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_string_fields(
        &a,
        &[
            "access_token",
            "expires_on",
            "resource",
            "token_type",
            "client_id",
        ],
    );
    let expires_on: u64 = a.json["expires_on"].as_str().unwrap().parse().unwrap();
    assert!(expires_on > 1_700_000_000);
    let first = a.json["access_token"].as_str().unwrap().to_string();
    assert_mi_token(
        &emu,
        &first,
        d::SYSTEM_ASSIGNED_CLIENT_ID,
        d::SYSTEM_ASSIGNED_OBJECT_ID,
    )
    .await;

    // Missing and wrong secrets.
    let a = send(req(&[])).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["statusCode"], 400);
    let a = send(req(&[]).header("X-IDENTITY-HEADER", "wrong")).await;
    assert_eq!(a.status, 401);
    assert!(a.json["message"].is_string());

    // The source hands out its cached token again...
    let a = send(req(&[]).header("X-IDENTITY-HEADER", d::IDENTITY_HEADER)).await;
    assert_eq!(a.json["access_token"], first.as_str());
    // ...a hash of another token does not replace it...
    let a = send(
        req(&[("token_sha256_to_refresh", &"0".repeat(64))])
            .header("X-IDENTITY-HEADER", d::IDENTITY_HEADER),
    )
    .await;
    assert_eq!(a.json["access_token"], first.as_str());
    // ...the hash of the cached token (a claims challenge) does, with the capabilities.
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(first.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let a = send(
        req(&[("token_sha256_to_refresh", &hash), ("xms_cc", "cp1")])
            .header("X-IDENTITY-HEADER", d::IDENTITY_HEADER),
    )
    .await;
    assert_eq!(a.status, 200);
    let fresh = a.json["access_token"].as_str().unwrap();
    assert_ne!(fresh, first);
    assert_eq!(jwt_claims(fresh)["xms_cc"], serde_json::json!(["cp1"]));
    let last = emu.requests().pop().unwrap();
    assert!(
        last.query
            .unwrap()
            .contains(&format!("token_sha256_to_refresh={hash}"))
    );

    // User-assigned by each selector; an unknown one.
    for sel in [
        ("client_id", d::USER_ASSIGNED_CLIENT_ID),
        ("object_id", d::USER_ASSIGNED_OBJECT_ID),
        ("mi_res_id", d::USER_ASSIGNED_RESOURCE_ID),
    ] {
        let a = send(req(&[sel]).header("X-IDENTITY-HEADER", d::IDENTITY_HEADER)).await;
        assert_eq!(a.json["client_id"], d::USER_ASSIGNED_CLIENT_ID, "{sel:?}");
    }
    let a =
        send(req(&[("client_id", "nobody")]).header("X-IDENTITY-HEADER", d::IDENTITY_HEADER)).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["statusCode"], 400);
}

#[tokio::test]
async fn service_fabric_over_tls_with_the_printed_thumbprint() {
    let emu = start().await;
    let endpoint = emu.service_fabric_endpoint().to_string();
    assert!(endpoint.starts_with("https://127.0.0.1:"));
    assert_eq!(emu.service_fabric_thumbprint().len(), 40);
    assert!(
        emu.service_fabric_thumbprint()
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    // The thumbprint is the SHA-1 of the certificate the listener presents.
    let der = rustls_pki_types_der(emu.service_fabric_certificate_pem());
    use sha1::Digest;
    let thumb: String = sha1::Sha1::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(thumb, emu.service_fabric_thumbprint());

    let tls_client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            emu.service_fabric_certificate_pem().as_bytes(),
        )
        .unwrap()])
        .build()
        .unwrap();
    let req = |secret: Option<&str>| {
        let r = tls_client.get(&endpoint).query(&[
            ("api-version", "2019-07-01-preview"),
            ("resource", RESOURCE),
        ]);
        match secret {
            Some(s) => r.header("secret", s),
            None => r,
        }
    };
    let a = send(req(Some(d::IDENTITY_HEADER))).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert!(a.json["expires_on"].is_u64(), "a number: {:?}", a.json);
    assert_eq!(a.json["token_type"], "Bearer");
    assert_eq!(a.json["resource"], RESOURCE);
    let t = a.json["access_token"].as_str().unwrap();
    assert_mi_token(
        &emu,
        t,
        d::SYSTEM_ASSIGNED_CLIENT_ID,
        d::SYSTEM_ASSIGNED_OBJECT_ID,
    )
    .await;
    let a = send(req(None)).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["error"]["code"], "SecretHeaderNotFound");
    let a = send(req(Some("wrong"))).await;
    assert_eq!(a.status, 401);

    // Not served on the plain listener; a client that does not trust the certificate fails.
    let a = send(client().get(format!("{}msi/service-fabric/token", emu.base_url()))).await;
    assert_eq!(a.status, 404);
    let untrusting = reqwest::Client::builder().build().unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        untrusting
            .get(&endpoint)
            .header("secret", d::IDENTITY_HEADER)
            .send(),
    )
    .await
    .unwrap();
    assert!(r.is_err());
}

fn rustls_pki_types_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[tokio::test]
async fn azure_ml_and_cloud_shell() {
    let emu = start().await;
    let a = send(
        client()
            .get(emu.azure_ml_endpoint())
            .query(&[
                ("api-version", "2017-09-01"),
                ("resource", RESOURCE),
                ("clientid", d::USER_ASSIGNED_CLIENT_ID),
            ])
            .header("secret", d::IDENTITY_HEADER),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_string_fields(
        &a,
        &["access_token", "expires_on", "resource", "token_type"],
    );
    assert_eq!(a.json["client_id"], d::USER_ASSIGNED_CLIENT_ID);
    let a = send(
        client()
            .get(emu.azure_ml_endpoint())
            .query(&[("api-version", "2017-09-01"), ("resource", RESOURCE)])
            .header("secret", "wrong"),
    )
    .await;
    assert_eq!(a.status, 401);

    let shell = |form: &[(&str, &str)], metadata: bool| {
        let r = client().post(emu.cloud_shell_endpoint()).form(form);
        if metadata {
            r.header("Metadata", "true")
        } else {
            r
        }
    };
    let a = send(shell(&[("resource", RESOURCE)], true)).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_string_fields(
        &a,
        &["access_token", "expires_in", "expires_on", "resource"],
    );
    assert_mi_token(
        &emu,
        a.json["access_token"].as_str().unwrap(),
        d::SYSTEM_ASSIGNED_CLIENT_ID,
        d::SYSTEM_ASSIGNED_OBJECT_ID,
    )
    .await;
    let log = emu.requests();
    let last = log
        .iter()
        .rev()
        .find(|r| r.path == "/msi/cloud-shell/token")
        .unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.header("metadata"), Some("true"));
    assert_eq!(last.form_value("resource"), Some(RESOURCE));
    assert_eq!(
        send(shell(&[("resource", RESOURCE)], false)).await.status,
        400
    );
    let a = send(shell(
        &[
            ("resource", RESOURCE),
            ("client_id", d::USER_ASSIGNED_CLIENT_ID),
        ],
        true,
    ))
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.json["error_description"]
            .as_str()
            .unwrap()
            .contains("not supported")
    );
    assert_eq!(send(shell(&[], true)).await.status, 400);
}

fn arc_request(emu: &EmulatorHandle, extra: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let mut q = vec![("api-version", "2020-06-01"), ("resource", RESOURCE)];
    q.extend_from_slice(extra);
    client()
        .get(emu.arc_endpoint())
        .query(&q)
        .header("Metadata", "true")
}

/// The key file a challenge names.
fn realm(a: &Answer) -> std::path::PathBuf {
    let h = a.header("www-authenticate").expect("a challenge");
    std::path::PathBuf::from(h.strip_prefix("Basic realm=").expect("a realm"))
}

#[tokio::test]
async fn arc_challenge_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig::default_directory().with_arc_key_dir(dir.path()))
        .await
        .unwrap();
    assert_eq!(emu.arc_key_dir(), dir.path());
    let a = send(arc_request(&emu, &[])).await;
    assert_eq!(a.status, 401);
    let path = realm(&a);
    assert_eq!(path.parent(), Some(dir.path()));
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = std::fs::read_to_string(&path).unwrap();
    assert!(key.len() >= 32);

    let a = send(arc_request(&emu, &[]).header("Authorization", format!("Basic {key}"))).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_string_fields(
        &a,
        &["access_token", "expires_in", "expires_on", "resource"],
    );
    assert!(
        a.json.get("client_id").is_none(),
        "system-assigned: nothing to echo"
    );
    // The answer echoes the user-assigned selector.
    for (name, value) in [
        ("client_id", d::USER_ASSIGNED_CLIENT_ID),
        ("object_id", d::USER_ASSIGNED_OBJECT_ID),
        ("msi_res_id", d::USER_ASSIGNED_RESOURCE_ID),
    ] {
        let a = send(
            arc_request(&emu, &[(name, value)]).header("Authorization", format!("Basic {key}")),
        )
        .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        assert_eq!(a.json[name], value);
        let claims = jwt_claims(a.json["access_token"].as_str().unwrap());
        assert_eq!(claims["oid"], d::USER_ASSIGNED_OBJECT_ID);
    }
    // A wrong key, and no Metadata header.
    let a = send(arc_request(&emu, &[]).header("Authorization", "Basic not-the-key")).await;
    assert_eq!(a.status, 401);
    assert!(a.header("www-authenticate").is_none());
    let a = send(
        client()
            .get(emu.arc_endpoint())
            .query(&[("api-version", "2020-06-01"), ("resource", RESOURCE)]),
    )
    .await;
    assert_eq!(a.status, 400);
    // The emulator's key files go with it.
    emu.shutdown().await;
    assert!(!path.exists());
}

#[tokio::test]
async fn arc_default_key_dir_is_the_emulators_own_and_removed() {
    let emu = start().await;
    let dir = emu.arc_key_dir().to_path_buf();
    assert!(dir.is_dir());
    let a = send(arc_request(&emu, &[])).await;
    assert!(realm(&a).starts_with(&dir));
    emu.shutdown().await;
    // The server task is done; the directory goes with the last reference to the emulator.
    tokio::time::timeout(Duration::from_secs(10), async {
        while dir.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the directory is removed");
}

#[tokio::test]
async fn arc_key_files_are_bounded_and_the_dir_is_made() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tokens");
    let emu = Emulator::start(EmulatorConfig::default_directory().with_arc_key_dir(&dir))
        .await
        .unwrap();
    assert!(dir.is_dir());
    let first = realm(&send(arc_request(&emu, &[])).await);
    // One client for them all (building one per request is what takes time).
    let c = client();
    for _ in 0..260 {
        let req = c
            .get(emu.arc_endpoint())
            .query(&[("api-version", "2020-06-01"), ("resource", RESOURCE)])
            .header("Metadata", "true");
        assert_eq!(send(req).await.status, 401);
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert!(files <= 256, "{files} key files");
    // The oldest key went with its file.
    assert!(!first.exists());
}

#[tokio::test]
async fn fault_presets_on_the_sources() {
    let emu = start().await;
    // The admin API lists the managed identity presets and installs them by name.
    let presets = send(
        client()
            .get(format!("{}_emulator/faults/presets", emu.base_url()))
            .bearer_auth(emu.admin_token()),
    )
    .await;
    for name in msal_emulator::MANAGED_IDENTITY_PRESET_NAMES {
        assert!(
            presets.json["presets"]
                .as_array()
                .unwrap()
                .contains(&Value::from(*name))
        );
    }
    let installed = send(
        client()
            .post(format!("{}_emulator/faults", emu.base_url()))
            .bearer_auth(emu.admin_token())
            .json(&serde_json::json!({"preset": "imds_updating", "times": 1})),
    )
    .await;
    assert_eq!(installed.status, 201);
    // imds_updating, twice (once from the admin API, once more from here).
    emu.add_fault(FaultRule::preset("imds_updating").unwrap().once());
    for _ in 0..2 {
        assert_eq!(
            send(imds(&emu, &[]).header("Metadata", "true"))
                .await
                .status,
            410
        );
    }
    assert_eq!(
        send(imds(&emu, &[]).header("Metadata", "true"))
            .await
            .status,
        200
    );
    // The other presets apply on these endpoints too.
    emu.add_fault(
        FaultRule::preset("throttled")
            .unwrap()
            .on(Endpoint::ManagedIdentity)
            .once(),
    );
    let a = send(imds(&emu, &[]).header("Metadata", "true")).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after"), Some("5"));

    // identity_not_found: each source's answer.
    let id = emu.add_fault(FaultRule::preset("identity_not_found").unwrap());
    let a = send(imds(&emu, &[]).header("Metadata", "true")).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["error_description"], "Identity not found");
    let a = send(
        client()
            .get(emu.app_service_endpoint())
            .query(&[("api-version", "2019-08-01"), ("resource", RESOURCE)])
            .header("X-IDENTITY-HEADER", d::IDENTITY_HEADER),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["statusCode"], 400);
    assert!(emu.remove_fault(id));

    // arc_challenge_denied: no usable realm, and the right key refused.
    let a = send(arc_request(&emu, &[])).await;
    let key = std::fs::read_to_string(realm(&a)).unwrap();
    let id = emu.add_fault(FaultRule::preset("arc_challenge_denied").unwrap());
    let a = send(arc_request(&emu, &[])).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.header("www-authenticate"), Some("Basic"));
    let a = send(arc_request(&emu, &[]).header("Authorization", format!("Basic {key}"))).await;
    assert_eq!(a.status, 401);
    assert!(emu.remove_fault(id));
    let a = send(arc_request(&emu, &[]).header("Authorization", format!("Basic {key}"))).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn the_banner_prints_each_sources_environment() {
    use clap::Parser;
    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        args: msal_emulator::CliArgs,
    }
    let dir = tempfile::tempdir().unwrap();
    let w = W::parse_from(["x", "--arc-key-dir", dir.path().to_str().unwrap()]);
    let mut out = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        msal_emulator::run_cli_until(w.args, &mut out, async {}),
    )
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:",
        "/msi/app-service/token IDENTITY_HEADER=",
        "IDENTITY_ENDPOINT=https://127.0.0.1:",
        "IDENTITY_SERVER_THUMBPRINT=",
        "MSI_ENDPOINT=http://127.0.0.1:",
        "MSI_SECRET=",
        "/msi/cloud-shell/token",
        "IMDS_ENDPOINT=http://127.0.0.1:",
        "AZURE_FEDERATED_TOKEN_FILE=",
        "AZURE_CLIENT_ID=",
        "AZURE_TENANT_ID=",
        "AZURE_AUTHORITY_HOST=",
        "_emulator/federation/token",
        &format!("(key files in {})", dir.path().display()),
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let thumb = text
        .split("IDENTITY_SERVER_THUMBPRINT=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(thumb.len(), 40);
}

/// IMDS's location of the VM, which regional endpoint detection asks for: the region as text
/// with `format=text`, a JSON string without; 400 without `Metadata: true` or an API version;
/// 404 when the emulator is configured with no region (off Azure).
#[tokio::test]
async fn imds_reports_the_vm_location_for_region_detection() {
    let emu = start().await;
    let url = format!(
        "{}/metadata/instance/compute/location",
        emu.base_url_no_slash()
    );
    let q = [("format", "text"), ("api-version", "2021-01-01")];
    let a = send(client().get(&url).query(&q).header("Metadata", "true")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json, Value::String(d::REGION.into()));
    assert!(a.header("content-type").unwrap().starts_with("text/plain"));
    let a = send(
        client()
            .get(&url)
            .query(&[("api-version", "2021-01-01")])
            .header("Metadata", "true"),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        a.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(a.json, Value::String(d::REGION.into()));
    let a = send(client().get(&url).query(&q)).await;
    assert_eq!(a.status, 400, "no Metadata header");
    let a = send(
        client()
            .get(&url)
            .query(&[("format", "text")])
            .header("Metadata", "true"),
    )
    .await;
    assert_eq!(a.status, 400, "no api-version");
    let logged = emu.requests();
    assert_eq!(
        logged[0].host(),
        Some(emu.base_url_no_slash().trim_start_matches("http://"))
    );

    let mut cfg = EmulatorConfig::default_directory();
    cfg.options.region = String::new();
    let off_azure = Emulator::start(cfg).await.unwrap();
    let url = format!(
        "{}/metadata/instance/compute/location",
        off_azure.base_url_no_slash()
    );
    let a = send(client().get(&url).query(&q).header("Metadata", "true")).await;
    assert_eq!(a.status, 404);
}
