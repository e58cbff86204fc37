//! The authorization code flow with PKCE, shared by the interactive (loopback) flow of public
//! clients and the web-app flow of confidential clients: the authorize URL, the redirect's
//! checks (`state`, errors), the code redemption and the id token's `nonce`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::ScopeSet;
use super::pipeline::{Claims, Context, Request, Steps, user_scope};
use super::{AppCore, correlation_id, normalize_scopes};
use crate::authority::Metadata;
use crate::error::{Error, ErrorKind, OAuthErrorResponse, UiRequiredClassification, codes};
use crate::oauth::{TokenResponse, decode_jwt_payload};
use crate::result::AuthenticationResult;

/// The `prompt` of an authorization request: what the sign-in page must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prompt {
    /// Show nothing: sign in with the browser's session, or fail with
    /// [`UiRequiredClassification::PromptNeverFailed`].
    None,
    /// Ask for the credentials even when there is a session.
    Login,
    /// Show the consent page even when the user consented already.
    Consent,
    /// Show the account picker.
    SelectAccount,
    /// Offer to create an account (Entra External ID / B2C).
    Create,
}

impl Prompt {
    /// The wire value: `none`, `login`, `consent`, `select_account` or `create`.
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::None => "none",
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
            Prompt::Create => "create",
        }
    }
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Prompt {
    type Err = Error;

    /// Parses a wire value (case-insensitive); anything else is a `Client` error.
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "none" => Prompt::None,
            "login" => Prompt::Login,
            "consent" => Prompt::Consent,
            "select_account" => Prompt::SelectAccount,
            "create" => Prompt::Create,
            _ => {
                return Err(Error::client(
                    codes::INVALID_ARGUMENT,
                    format!(
                        "`{s}` is not a prompt; use none, login, consent, select_account or create"
                    ),
                ));
            }
        })
    }
}

/// The parameters the library sets itself; extra query parameters may not repeat them.
const LIBRARY_PARAMETERS: [&str; 13] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "client_info",
    "prompt",
    "login_hint",
    "domain_hint",
    "claims",
];

/// The caller's options of an authorization request.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthorizeOptions {
    pub prompt: Option<Prompt>,
    pub login_hint: Option<String>,
    pub domain_hint: Option<String>,
    pub extra: Vec<(String, String)>,
}

/// The builder methods of [`AuthorizeOptions`], for requests with an `auth` field.
macro_rules! authorize_option_methods {
    () => {
        /// What the sign-in page must show (`prompt`).
        pub fn prompt(mut self, prompt: $crate::app::Prompt) -> Self {
            self.auth.prompt = Some(prompt);
            self
        }

        /// Pre-fills the user name on the sign-in page (`login_hint`).
        pub fn login_hint(mut self, username: impl Into<String>) -> Self {
            self.auth.login_hint = Some(username.into());
            self
        }

        /// Sends the user straight to their organization's sign-in page (`domain_hint`, e.g.
        /// `contoso.com` or `consumers`).
        pub fn domain_hint(mut self, domain: impl Into<String>) -> Self {
            self.auth.domain_hint = Some(domain.into());
            self
        }

        /// Adds a query parameter to the authorize URL (e.g. `msafed=0`). A parameter that
        /// the library sets itself (`client_id`, `state`, `prompt`, ...) is refused with a
        /// `Client` error when the request is sent.
        pub fn extra_query_parameter(
            mut self,
            name: impl Into<String>,
            value: impl Into<String>,
        ) -> Self {
            self.auth.extra.push((name.into(), value.into()));
            self
        }
    };
}
pub(crate) use authorize_option_methods;

/// A random value for `state`, `nonce` and the PKCE verifier: `bytes` random bytes, base64url.
pub(crate) fn random_url_safe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE `code_challenge` of a verifier with method `S256` (RFC 7636).
pub(crate) fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The secrets of one authorization request.
pub(crate) struct RequestSecrets {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
}

impl RequestSecrets {
    pub(crate) fn new() -> Self {
        RequestSecrets {
            state: random_url_safe(24),
            nonce: random_url_safe(24),
            // 32 bytes: a 43-character verifier, RFC 7636's minimum length and MSAL's.
            code_verifier: random_url_safe(32),
        }
    }
}

/// Everything an authorize URL is made of.
pub(crate) struct AuthorizeUrl<'a> {
    pub endpoint: &'a Url,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub secrets: &'a RequestSecrets,
    pub claims: Option<&'a str>,
    pub options: &'a AuthorizeOptions,
    /// The app's and the request's extra query parameters (checked already).
    pub extra_query: &'a [(&'a str, &'a str)],
}

