//! Every URL the emulator serves or prints leaves out the scheme's default port, as WHATWG URL
//! parsers (msal-node, browsers) do: an emulator reached at `https://127.0.0.1:443` (a proxy
//! or a container port mapping in front of it, `options.public_url`) names itself
//! `https://127.0.0.1/`, in its issuer, its endpoints, its device code page and its banner.

mod common;

use clap::Parser;
use common::*;
use msal_emulator::{CliArgs, EmulatorConfig, EmulatorHandle, defaults};
use serde_json::Value;

const PUBLIC: &str = "https://127.0.0.1:443";
const BASE: &str = "https://127.0.0.1/";

async fn start_public() -> EmulatorHandle {
    let mut cfg = EmulatorConfig::default_directory();
    cfg.options.public_url = Some(PUBLIC.to_string());
    start_with(cfg).await
}

/// The emulator where it really listens (plain HTTP on an ephemeral port).
fn local(emu: &EmulatorHandle, path: &str) -> String {
    format!("http://127.0.0.1:{}/{path}", emu.port())
}

#[tokio::test]
async fn metadata_and_issued_urls_leave_out_port_443() {
    let emu = start_public().await;
    assert_eq!(emu.base_url().as_str(), BASE);
    let authority = format!("{BASE}{}", defaults::TENANT_ID);
    assert_eq!(emu.authority(defaults::TENANT_ID), authority);

    let resp = client()
        .get(local(
            &emu,
            &format!(
                "{}/v2.0/.well-known/openid-configuration",
                defaults::TENANT_ID
            ),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(":443"), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["issuer"], format!("{authority}/v2.0"));
    assert_eq!(
        doc["token_endpoint"],
        format!("{authority}/oauth2/v2.0/token")
    );
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{authority}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{authority}/oauth2/v2.0/devicecode")
    );
    assert_eq!(doc["jwks_uri"], format!("{authority}/discovery/v2.0/keys"));
    assert_eq!(doc["cloud_instance_name"], "127.0.0.1");

    // Instance discovery knows the public host, with or without the explicit default port.
    for endpoint in [
        format!("{authority}/oauth2/v2.0/authorize"),
        format!(
            "https://127.0.0.1:443/{}/oauth2/v2.0/authorize",
            defaults::TENANT_ID
        ),
    ] {
        let a: Value = client()
            .get(local(&emu, "common/discovery/instance"))
            .query(&[
                ("api-version", "1.1"),
                ("authorization_endpoint", &endpoint),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(a["metadata"][0]["preferred_network"], "127.0.0.1", "{a}");
        assert_eq!(a["metadata"][0]["aliases"][0], "127.0.0.1", "{a}");
        assert_eq!(
            a["tenant_discovery_endpoint"],
            format!("{authority}/v2.0/.well-known/openid-configuration")
        );
    }

    // The device code page and the tokens' issuer.
    let dc = post_form(
        &local(&emu, "organizations/oauth2/v2.0/devicecode"),
        &[
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(dc.status, 200, "{:?}", dc.json);
    assert_eq!(dc.json["verification_uri"], format!("{BASE}devicelogin"));
    assert!(!dc.json["message"].as_str().unwrap().contains(":443"));
    let t = post_form(
        &local(&emu, &format!("{}/oauth2/v2.0/token", defaults::TENANT_ID)),
        &[
            ("grant_type", "password"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("username", defaults::USER_USERNAME),
            ("password", defaults::USER_PASSWORD),
            ("scope", "User.Read openid profile"),
        ],
    )
    .await;
    assert_eq!(t.status, 200, "{:?}", t.json);
    let id = jwt_claims(t.json["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], format!("{authority}/v2.0"));
}

#[tokio::test]
async fn a_bad_public_url_is_refused_at_start() {
    for bad in ["ftp://idp.test/", "https://idp.test/prefix", "nope"] {
        let mut cfg = EmulatorConfig::default_directory();
        cfg.options.public_url = Some(bad.to_string());
        let err = msal_emulator::Emulator::start(cfg).await.unwrap_err();
        assert!(err.to_string().contains("public_url"), "{bad}: {err}");
    }
}

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: CliArgs,
}

#[tokio::test]
async fn cli_banner_prints_the_public_url_without_port_443() {
    let w = Wrapper::try_parse_from(["x", "--public-url", PUBLIC]).unwrap();
    let mut out = Vec::new();
    msal_emulator::run_cli_until(w.args, &mut out, async {})
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(&format!("listening on {BASE}\n")), "{text}");
    assert!(
        text.contains(&format!("authority:   {BASE}{}\n", defaults::TENANT_ID)),
        "{text}"
    );
    // Port 443 is left out; another port (Service Fabric's is ephemeral) may begin with 443.
    let port_443 = text
        .match_indices(":443")
        .any(|(at, _)| !text[at + 4..].starts_with(|c: char| c.is_ascii_digit()));
    assert!(!port_443, "{text}");
}
