//! Every fault preset of the emulator crossed with every flow, in one table: what the library
//! reports for each pair (error kind, code, classification, AADSTS numbers, HTTP status) and how
//! many requests it sent to the token endpoint.
//!
//! Each pair runs against its own emulator, so the pairs run concurrently: the flow's
//! preliminaries come first (a user token for on-behalf-of, a refresh token for silent, the
//! sign-in on the pages for the web app), then the preset is installed and the request under
//! test is sent. The presets act on the token endpoint whatever the grant type, so they reach
//! every flow, except where the table says why not.

#[path = "support/emulator_pages.rs"]
mod emulator_pages;

use std::sync::Arc;
use std::time::Duration;

use msal::cache::TokenCache;
use msal::http::RetryPolicy;
use msal::{
    AuthenticationResult, ConfidentialClientApplication, Error, ErrorKind, PublicClientApplication,
    UiRequiredClassification as Class,
};
use msal_emulator::{
    CLAIMS_CHALLENGE_JSON, Emulator, EmulatorConfig, EmulatorHandle, FaultRule, PRESET_NAMES,
    defaults,
};

/// The flows, in the order of the table's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    ClientCredentials,
    DeviceCode,
    Silent,
    Ropc,
    Obo,
    AuthCode,
}

const FLOWS: [Flow; 6] = [
    Flow::ClientCredentials,
    Flow::DeviceCode,
    Flow::Silent,
    Flow::Ropc,
    Flow::Obo,
    Flow::AuthCode,
];

/// How a flow ends under a preset.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// A token.
    Token,
    /// The preset cannot change this flow's answer, for the reason given: the flow runs anyway
    /// and gets its token.
    NotReached(&'static str),
    /// This error.
    Fails {
        kind: ErrorKind,
        code: &'static str,
        class: Option<Class>,
        aadsts: &'static [u32],
        status: Option<u16>,
    },
}

const fn ui(code: &'static str, class: Class, aadsts: &'static [u32]) -> Expect {
    Expect::Fails {
        kind: ErrorKind::UiRequired,
        code,
        class: Some(class),
        aadsts,
        status: Some(400),
    }
}

const fn service(code: &'static str, aadsts: &'static [u32], status: Option<u16>) -> Expect {
    Expect::Fails {
        kind: ErrorKind::Service,
        code,
        class: None,
        aadsts,
        status,
    }
}

const fn transport(code: &'static str) -> Expect {
    Expect::Fails {
        kind: ErrorKind::Transport,
        code,
        class: None,
        aadsts: &[],
        status: None,
    }
}

const OK: Expect = Expect::Token;
const CONSENT: Expect = ui("invalid_grant", Class::ConsentRequired, &[65001]);
const MFA: Expect = ui("interaction_required", Class::BasicAction, &[50076]);
const MFA_ENROLL: Expect = ui("interaction_required", Class::BasicAction, &[50079]);
const PWD_EXPIRED: Expect = ui("invalid_grant", Class::UserPasswordExpired, &[50055]);
const CA_BLOCKED: Expect = ui("invalid_grant", Class::MessageOnly, &[53003]);
const CLAIMS: Expect = ui("interaction_required", Class::AdditionalAction, &[50158]);
// The suberror `protection_policy_required` is not a UI matter (MSAL .NET's non-UI suberrors);
// the library names it in the code so that apps can ask for the Intune policy.
const MAM: Expect = service("protection_policy_required", &[53005], Some(400));
const THROTTLED: Expect = service("temporarily_unavailable", &[], Some(429));
const UNAVAILABLE: Expect = service("temporarily_unavailable", &[], Some(503));
const SERVER_ERR: Expect = service("server_error", &[], Some(500));
const DECLINED: Expect = service("declined_scopes", &[], None);
const BAD_JSON: Expect = service("non_parsable_oauth_error", &[], Some(200));
const PROXY_HTML: Expect = service("non_parsable_oauth_error", &[], Some(502));
const ON_COMMON: Expect = service("invalid_request", &[90010], Some(400));
const LOOP: Expect = service("invalid_request", &[50196], Some(400));
const DROPPED: Expect = transport("network_error");
const TIMEOUT: Expect = transport("request_timeout");
const APP_ONLY: Expect = Expect::NotReached(
    "client credentials ask for `<resource>/.default` only: there is no delegated Mail.Read to decline",
);