impl AuthorizeUrl<'_> {
    /// The URL to send the user's browser to.
    pub(crate) fn build(&self) -> Result<Url, Error> {
        for (name, _) in &self.options.extra {
            if LIBRARY_PARAMETERS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(name.trim()))
            {
                return Err(Error::client(
                    codes::INVALID_ARGUMENT,
                    format!(
                        "the extra query parameter `{name}` is one the library sets itself; use the request's own option for it"
                    ),
                ));
            }
        }
        let mut url = self.endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", self.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", self.redirect_uri)
                .append_pair("scope", self.scope)
                .append_pair("state", &self.secrets.state)
                .append_pair("nonce", &self.secrets.nonce)
                .append_pair(
                    "code_challenge",
                    &s256_challenge(&self.secrets.code_verifier),
                )
                .append_pair("code_challenge_method", "S256")
                .append_pair("client_info", "1");
            if let Some(p) = self.options.prompt {
                q.append_pair("prompt", p.as_str());
            }
            if let Some(h) = &self.options.login_hint {
                q.append_pair("login_hint", h);
            }
            if let Some(h) = &self.options.domain_hint {
                q.append_pair("domain_hint", h);
            }
            if let Some(c) = self.claims {
                q.append_pair("claims", c);
            }
            for (k, v) in &self.options.extra {
                q.append_pair(k, v);
            }
            q.extend_pairs(self.extra_query);
        }
        Ok(url)
    }
}

/// The value of a query parameter of a redirect.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The typed error for an `error` in a redirect:
///
/// - `access_denied` (the user declined, or cancelled the sign-in) is `Cancelled`;
/// - `login_required`, `interaction_required`, `consent_required`,
///   `account_selection_required` are `UiRequired`, classified
///   [`UiRequiredClassification::PromptNeverFailed`] when the request had `prompt=none`;
/// - anything else is a `Service` error.
///
/// The server's `error` is kept verbatim as the code.
pub(crate) fn redirect_error(
    params: &[(String, String)],
    prompt_none: bool,
    correlation_id: &str,
) -> Error {
    let error = param(params, "error").unwrap_or_default().to_owned();
    let e = Error::from_oauth_error(OAuthErrorResponse {
        error: error.clone(),
        error_description: param(params, "error_description").map(str::to_owned),
        error_codes: Vec::new(),
        suberror: param(params, "suberror")
            .or_else(|| param(params, "error_subcode"))
            .map(str::to_owned),
        claims: param(params, "claims").map(str::to_owned),
        trace_id: param(params, "trace_id").map(str::to_owned),
        correlation_id: Some(correlation_id.to_owned()),
        timestamp: param(params, "timestamp").map(str::to_owned),
        http_status: None,
        headers: None,
    });
    match error.as_str() {
        "access_denied" => e.with_kind(ErrorKind::Cancelled),
        "login_required"
        | "interaction_required"
        | "consent_required"
        | "account_selection_required"
            if prompt_none =>
        {
            e.with_classification(UiRequiredClassification::PromptNeverFailed)
        }
        "account_selection_required" => e.with_classification(UiRequiredClassification::None),
        _ => e,
    }
}

/// Whether a redirect's `state` is the one sent. Compared in constant time: it is a secret
/// that binds the answer to this request.
pub(crate) fn state_matches(params: &[(String, String)], expected: &str) -> bool {
    let Some(got) = param(params, "state") else {
        return false;
    };
    got.len() == expected.len()
        && got
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The issuer an authorization response must name in `iss` (RFC 9207, the defence against
/// mix-up attacks, where a client that talks to several servers is sent one server's answer
/// for another's request).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpectedIssuer<'a> {
    /// The metadata's `issuer`; Entra's multi-tenant metadata keeps a `{tenantid}` placeholder.
    pub issuer: &'a str,
    /// The server announced `authorization_response_iss_parameter_supported`.
    pub required: bool,
}

impl<'a> ExpectedIssuer<'a> {
    /// No issuer to check, none required.
    #[cfg(test)]
    pub(crate) const NONE: ExpectedIssuer<'static> = ExpectedIssuer {
        issuer: "",
        required: false,
    };

    /// What the authority's metadata says.
    pub(crate) fn of(metadata: &'a Metadata) -> Self {
        ExpectedIssuer {
            issuer: &metadata.issuer,
            required: metadata.authorization_response_iss,
        }
    }

    /// Whether `iss` names this issuer: exactly (RFC 9207 forbids normalisation), or, for a
    /// templated issuer, with one path segment in place of the `{...}` placeholder.
    fn accepts(&self, iss: &str) -> bool {
        let Some((prefix, rest)) = self.issuer.split_once('{') else {
            return iss == self.issuer;
        };
        let Some((_, suffix)) = rest.split_once('}') else {
            return iss == self.issuer;
        };
        iss.len() > prefix.len() + suffix.len()
            && iss.starts_with(prefix)
            && iss.ends_with(suffix)
            && !iss[prefix.len()..iss.len() - suffix.len()].contains('/')
    }
}

