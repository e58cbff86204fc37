//! Proof-of-possession tokens and SSH certificates end to end against the emulator: the
//! tokens it issues are bound to the app's key, on client credentials and on interactive
//! sign-in (through the emulator's pages).

#[path = "support/emulator_pages.rs"]
mod emulator_pages;
#[path = "support/pop.rs"]
mod pop;

use msal::{ConfidentialClientApplication, PopKey, TokenSource};
use pop::{SSH_JWK, bounded, decode_part, url, verify_es256};
use serde_json::json;

/// End to end against the emulator: the PoP token it issues is bound to the app's key (its
/// `cnf.kid` is the key's thumbprint), and an SSH certificate comes back as one.
#[tokio::test]
async fn pop_and_ssh_end_to_end_with_the_emulator() {
    use msal_emulator::{Emulator, EmulatorConfig, defaults};
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let app = ConfidentialClientApplication::builder(defaults::CONFIDENTIAL_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(defaults::CLIENT_SECRET)
        .build()
        .unwrap();
    let key = PopKey::generate_es256().unwrap();
    let pop = || {
        app.acquire_token_for_client([defaults::API_SCOPE_DEFAULT])
            .with_proof_of_possession(key.clone(), "GET", url())
            .send()
    };
    let r = bounded(pop()).await.unwrap();
    assert_eq!(r.token_type, "pop");
    let (_, shr) = verify_es256(r.access_token.secret(), &key);
    let at = shr["at"].as_str().unwrap();
    let at_claims = decode_part(at.split('.').nth(1).unwrap());
    assert_eq!(at_claims["cnf"], json!({"kid": key.key_id()}));
    assert_eq!(bounded(pop()).await.unwrap().source, TokenSource::Cache);

    let ssh = bounded(
        app.acquire_token_for_client([defaults::API_SCOPE_DEFAULT])
            .with_ssh_certificate(SSH_JWK, "key1")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(ssh.token_type, "ssh-cert");
    assert!(
        ssh.access_token
            .secret()
            .starts_with("ssh-rsa-cert-v01@openssh.com AAAA")
    );
    // And the bearer token is another one.
    let bearer = bounded(
        app.acquire_token_for_client([defaults::API_SCOPE_DEFAULT])
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(bearer.source, TokenSource::IdentityProvider);
    assert_eq!(bearer.token_type, "Bearer");
    assert!(
        decode_part(bearer.access_token.secret().split('.').nth(1).unwrap())
            .get("cnf")
            .is_none()
    );
}

/// Interactive sign-in with the emulator's pages, asking for a PoP token: the code is
/// redeemed with `token_type=pop`, and a silent call with the same key is served from the
/// cache.
#[tokio::test]
async fn pop_on_interactive_with_the_emulator() {
    use msal_emulator::{Emulator, EmulatorConfig, defaults};
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let app = msal::PublicClientApplication::builder(defaults::PUBLIC_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    let browser = msal::Browser::callback(|auth_uri| {
        let auth_uri = auth_uri.to_owned();
        tokio::spawn(async move {
            let back = emulator_pages::sign_in_on_the_pages(
                &auth_uri,
                defaults::USER_USERNAME,
                defaults::USER_PASSWORD,
            )
            .await;
            let _ = reqwest::get(back.as_str()).await;
        });
        Ok(())
    });
    let key = PopKey::generate_es256().unwrap();
    let r = bounded(
        app.acquire_token_interactive(["User.Read"])
            .browser(browser)
            .with_proof_of_possession(key.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.token_type, "pop");
    let (_, shr) = verify_es256(r.access_token.secret(), &key);
    let at = decode_part(shr["at"].as_str().unwrap().split('.').nth(1).unwrap());
    assert_eq!(at["cnf"], json!({"kid": key.key_id()}));
    let account = r.account.unwrap();
    let hit = bounded(
        app.acquire_token_silent(["User.Read"], &account)
            .with_proof_of_possession(key.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(
        verify_es256(hit.access_token.secret(), &key).1["at"],
        shr["at"]
    );
}
