//! `--pop-key`/`--pop-method`/`--pop-url` and `--ssh-public-key-jwk`/`--ssh-key-id`: a token
//! bound to a key (proof-of-possession, SSH certificate) instead of a bearer token.

use std::path::PathBuf;

use clap::Args;
use msal::error::codes;
use msal::{Error, PopKey};
use zeroize::Zeroizing;

/// The largest key or JWK file read.
const MAX_FILE: u64 = 64 * 1024;

#[derive(Debug, Args)]
pub(crate) struct BoundArgs {
    /// Every flow but managed-identity: a proof-of-possession token bound to this
    /// private key (PKCS#8, SEC1 or PKCS#1 PEM; P-256 or RSA); the printed access_token is a
    /// signed HTTP request for --pop-method and --pop-url, sent as `Authorization: PoP <token>`.
    #[arg(
        long,
        value_name = "PEM",
        requires = "pop_url",
        conflicts_with = "ssh_public_key_jwk"
    )]
    pub(crate) pop_key: Option<PathBuf>,
    /// With --pop-key: the HTTP method of the request the token is for (default GET).
    #[arg(long, value_name = "M", requires = "pop_key", default_value = "GET")]
    pub(crate) pop_method: String,
    /// With --pop-key: the URL of the request the token is for.
    #[arg(long, value_name = "URL", requires = "pop_key")]
    pub(crate) pop_url: Option<String>,
    /// Every flow but managed-identity: an SSH certificate for the public key in this JWK
    /// file.
    #[arg(long, value_name = "FILE", requires = "ssh_key_id")]
    pub(crate) ssh_public_key_jwk: Option<PathBuf>,
    /// With --ssh-public-key-jwk: the key id the certificate is cached by.
    #[arg(long, value_name = "ID", requires = "ssh_public_key_jwk")]
    pub(crate) ssh_key_id: Option<String>,
}

/// What the flags ask for.
pub(crate) enum Bound {
    Pop(PopKey, String, url::Url),
    Ssh(String, String),
}

fn read_small(path: &PathBuf, what: &str) -> Result<Zeroizing<String>, Error> {
    let bad = |m: String| Error::client(codes::INVALID_ARGUMENT, m);
    let len = std::fs::metadata(path)
        .map_err(|e| bad(format!("cannot read {what} {}: {e}", path.display())))?
        .len();
    if len > MAX_FILE {
        return Err(bad(format!("{what} {} is too large", path.display())));
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| bad(format!("cannot read {what} {}: {e}", path.display())))
}

impl BoundArgs {
    /// The bound token asked for, if any.
    pub(crate) fn bound(&self) -> Result<Option<Bound>, Error> {
        if let (Some(key), Some(u)) = (&self.pop_key, &self.pop_url) {
            let key = PopKey::from_pem(&read_small(key, "the PoP key")?)?;
            let url = url::Url::parse(u).map_err(|e| {
                Error::client(codes::INVALID_ARGUMENT, format!("--pop-url {u:?}: {e}"))
            })?;
            return Ok(Some(Bound::Pop(key, self.pop_method.clone(), url)));
        }
        if let (Some(jwk), Some(kid)) = (&self.ssh_public_key_jwk, &self.ssh_key_id) {
            let jwk = read_small(jwk, "the SSH public key JWK")?;
            return Ok(Some(Bound::Ssh(jwk.trim().to_owned(), kid.clone())));
        }
        Ok(None)
    }
}

/// Applies `--pop-*`/`--ssh-*` to a request that has `with_proof_of_possession` and
/// `with_ssh_certificate`.
macro_rules! apply_bound {
    ($args:expr, $req:expr) => {
        match $args.bound.bound()? {
            None => $req,
            Some($crate::bound::Bound::Pop(key, method, url)) => {
                $req.with_proof_of_possession(key, &method, url)
            }
            Some($crate::bound::Bound::Ssh(jwk, kid)) => $req.with_ssh_certificate(jwk, kid),
        }
    };
}
pub(crate) use apply_bound;
