//! INTERFACE STUB: replaced by the authority implementation.
#![allow(missing_docs, dead_code, unused_variables)]
use std::sync::Arc;
use url::Url;
use crate::error::{Error, codes};
use crate::http::HttpClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorityKind { Aad, B2C, Adfs, Ciam, Oidc }

#[derive(Debug, Clone, Default)]
pub struct AuthorityOptions { pub allow_insecure_loopback: bool }

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority { url: Url, kind: AuthorityKind, tenant: String }

impl Authority {
    pub fn parse(url: &str, options: &AuthorityOptions) -> Result<Self, Error> { Err(Error::client(codes::NOT_SUPPORTED, "stub")) }
    pub fn parse_oidc(issuer: &str, options: &AuthorityOptions) -> Result<Self, Error> { Err(Error::client(codes::NOT_SUPPORTED, "stub")) }
    pub fn kind(&self) -> AuthorityKind { self.kind }
    pub fn url(&self) -> &Url { &self.url }
    pub fn host(&self) -> String { String::new() }
    pub fn tenant(&self) -> &str { &self.tenant }
    pub fn is_tenantless(&self) -> bool { false }
}

#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub device_authorization_endpoint: Option<Url>,
    pub end_session_endpoint: Option<Url>,
    pub environment: String,
    pub aliases: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct AuthorityResolver {}

impl AuthorityResolver {
    pub(crate) async fn metadata(&self, authority: &Authority, http: &dyn HttpClient, instance_discovery: bool, correlation_id: &str) -> Result<Arc<Metadata>, Error> {
        Err(Error::client(codes::NOT_SUPPORTED, "stub"))
    }
}
