//! INTERFACE STUB: replaced by the token cache implementation.
#![allow(missing_docs, dead_code, unused_variables)]
use std::sync::Arc;
use crate::account::Account;
use crate::error::{Error, codes};
use crate::http::BoxFuture;
use crate::secret::{AccessToken, RefreshToken};

pub trait CachePersistence: Send + Sync + std::fmt::Debug {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, Error>>;
    fn save(&self, data: String) -> BoxFuture<'_, Result<(), Error>>;
}

#[derive(Debug, Clone, Default)]
pub struct TokenCache {}

pub(crate) struct CacheWrite<'a> {
    pub client_id: &'a str,
    pub environment: &'a str,
    pub realm: &'a str,
    pub scopes: &'a [String],
    pub access_token: Option<&'a str>,
    pub token_type: &'a str,
    pub expires_in: u64,
    pub ext_expires_in: Option<u64>,
    pub refresh_in: Option<u64>,
    pub refresh_token: Option<&'a str>,
    pub family_id: Option<&'a str>,
    pub id_token: Option<&'a str>,
    pub id_token_claims: Option<&'a serde_json::Value>,
    pub home_account_id: Option<&'a str>,
    pub user_assertion_hash: Option<&'a str>,
    pub now: i64,
}

pub(crate) struct AccessTokenQuery<'a> {
    pub client_id: &'a str,
    pub environments: &'a [String],
    pub realm: &'a str,
    pub scopes: &'a [String],
    pub home_account_id: Option<&'a str>,
    pub user_assertion_hash: Option<&'a str>,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct CachedAccessToken {
    pub secret: AccessToken,
    pub token_type: String,
    pub expires_on: i64,
    pub extended_expires_on: Option<i64>,
    pub refresh_on: Option<i64>,
    pub scopes: Vec<String>,
    pub realm: String,
    pub home_account_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct CachedRefreshToken {
    pub secret: RefreshToken,
    pub family_id: Option<String>,
    pub client_id: String,
}

impl TokenCache {
    pub fn new() -> Self { TokenCache {} }
    pub fn with_persistence(p: Arc<dyn CachePersistence>) -> Self { TokenCache {} }
    pub fn serialize(&self) -> String { String::new() }
    pub fn deserialize(&self, json: &str) -> Result<(), Error> { Err(Error::client(codes::NOT_SUPPORTED, "stub")) }
    pub(crate) async fn save_response(&self, w: CacheWrite<'_>) -> Result<Option<Account>, Error> { Ok(None) }
    pub(crate) async fn find_access_token(&self, q: &AccessTokenQuery<'_>) -> Result<Option<CachedAccessToken>, Error> { Ok(None) }
    pub(crate) async fn find_refresh_token(&self, home_account_id: &str, environments: &[String], client_id: &str, family: bool) -> Result<Option<CachedRefreshToken>, Error> { Ok(None) }
    pub(crate) async fn find_account(&self, home_account_id: &str, environments: &[String]) -> Result<Option<Account>, Error> { Ok(None) }
    pub(crate) async fn id_token_claims(&self, home_account_id: &str, environments: &[String], client_id: &str, realm: &str) -> Result<Option<serde_json::Value>, Error> { Ok(None) }
    pub(crate) async fn accounts(&self, client_id: &str, environments: &[String]) -> Result<Vec<Account>, Error> { Ok(vec![]) }
    pub(crate) async fn remove_account(&self, account: &Account, client_id: &str) -> Result<(), Error> { Ok(()) }
}
#[derive(Debug)]
pub struct FileCachePersistence { path: std::path::PathBuf }
impl FileCachePersistence { pub fn new(path: impl AsRef<std::path::Path>) -> Self { FileCachePersistence { path: path.as_ref().to_owned() } } }
impl CachePersistence for FileCachePersistence {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, Error>> { Box::pin(async { Ok(None) }) }
    fn save(&self, data: String) -> BoxFuture<'_, Result<(), Error>> { Box::pin(async { Ok(()) }) }
}