/// One row per preset (`none`: no fault, the control row): the number of requests the library
/// sends to the token endpoint once the preset is installed (2: MSAL's one retry of a 5xx
/// without `Retry-After`, or of a timeout), then the outcome of each flow. The emulator answers
/// the user conditions (MFA, consent, expired password...) to app-only requests too, which
/// Entra would not; the library classifies the answer the same whatever the flow, as MSAL .NET.
#[rustfmt::skip]
const MATRIX: &[(&str, usize, [Expect; 6])] = &[
    // preset                        sends  client creds  device code  silent       ROPC         OBO          auth code
    ("none",                            1, [OK,          OK,          OK,          OK,          OK,          OK]),
    ("consent_required",                1, [CONSENT,     CONSENT,     CONSENT,     CONSENT,     CONSENT,     CONSENT]),
    ("mfa_required",                    1, [MFA,         MFA,         MFA,         MFA,         MFA,         MFA]),
    ("mfa_enrollment_required",         1, [MFA_ENROLL,  MFA_ENROLL,  MFA_ENROLL,  MFA_ENROLL,  MFA_ENROLL,  MFA_ENROLL]),
    ("password_expired",                1, [PWD_EXPIRED, PWD_EXPIRED, PWD_EXPIRED, PWD_EXPIRED, PWD_EXPIRED, PWD_EXPIRED]),
    ("conditional_access_blocked",      1, [CA_BLOCKED,  CA_BLOCKED,  CA_BLOCKED,  CA_BLOCKED,  CA_BLOCKED,  CA_BLOCKED]),
    ("protection_policy_required",      1, [MAM,         MAM,         MAM,         MAM,         MAM,         MAM]),
    ("throttled",                       1, [THROTTLED,   THROTTLED,   THROTTLED,   THROTTLED,   THROTTLED,   THROTTLED]),
    ("service_unavailable",             2, [UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE]),
    ("temporarily_unavailable",         1, [UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE]),
    ("server_error",                    2, [SERVER_ERR,  SERVER_ERR,  SERVER_ERR,  SERVER_ERR,  SERVER_ERR,  SERVER_ERR]),
    ("declined_scope",                  1, [APP_ONLY,    DECLINED,    DECLINED,    DECLINED,    DECLINED,    DECLINED]),
    ("claims_challenge",                1, [CLAIMS,      CLAIMS,      CLAIMS,      CLAIMS,      CLAIMS,      CLAIMS]),
    ("network_drop",                    1, [DROPPED,     DROPPED,     DROPPED,     DROPPED,     DROPPED,     DROPPED]),
    ("hang",                            2, [TIMEOUT,     TIMEOUT,     TIMEOUT,     TIMEOUT,     TIMEOUT,     TIMEOUT]),
    ("malformed_json",                  1, [BAD_JSON,    BAD_JSON,    BAD_JSON,    BAD_JSON,    BAD_JSON,    BAD_JSON]),
    ("html_proxy_error",                2, [PROXY_HTML,  PROXY_HTML,  PROXY_HTML,  PROXY_HTML,  PROXY_HTML,  PROXY_HTML]),
    ("grant_not_supported_on_common",   1, [ON_COMMON,   ON_COMMON,   ON_COMMON,   ON_COMMON,   ON_COMMON,   ON_COMMON]),
    ("client_request_loop",             1, [LOOP,        LOOP,        LOOP,        LOOP,        LOOP,        LOOP]),
];

/// What each preset says beyond the table's columns.
fn check_details(preset: &str, e: &Error) -> Result<(), String> {
    let retryable = matches!(
        preset,
        "throttled"
            | "service_unavailable"
            | "temporarily_unavailable"
            | "server_error"
            | "network_drop"
            | "hang"
            | "html_proxy_error"
    );
    let retry_after = match preset {
        "throttled" => Some(Duration::from_secs(5)),
        "temporarily_unavailable" => Some(Duration::from_secs(1)),
        _ => None,
    };
    let claims = (preset == "claims_challenge").then_some(CLAIMS_CHALLENGE_JSON);
    let mut wrong = Vec::new();
    if e.is_retryable() != retryable {
        wrong.push(format!("is_retryable() = {}", e.is_retryable()));
    }
    if e.retry_after() != retry_after {
        wrong.push(format!("retry_after() = {:?}", e.retry_after()));
    }
    if e.is_throttled() != (preset == "throttled") {
        wrong.push(format!("is_throttled() = {}", e.is_throttled()));
    }
    if e.claims() != claims {
        wrong.push(format!("claims() = {:?}", e.claims()));
    }
    if preset == "declined_scope" {
        let partial = e.partial_result().map(|r| r.scopes.clone());
        if !partial.is_some_and(|s| s.iter().any(|s| s == "User.Read")) {
            wrong.push("no partial result with the granted User.Read".into());
        }
        if e.declined_scopes() != Some(&["Mail.Read".to_string()][..]) {
            wrong.push(format!("declined_scopes() = {:?}", e.declined_scopes()));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join(", "))
    }
}