/// Refuses a redirect whose `state` is missing or not `expected` (`state_mismatch`).
pub(crate) fn check_state(params: &[(String, String)], expected: &str) -> Result<(), Error> {
    if state_matches(params, expected) {
        return Ok(());
    }
    Err(Error::client(
        codes::STATE_MISMATCH,
        "the redirect's `state` is missing or is not the one this request sent; the answer was refused",
    ))
}

/// Checks a redirect's `iss` against the authority's issuer (RFC 9207 section 2.4): a
/// different `iss`, or none where the server promised one, refuses the answer, errors
/// included. A server that neither sends `iss` nor announces it (Entra ID today) passes.
fn check_issuer(
    params: &[(String, String)],
    expected: ExpectedIssuer<'_>,
    correlation_id: &str,
) -> Result<(), Error> {
    let refuse = |why: String| {
        Err(Error::client(codes::ISSUER_MISMATCH, why).with_correlation_id(correlation_id))
    };
    match param(params, "iss") {
        Some(iss) if expected.issuer.is_empty() => refuse(format!(
            "the redirect names the issuer `{iss}` but the authority's metadata names none to check it against; the answer was refused"
        )),
        Some(iss) if !expected.accepts(iss) => refuse(format!(
            "the redirect comes from the issuer `{iss}`, not from `{}` that this request went to (RFC 9207); the answer was refused",
            expected.issuer
        )),
        None if expected.required => refuse(format!(
            "the redirect has no `iss` although `{}` announces it in every authorization response (RFC 9207); the answer was refused",
            expected.issuer
        )),
        _ => Ok(()),
    }
}

/// The authorization code of a redirect, after checking its `state` and `iss`; a redirect
/// with an `error` is the typed error of [`redirect_error`].
///
/// A `state` that is missing or different is a `Client` error `state_mismatch`: the answer
/// does not belong to this request (a stale browser tab, or a forged request: cross-site
/// request forgery), so it is refused before anything else in it is trusted, and the
/// identity provider is not contacted. An `iss` of another server is `issuer_mismatch`.
pub(crate) fn code_from_redirect(
    params: &[(String, String)],
    expected_state: &str,
    expected_issuer: ExpectedIssuer<'_>,
    prompt_none: bool,
    correlation_id: &str,
) -> Result<String, Error> {
    check_state(params, expected_state).map_err(|e| e.with_correlation_id(correlation_id))?;
    check_issuer(params, expected_issuer, correlation_id)?;
    if param(params, "error").is_some() {
        return Err(redirect_error(params, prompt_none, correlation_id));
    }
    match param(params, "code") {
        Some(code) if !code.is_empty() => Ok(code.to_owned()),
        _ => Err(Error::client(
            codes::INVALID_ARGUMENT,
            "the redirect has neither an authorization `code` nor an `error`",
        )
        .with_correlation_id(correlation_id)),
    }
}

/// Checks the id token's `nonce` against the one sent: an id token for another request
/// means the code was not this request's (code injection). A `Client` error
/// `state_mismatch`, like a wrong `state`.
fn check_nonce(resp: &TokenResponse, nonce: &str, correlation_id: &str) -> Result<(), Error> {
    let Some(id_token) = resp.id_token.as_deref() else {
        return Ok(());
    };
    let claims = decode_jwt_payload(id_token).map_err(|e| e.with_correlation_id(correlation_id))?;
    match claims.get("nonce").and_then(|v| v.as_str()) {
        Some(n) if n == nonce => Ok(()),
        _ => Err(Error::client(
            codes::STATE_MISMATCH,
            "the id token's `nonce` is missing or is not the one this request sent; the tokens were refused",
        )
        .with_correlation_id(correlation_id)),
    }
}

