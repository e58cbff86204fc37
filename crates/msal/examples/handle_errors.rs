//! The samples of MSAL's error-handling guide, in Rust.
//!
//! `cargo run -p msal-entra --example handle_errors` runs them against the local emulator, which is
//! told to fail in each of the ways the guide describes.
//!
//! Each error says what the guide recommends for it, [`msal::Error::advice`]; the samples act on
//! that advice:
//!
//! - silent first; on `UiRequired`, fall back to interaction (for consent, a password reset...);
//! - declined scopes: continue with the granted scopes;
//! - `Retry-After`: wait as told, then try again;
//! - a claims challenge: try again with the claims;
//! - no network: the `io::Error` is in the source chain.

use std::sync::Arc;
use std::time::Duration;

use msal::error::Advice;
use msal::{
    Account, AuthenticationResult, ConfidentialClientApplication, Error, ErrorKind,
    PublicClientApplication,
};
use msal_emulator::defaults as d;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultRule, RetryAfter};

/// The guide's .NET sample: silent, and on `UiRequired`, interactive (here: device code).
async fn acquire_for_user(
    app: &PublicClientApplication,
    emu: &Arc<EmulatorHandle>,
    scopes: &[&str],
    account: &Account,
) -> Result<AuthenticationResult, Error> {
    match app.acquire_token_silent(scopes, account).send().await {
        Ok(r) => Ok(r),
        Err(e) if e.kind() == ErrorKind::UiRequired => {
            // Every UiRequired advice is an interactive sign-in (for consent, a password reset,
            // the claims...), except `HideFeature` (MessageOnly): its sign-in page only explains
            // the condition, the user closes it and the call ends as Cancelled. An app may
            // rather hide the feature; this sample signs in anyway.
            let class = e.classification().map(|c| c.as_str()).unwrap_or("none");
            println!("  ui_required/{class}: {}", e.advice());
            let mut interactive = app.acquire_token_by_device_code(scopes).on_code({
                let emu_approve = approve_as_alice(emu);
                move |info| {
                    println!("  {}", info.message);
                    emu_approve(&info.user_code);
                }
            });
            if let Some(claims) = e.claims() {
                interactive = interactive.with_claims(claims.to_owned());
            }
            interactive.send().await
        }
        Err(e) if e.advice() == Advice::ContinueWithGrantedScopes => {
            // The guide's MSALErrorServerDeclinedScopes: continue with what was granted.
            let granted: Vec<String> = e.granted_scopes().unwrap_or_default().to_vec();
            println!("  declined {:?}: {}", e.declined_scopes(), e.advice());
            println!("  continuing with {granted:?}");
            app.acquire_token_silent(&granted, account).send().await
        }
        Err(e) => Err(e),
    }
}

/// The guide's daemon sample: wait `Retry-After` and try again; retry once with claims.
async fn acquire_for_app(
    app: &ConfidentialClientApplication,
    scopes: &[&str],
) -> Result<AuthenticationResult, Error> {
    let mut claims: Option<String> = None;
    for _attempt in 0..3 {
        let mut request = app.acquire_token_for_client(scopes);
        if let Some(c) = &claims {
            request = request.with_claims(c.clone());
        }
        let e = match request.send().await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        match e.advice() {
            advice @ (Advice::WaitRetryAfter | Advice::RetryLater) => {
                let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                println!("  {} `{}`: {advice}", e.kind(), e.code());
                println!("  waiting {}s", wait.as_secs());
                tokio::time::sleep(wait).await;
            }
            // A daemon has no user: the claims are all it can add.
            advice @ Advice::RetryWithClaims if claims.is_none() => {
                println!("  claims challenge: {advice}");
                claims = e.claims().map(str::to_owned);
            }
            _ => return Err(e),
        }
    }
    Err(Error::client("gave_up", "still failing after 3 attempts"))
}

fn approve_as_alice(emu: &Arc<EmulatorHandle>) -> impl Fn(&str) + Send + Sync + 'static {
    let emu = emu.clone();
    move |code| {
        let _ = emu.approve_device_code(code, d::USER_USERNAME);
    }
}

fn on_token(name: &str, r: Result<AuthenticationResult, Error>) {
    match r {
        Ok(t) => println!("{name}: token from {}", t.source.as_str()),
        Err(e) => {
            println!("{name}: {e}");
            println!("  what to do: {}", e.advice());
            // No network: the underlying io::Error is kept.
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                if let Some(io) = s.downcast_ref::<std::io::Error>() {
                    println!("  io error: {:?}", io.kind());
                }
                src = s.source();
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Arc::new(Emulator::start(EmulatorConfig::default_directory()).await?);
    let authority = emu.authority(d::TENANT_ID);
    let public = PublicClientApplication::builder(d::PUBLIC_CLIENT_ID)
        .authority(&authority)
        .allow_insecure_loopback(true)
        .build()?;
    let daemon = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(&authority)
        .allow_insecure_loopback(true)
        .client_secret(d::CLIENT_SECRET)
        .build()?;

    // Sign Alice in once.
    let approve = approve_as_alice(&emu);
    let first = public
        .acquire_token_by_device_code([d::GRAPH_USER_READ])
        .on_code(move |i| approve(&i.user_code))
        .send()
        .await?;
    let alice = first.account.expect("a user token has an account");

    let refresh = |action| FaultRule {
        grant_type: Some("refresh_token".into()),
        action,
        times: Some(1),
        ..Default::default()
    };
    println!("1. consent required (AADSTS65001)");
    emu.add_fault(refresh(FaultAction::AadError {
        code: 65001,
        suberror: None,
        claims: None,
    }));
    on_token(
        "   result",
        acquire_for_user(&public, &emu, &[d::GRAPH_MAIL_READ], &alice).await,
    );

    println!("2. declined scopes");
    emu.add_fault(refresh(FaultAction::DeclineScope {
        scope: "Files.Read".into(),
    }));
    on_token(
        "   result",
        acquire_for_user(
            &public,
            &emu,
            &[d::GRAPH_USER_READ, d::GRAPH_FILES_READ],
            &alice,
        )
        .await,
    );

    println!("3. throttled with Retry-After");
    emu.add_fault(FaultRule {
        grant_type: Some("client_credentials".into()),
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(RetryAfter::Seconds(1)),
            body: None,
        },
        times: Some(1),
        ..Default::default()
    });
    on_token(
        "   result",
        acquire_for_app(&daemon, &[d::API_SCOPE_DEFAULT]).await,
    );

    println!("4. claims challenge");
    emu.add_fault(FaultRule {
        grant_type: Some("client_credentials".into()),
        action: FaultAction::AadError {
            code: 50158,
            suberror: None,
            claims: Some(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#.into()),
        },
        times: Some(1),
        ..Default::default()
    });
    let fresh = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(&authority)
        .allow_insecure_loopback(true)
        .client_secret(d::CLIENT_SECRET)
        .build()?;
    on_token(
        "   result",
        acquire_for_app(&fresh, &[d::API_SCOPE_DEFAULT]).await,
    );

    println!("5. no network");
    let offline = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(format!("http://127.0.0.1:9/{}", d::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(d::CLIENT_SECRET)
        .build()?;
    on_token(
        "   result",
        acquire_for_app(&offline, &[d::API_SCOPE_DEFAULT]).await,
    );
    Ok(())
}