const USER_SCOPES: [&str; 2] = ["User.Read", "Mail.Read"];
/// The client timeout for `hang` (which would otherwise wait 30 s, twice).
const HANG_TIMEOUT: Duration = Duration::from_secs(1);
/// A bound on one pair, whatever happens.
const PAIR_DEADLINE: Duration = Duration::from_secs(30);

/// Fast retries (MSAL waits 1 s before retrying a 5xx); the retry itself stays.
fn retry() -> RetryPolicy {
    RetryPolicy {
        delay: Duration::from_millis(10),
        ..Default::default()
    }
}

fn public(emu: &EmulatorHandle, timeout: Duration) -> PublicClientApplication {
    PublicClientApplication::builder(defaults::PUBLIC_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .token_cache(TokenCache::new())
        .timeout(timeout)
        .retry_policy(retry())
        .build()
        .unwrap()
}

fn confidential(emu: &EmulatorHandle, timeout: Duration) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(defaults::CONFIDENTIAL_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(defaults::CLIENT_SECRET)
        .timeout(timeout)
        .retry_policy(retry())
        .build()
        .unwrap()
}

/// Runs `flow` with `rule` installed just before the request under test; returns its outcome
/// and the number of token requests sent from then on.
async fn run(
    flow: Flow,
    rule: Option<FaultRule>,
    timeout: Duration,
) -> (Result<AuthenticationResult, Error>, usize) {
    let emu = Arc::new(
        Emulator::start(EmulatorConfig::default_directory())
            .await
            .unwrap(),
    );
    let install = || {
        emu.clear_requests();
        if let Some(rule) = rule.clone() {
            emu.add_fault(rule);
        }
    };
    let (user, password) = (defaults::USER_USERNAME, defaults::USER_PASSWORD);
    let result = match flow {
        Flow::ClientCredentials => {
            let app = confidential(&emu, timeout);
            install();
            app.acquire_token_for_client([defaults::API_SCOPE_DEFAULT])
                .send()
                .await
        }
        Flow::DeviceCode => {
            let app = public(&emu, timeout);
            install();
            // The user signs in as soon as the code is shown: the first poll meets the fault.
            let approver = emu.clone();
            app.acquire_token_by_device_code(USER_SCOPES)
                .on_code(move |info| {
                    approver
                        .approve_device_code(&info.user_code, user)
                        .expect("the emulator approves the code")
                })
                .send()
                .await
        }
        Flow::Silent => {
            let app = public(&emu, timeout);
            let signed_in = app
                .acquire_token_by_username_password(USER_SCOPES, user, password)
                .send()
                .await
                .expect("setup: a refresh token");
            install();
            app.acquire_token_silent(USER_SCOPES, &signed_in.account.unwrap())
                .force_refresh(true)
                .send()
                .await
        }
        Flow::Ropc => {
            let app = public(&emu, timeout);
            install();
            app.acquire_token_by_username_password(USER_SCOPES, user, password)
                .send()
                .await
        }
        Flow::Obo => {
            let incoming = public(&emu, timeout)
                .acquire_token_by_username_password([defaults::API_SCOPE], user, password)
                .send()
                .await
                .expect("setup: the user's token for the web API");
            let api = confidential(&emu, timeout);
            install();
            api.acquire_token_on_behalf_of(USER_SCOPES, incoming.access_token.secret())
                .send()
                .await
        }
        Flow::AuthCode => {
            let app = confidential(&emu, timeout);
            let auth = app
                .initiate_auth_code_flow(USER_SCOPES, "http://localhost:5000/")
                .send()
                .await
                .expect("setup: the authorization URL");
            let back = emulator_pages::sign_in_on_the_pages(auth.auth_uri(), user, password).await;
            let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
            install();
            app.acquire_token_by_auth_code_flow(&auth, params)
                .send()
                .await
        }
    };
    let sent = emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count();
    (result, sent)
}

/// Compares an outcome with the table; `Ok` holds the line to print.
fn judge(
    expect: Expect,
    preset: &str,
    outcome: &Result<AuthenticationResult, Error>,
) -> Result<String, String> {
    match (expect, outcome) {
        (Expect::Token, Ok(_)) => Ok("token".into()),
        (Expect::NotReached(why), Ok(_)) => Ok(format!("not reached ({why}): token")),
        (
            Expect::Fails {
                kind,
                code,
                class,
                aadsts,
                status,
            },
            Err(e),
        ) => {
            let got = (
                e.kind(),
                e.code(),
                e.classification(),
                e.aadsts_codes(),
                e.http_status(),
            );
            if got != (kind, code, class, aadsts, status) {
                return Err(format!(
                    "expected {:?}, got {got:?}: {e}",
                    (kind, code, class, aadsts, status)
                ));
            }
            check_details(preset, e)?;
            let class = class.map_or("-", Class::as_str);
            let status = status.map_or("-".to_string(), |s| s.to_string());
            Ok(format!(
                "{kind} {code}, classification {class}, AADSTS {aadsts:?}, HTTP {status}"
            ))
        }
        (_, Ok(r)) => Err(format!(
            "expected {expect:?}, got a token for {:?}",
            r.scopes
        )),
        (_, Err(e)) => Err(format!(
            "expected {expect:?}, got {} {}: {e}",
            e.kind(),
            e.code()
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_preset_against_every_flow() {
    let presets: Vec<&str> = MATRIX.iter().map(|row| row.0).collect();
    assert_eq!(
        presets[1..],
        *PRESET_NAMES,
        "the table has one row per preset, in the emulator's order"
    );

    // The slow pairs (timeouts, device code polling) start first; a dozen run at a time.
    let mut pairs: Vec<(usize, Flow)> = (0..MATRIX.len())
        .flat_map(|row| FLOWS.iter().map(move |f| (row, *f)))
        .collect();
    pairs.sort_by_key(|(row, flow)| (MATRIX[*row].0 != "hang", *flow != Flow::DeviceCode));
    let slots = Arc::new(tokio::sync::Semaphore::new(12));
    let mut tasks = tokio::task::JoinSet::new();
    for (row, flow) in pairs {
        let slots = slots.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            let (preset, sends, expected) = MATRIX[row];
            let column = FLOWS.iter().position(|f| *f == flow).unwrap();
            let timeout = if preset == "hang" {
                HANG_TIMEOUT
            } else {
                Duration::from_secs(20)
            };
            let rule = FaultRule::preset(preset);
            assert!(
                rule.is_some() || preset == "none",
                "unknown preset {preset}"
            );
            let verdict = match tokio::time::timeout(PAIR_DEADLINE, run(flow, rule, timeout)).await
            {
                Err(_) => Err(format!("did not finish in {PAIR_DEADLINE:?}")),
                Ok((outcome, sent)) => judge(expected[column], preset, &outcome).and_then(|line| {
                    if sent == sends {
                        Ok(format!("{line}; {sent} token request(s)"))
                    } else {
                        Err(format!("{line}, but {sent} token requests, not {sends}"))
                    }
                }),
            };
            (row, column, verdict)
        });
    }

    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // A panic in a pair (the library's or the setup's) fails the test here.
        results.push(joined.expect("a pair panicked"));
    }
    results.sort_by_key(|(row, column, _)| (*row, *column));
    let mut failures = Vec::new();
    for (row, column, verdict) in &results {
        let pair = format!("{} x {:?}", MATRIX[*row].0, FLOWS[*column]);
        match verdict {
            Ok(line) => println!("{pair:<50} {line}"),
            Err(why) => {
                println!("{pair:<50} FAILED: {why}");
                failures.push(format!("{pair}: {why}"));
            }
        }
    }
    let not_reached = MATRIX
        .iter()
        .flat_map(|row| row.2)
        .filter(|e| matches!(e, Expect::NotReached(_)))
        .count();
    println!(
        "{} pairs: {} presets and the control row x {} flows, {not_reached} not reached",
        results.len(),
        PRESET_NAMES.len(),
        FLOWS.len()
    );
    assert_eq!(results.len(), MATRIX.len() * FLOWS.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