/// Redeems an authorization code at the token endpoint and checks the id token's nonce.
pub(crate) async fn redeem_code(
    cx: &Context<'_>,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    nonce: &str,
) -> Result<TokenResponse, Error> {
    tracing::debug!(correlation_id = %cx.correlation_id, "auth code: redeeming the authorization code");
    // Not throttled: a code is redeemed once, the request cannot repeat.
    let resp = cx
        .token_request_keyed(
            "authorization_code",
            &[
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ],
            None,
        )
        .await?;
    check_nonce(&resp, nonce, cx.correlation_id)?;
    Ok(resp)
}

// ----- the web-app flow of confidential clients ---------------------------------------------

/// The state of a web app's sign-in between the redirect to the identity provider and the
/// redirect back: keep it in the user's server-side session.
///
/// It holds the PKCE verifier, a secret: store it where only the server can read it (not in
/// a cookie the browser can read). It serializes with serde to MSAL Python's field names
/// (`auth_uri`, `state`, `nonce`, `code_verifier`, `redirect_uri`, `scope`,
/// `claims_challenge`, `prompt`). Its `Debug` hides the verifier, the state and the nonce.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthCodeFlow {
    auth_uri: String,
    state: String,
    nonce: String,
    code_verifier: String,
    redirect_uri: String,
    #[serde(rename = "scope")]
    scopes: Vec<String>,
    #[serde(
        rename = "claims_challenge",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    claims: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prompt: Option<String>,
    /// The request's own tenant, if it named one: the code is redeemed in the same tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
}

impl AuthCodeFlow {
    /// The URL to redirect the user's browser to.
    pub fn auth_uri(&self) -> &str {
        &self.auth_uri
    }

    /// The `state` sent, which the redirect back must carry.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The redirect URI sent.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The scopes asked for (without `openid profile offline_access`).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl fmt::Debug for AuthCodeFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCodeFlow")
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("prompt", &self.prompt)
            .finish_non_exhaustive()
    }
}

/// Starts a web app's sign-in; set options, then [`send`](Self::send) it to get the
/// [`AuthCodeFlow`] (only the authority's metadata is fetched, once per application).
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct InitiateAuthCodeFlowRequest {
    pub(crate) core: Arc<AppCore>,
    pub(crate) scopes: Result<ScopeSet, Error>,
    pub(crate) redirect_uri: String,
    pub(crate) claims: Option<String>,
    pub(crate) auth: AuthorizeOptions,
    pub(crate) correlation_id: Option<String>,
    pub(crate) extra_query: Vec<(String, String)>,
    pub(crate) tenant: Option<String>,
}

impl InitiateAuthCodeFlowRequest {
    super::request_options!(claims, correlation_id, extra_query, tenant);

    authorize_option_methods!();

    /// Builds the authorize URL and the flow's state.
    pub async fn send(self) -> Result<AuthCodeFlow, Error> {
        let core = &self.core;
        let cid = correlation_id(self.correlation_id.as_deref());
        let scopes = self.scopes.map_err(|e| e.with_correlation_id(&cid))?;
        let redirect_uri = self.redirect_uri.trim().to_owned();
        if Url::parse(&redirect_uri).is_err() {
            return Err(Error::client(
                codes::INVALID_REDIRECT_URI,
                format!("`{redirect_uri}` is not an absolute URI"),
            ));
        }
        super::extra_query::check(&self.extra_query)?;
        let claims = core.claims(self.claims.as_deref())?;
        // The tenant's authorize endpoint; the flow remembers the tenant for the redemption.
        let resolved = core.tenant_authority(self.tenant.as_deref(), &cid).await?;
        let metadata = &resolved.metadata;
        let extra_query = super::extra_query::merge(&core.extra_query, &self.extra_query);
        let secrets = RequestSecrets::new();
        let scope = user_scope(&scopes);
        let url = AuthorizeUrl {
            endpoint: &metadata.authorization_endpoint,
            client_id: &core.client_id,
            redirect_uri: &redirect_uri,
            scope: &scope,
            secrets: &secrets,
            claims: claims.as_deref(),
            options: &self.auth,
            extra_query: &extra_query,
        }
        .build()?;
        Ok(AuthCodeFlow {
            auth_uri: url.into(),
            state: secrets.state,
            nonce: secrets.nonce,
            code_verifier: secrets.code_verifier,
            redirect_uri,
            scopes: scopes.to_vec(),
            claims,
            prompt: self.auth.prompt.map(|p| p.as_str().to_owned()),
            tenant: self.tenant,
        })
    }
}

/// Redeems the redirect of a web app's sign-in; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct AuthCodeFlowRequest {
    pub(crate) core: Arc<AppCore>,
    pub(crate) flow: AuthCodeFlow,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) claims: Option<String>,
    pub(crate) accept_partial: bool,
    pub(crate) correlation_id: Option<String>,
    pub(crate) extra_query: Vec<(String, String)>,
    pub(crate) tenant: Option<String>,
    pub(crate) auth_scheme: Option<crate::pop::AuthScheme>,
}

impl AuthCodeFlowRequest {
    super::request_options!(
        claims,
        partial_scopes,
        correlation_id,
        extra_query,
        tenant,
        auth_scheme
    );

    /// Checks the redirect (its `state`, an `error` in it) and redeems the code.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let scopes = normalize_scopes(&self.flow.scopes);
        // The flow's claims were merged with the app's capabilities when it started.
        let claims = match self.claims.as_deref() {
            Some(c) => Claims::Caller(Some(c)),
            None => Claims::Merged(self.flow.claims.as_deref()),
        };
        let req = Request {
            correlation_id: self.correlation_id.as_deref(),
            claims,
            accept_partial: self.accept_partial,
            extra_query: &self.extra_query,
            // The tenant the flow was started in, unless this request names another.
            tenant: self.tenant.as_deref().or(self.flow.tenant.as_deref()),
            scheme: self.auth_scheme.as_ref(),
            ..Request::user("authorization_code", &scopes)
        };
        self.core.execute(req, &self).await
    }
}

impl Steps for &AuthCodeFlowRequest {
    fn check(&mut self) -> Result<(), Error> {
        // A wrong `state` is refused before anything else, the network included.
        check_state(&self.params, &self.flow.state)
    }

    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        let flow = &self.flow;
        let code = code_from_redirect(
            &self.params,
            &flow.state,
            ExpectedIssuer::of(cx.metadata()),
            flow.prompt.as_deref() == Some("none"),
            cx.correlation_id,
        )?;
        redeem_code(
            cx,
            &code,
            &flow.redirect_uri,
            &flow.code_verifier,
            &flow.nonce,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let s = RequestSecrets::new();
        assert_eq!(s.code_verifier.len(), 43);
        assert_ne!(s.state, s.nonce);
    }

    #[test]
    fn prompt_parses_its_wire_values() {
        for p in [
            Prompt::None,
            Prompt::Login,
            Prompt::Consent,
            Prompt::SelectAccount,
            Prompt::Create,
        ] {
            assert_eq!(p.as_str().parse::<Prompt>().unwrap(), p);
        }
        assert_eq!(
            "Select_Account".parse::<Prompt>().unwrap(),
            Prompt::SelectAccount
        );
        let e = "always".parse::<Prompt>().unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, codes::INVALID_ARGUMENT)
        );
    }

    #[test]
    fn redirect_state_is_checked_before_anything_else() {
        let e = code_from_redirect(
            &p(&[("code", "c"), ("state", "other")]),
            "s1",
            ExpectedIssuer::NONE,
            false,
            "cid",
        )
        .unwrap_err();
        assert_eq!((e.kind(), e.code()), (ErrorKind::Client, "state_mismatch"));
        assert_eq!(e.correlation_id(), Some("cid"));
        let e = code_from_redirect(
            &p(&[("error", "access_denied")]),
            "s1",
            ExpectedIssuer::NONE,
            false,
            "cid",
        )
        .unwrap_err();
        assert_eq!(e.code(), "state_mismatch");
        assert_eq!(
            code_from_redirect(
                &p(&[("code", "c1"), ("state", "s1")]),
                "s1",
                ExpectedIssuer::NONE,
                false,
                "c"
            )
            .unwrap(),
            "c1"
        );
        let e = code_from_redirect(
            &p(&[("state", "s1")]),
            "s1",
            ExpectedIssuer::NONE,
            false,
            "c",
        )
        .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, codes::INVALID_ARGUMENT)
        );
    }

    #[test]
    fn the_redirects_issuer_is_checked_as_rfc_9207_says() {
        let code = |params: &[(&str, &str)], issuer: &str, required: bool| {
            let mut all = vec![("state", "s"), ("code", "c")];
            all.extend_from_slice(params);
            code_from_redirect(
                &p(&all),
                "s",
                ExpectedIssuer { issuer, required },
                false,
                "cid",
            )
        };
        let op = "https://op.example/";
        assert_eq!(code(&[("iss", op)], op, true).unwrap(), "c");
        assert_eq!(code(&[("iss", op)], op, false).unwrap(), "c");
        // Entra sends no `iss` and announces none.
        assert_eq!(code(&[], op, false).unwrap(), "c");
        // No normalisation: a trailing slash, another case or another host is another issuer.
        for other in [
            "https://op.example",
            "https://OP.example/",
            "https://evil.example/",
        ] {
            let e = code(&[("iss", other)], op, false).unwrap_err();
            assert_eq!((e.kind(), e.code()), (ErrorKind::Client, "issuer_mismatch"));
            assert!(e.description().contains(other), "{e}");
            assert_eq!(e.correlation_id(), Some("cid"));
        }
        // Missing where promised; present where the metadata names no issuer.
        let e = code(&[], op, true).unwrap_err();
        assert_eq!(e.code(), "issuer_mismatch");
        assert_eq!(
            code(&[("iss", op)], "", false).unwrap_err().code(),
            "issuer_mismatch"
        );
        // An error response from another issuer is refused as such, not reported as its error.
        let e = code(
            &[("error", "access_denied"), ("iss", "https://evil.example/")],
            op,
            false,
        )
        .unwrap_err();
        assert_eq!(e.code(), "issuer_mismatch");
        // Entra's multi-tenant template: one segment in place of the placeholder.
        let entra = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let tid = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
        assert_eq!(code(&[("iss", tid)], entra, false).unwrap(), "c");
        for bad in [
            "https://login.microsoftonline.com//v2.0",
            "https://login.microsoftonline.com/a/b/v2.0",
            "https://login.microsoftonline.com/v2.0",
            "https://evil.example/t/v2.0",
        ] {
            assert_eq!(
                code(&[("iss", bad)], entra, false).unwrap_err().code(),
                "issuer_mismatch",
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_errors_are_typed() {
        let err = |e: &str, prompt_none: bool| {
            code_from_redirect(
                &p(&[
                    ("error", e),
                    (
                        "error_description",
                        "AADSTS65004: User declined to consent.",
                    ),
                    ("state", "s"),
                ]),
                "s",
                ExpectedIssuer::NONE,
                prompt_none,
                "cid",
            )
            .unwrap_err()
        };
        let e = err("access_denied", false);
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Cancelled, "access_denied")
        );
        assert_eq!(e.aadsts_codes(), &[65004]);
        assert_eq!(e.classification(), None);
        for code in ["login_required", "interaction_required", "consent_required"] {
            let e = err(code, false);
            assert_eq!((e.kind(), e.code()), (ErrorKind::UiRequired, code));
            assert_eq!(e.classification(), Some(UiRequiredClassification::None));
            let e = err(code, true);
            assert_eq!(e.kind(), ErrorKind::UiRequired);
            assert_eq!(
                e.classification(),
                Some(UiRequiredClassification::PromptNeverFailed)
            );
            assert_eq!(e.code(), code);
        }
        let e = err("account_selection_required", false);
        assert_eq!(e.kind(), ErrorKind::UiRequired);
        let e = err("invalid_request", true);
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Service, "invalid_request")
        );
        assert_eq!(e.http_status(), None);
    }

    #[test]
    fn the_flow_serializes_with_msal_python_names_and_hides_secrets() {
        let flow = AuthCodeFlow {
            auth_uri: "https://login/authorize?x".into(),
            state: "st".into(),
            nonce: "no".into(),
            code_verifier: "verifier-secret".into(),
            redirect_uri: "https://app/cb".into(),
            scopes: vec!["User.Read".into()],
            claims: None,
            prompt: None,
            tenant: None,
        };
        let v = serde_json::to_value(&flow).unwrap();
        assert!(
            v.get("tenant").is_none(),
            "a flow without a tenant of its own names none"
        );
        assert_eq!(v["code_verifier"], "verifier-secret");
        assert_eq!(v["scope"], serde_json::json!(["User.Read"]));
        assert!(v.get("claims_challenge").is_none());
        let back: AuthCodeFlow = serde_json::from_value(v).unwrap();
        assert_eq!(back, flow);
        let dbg = format!("{flow:?}");
        assert!(!dbg.contains("verifier-secret") && !dbg.contains("st\""));
    }
}
