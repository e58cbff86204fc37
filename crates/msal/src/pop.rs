//! Proof-of-possession (PoP) tokens and SSH certificates: tokens bound to a key the app holds.
//!
//! - **PoP** ([`PopKey`]): the token request carries `token_type=pop` and `req_cnf`, the
//!   base64url of `{"kid":"<JWK thumbprint>"}`; the identity provider binds the access token to
//!   that key (a `cnf` claim). The app never sends that token as is: each call gets a fresh
//!   *signed HTTP request* (SHR), a JWT of header `{"alg","kid","typ":"pop"}` and claims `at`
//!   (the token), `ts`, `m` (HTTP method), `u` (host), `p` (path), `nonce` and `cnf.jwk`,
//!   signed with the key. It goes out as `Authorization: PoP <shr>`.
//! - **SSH certificates**: `token_type=ssh-cert`, `req_cnf` (the SSH public key as a JWK) and
//!   `key_id`; the answer's "access token" is an OpenSSH certificate.
//!
//! Both are cached apart from bearer tokens, as MSAL .NET writes them: the entry's
//! `token_type` is `pop` or `ssh-cert`, its key id is in `kid` (and `key_id`, the field MSAL
//! Python's callers store), and its cache key ends with the token type. A lookup finds only
//! an entry of the same token type and key id.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, codes};
use crate::result::{AuthenticationResult, SharedStr};
use crate::secret::AccessToken;

/// The `token_type` of proof-of-possession tokens.
pub const POP_TOKEN_TYPE: &str = "pop";
/// The `token_type` of SSH certificates.
pub const SSH_CERT_TOKEN_TYPE: &str = "ssh-cert";

/// The largest SSH public key JWK accepted (an RSA-8192 JWK is about 1.5 KB).
const MAX_JWK_LEN: usize = 16 * 1024;

enum Signer {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

struct KeyInner {
    signer: Signer,
    /// The public key as a JWK (only the members its thumbprint is made of).
    jwk: Value,
    /// The JWK thumbprint (RFC 7638, SHA-256, base64url): the key id.
    thumbprint: String,
}

/// A key pair the application holds, to which proof-of-possession tokens are bound: ES256
/// (P-256) or RS256 (RSA). Cheap to clone; its `Debug` shows only the key id.
#[derive(Clone)]
pub struct PopKey(Arc<KeyInner>);

impl fmt::Debug for PopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PopKey")
            .field("alg", &self.algorithm())
            .field("kid", &self.0.thumbprint)
            .finish_non_exhaustive()
    }
}

fn key_error(msg: impl Into<String>) -> Error {
    Error::client(codes::INVALID_CERTIFICATE, msg)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl PopKey {
    /// A fresh P-256 key pair (ES256), held in memory only.
    pub fn generate_es256() -> Result<Self, Error> {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| key_error("cannot generate a P-256 key pair"))?;
        Ok(Self::from_ec(pair))
    }

    /// From a PEM private key: PKCS#8 (`PRIVATE KEY`) P-256 or RSA, SEC1 (`EC PRIVATE KEY`)
    /// P-256, or PKCS#1 (`RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| key_error(format!("no private key in the PEM text: {e}")))?;
        match der {
            PrivateKeyDer::Pkcs8(k) => {
                let bytes = k.secret_pkcs8_der();
                if let Ok(pair) =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, bytes)
                {
                    return Ok(Self::from_ec(pair));
                }
                let pair = RsaKeyPair::from_pkcs8(bytes)
                    .map_err(|_| key_error("the private key is neither a P-256 nor an RSA key"))?;
                Self::from_rsa(pair)
            }
            PrivateKeyDer::Sec1(k) => EcdsaKeyPair::from_private_key_der(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                k.secret_sec1_der(),
            )
            .map(Self::from_ec)
            .map_err(|_| key_error("the EC private key is not a P-256 key")),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der())
                .map_err(|_| key_error("the RSA private key cannot be used"))
                .and_then(Self::from_rsa),
            _ => Err(key_error("unsupported private key format")),
        }
    }

    fn from_ec(pair: EcdsaKeyPair) -> Self {
        // An uncompressed point: 0x04, x (32 bytes), y (32 bytes).
        let point = pair.public_key().as_ref();
        let xy = point.get(1..).unwrap_or_default();
        let (x, y) = xy.split_at(xy.len() / 2);
        let jwk = json!({"crv": "P-256", "kty": "EC", "x": b64(x), "y": b64(y)});
        Self::with_jwk(Signer::Es256(pair), jwk)
    }

    fn from_rsa(pair: RsaKeyPair) -> Result<Self, Error> {
        if pair.public_modulus_len() < 256 {
            return Err(key_error("the RSA key is shorter than 2048 bits"));
        }
        let public = pair.public_key();
        let n = b64(public.modulus().big_endian_without_leading_zero());
        let e = b64(public.exponent().big_endian_without_leading_zero());
        let jwk = json!({"e": e, "kty": "RSA", "n": n});
        Ok(Self::with_jwk(Signer::Rs256(pair), jwk))
    }

    fn with_jwk(signer: Signer, jwk: Value) -> Self {
        // RFC 7638: the required members in lexicographic order, no whitespace; serde_json's
        // map is ordered by key, and the members were named in that order.
        let canonical = jwk.to_string();
        let thumbprint = b64(&Sha256::digest(canonical.as_bytes()));
        PopKey(Arc::new(KeyInner {
            signer,
            jwk,
            thumbprint,
        }))
    }

    /// The private key as a PKCS#8 PEM (`PRIVATE KEY`), to keep a generated key; the text
    /// is wiped when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<zeroize::Zeroizing<String>, Error> {
        use aws_lc_rs::encoding::AsDer as _;
        let failed = || key_error("cannot export the private key");
        let der = match &self.0.signer {
            Signer::Es256(k) => {
                zeroize::Zeroizing::new(k.to_pkcs8v1().map_err(|_| failed())?.as_ref().to_vec())
            }
            Signer::Rs256(k) => {
                zeroize::Zeroizing::new(k.as_der().map_err(|_| failed())?.as_ref().to_vec())
            }
        };
        let b64 = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*der));
        let mut pem =
            zeroize::Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 64));
        pem.push_str("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(pem)
    }

    /// `ES256` or `RS256`.
    pub fn algorithm(&self) -> &'static str {
        match self.0.signer {
            Signer::Es256(_) => "ES256",
            Signer::Rs256(_) => "RS256",
        }
    }

    /// The key id: the public key's JWK thumbprint (RFC 7638, SHA-256, base64url).
    pub fn key_id(&self) -> &str {
        &self.0.thumbprint
    }

    /// The public key as a JWK (its required members only).
    pub fn public_jwk(&self) -> &Value {
        &self.0.jwk
    }

    /// The `req_cnf` form field: base64url of `{"kid":"<key id>"}`.
    pub fn req_cnf(&self) -> String {
        b64(json!({ "kid": self.key_id() }).to_string().as_bytes())
    }

    /// Signs `at` into a signed HTTP request for `method` on `url` (fresh `ts` and `nonce`).
    pub fn signed_http_request(
        &self,
        at: &str,
        method: &str,
        url: &url::Url,
    ) -> Result<String, Error> {
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let header = json!({"alg": self.algorithm(), "kid": self.key_id(), "typ": "pop"});
        let claims = json!({
            "at": at,
            "ts": crate::clock::now_unix(),
            "m": method,
            "u": host,
            "p": url.path(),
            "nonce": uuid::Uuid::new_v4().simple().to_string(),
            "cnf": {"jwk": self.0.jwk},
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let failed = || key_error("cannot sign the proof-of-possession request");
        let rng = SystemRandom::new();
        let sig = match &self.0.signer {
            Signer::Es256(k) => k
                .sign(&rng, input.as_bytes())
                .map_err(|_| failed())?
                .as_ref()
                .to_vec(),
            Signer::Rs256(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| failed())?;
                sig
            }
        };
        Ok(format!("{input}.{}", b64(&sig)))
    }
}

/// A token bound to a key, as a request asks for it. Small (the URL boxed): every request
/// carries one, mostly `None`, and moves it with the request.
#[derive(Debug, Clone)]
pub(crate) enum AuthScheme {
    /// A proof-of-possession token, signed for each call for one HTTP request.
    Pop {
        key: PopKey,
        method: String,
        url: Box<url::Url>,
        req_cnf: String,
    },
    /// An SSH certificate for a public key.
    Ssh { jwk: String, key_id: String },
}

impl AuthScheme {
    /// A proof-of-possession scheme.
    pub(crate) fn pop(key: PopKey, method: &str, url: url::Url) -> Self {
        AuthScheme::Pop {
            req_cnf: key.req_cnf(),
            key,
            method: method.to_ascii_uppercase(),
            url: Box::new(url),
        }
    }

    /// The `token_type` asked for and cached.
    pub(crate) fn token_type(&self) -> &'static str {
        match self {
            AuthScheme::Pop { .. } => POP_TOKEN_TYPE,
            AuthScheme::Ssh { .. } => SSH_CERT_TOKEN_TYPE,
        }
    }

    /// The key id the token is bound to, and cached by.
    pub(crate) fn key_id(&self) -> &str {
        match self {
            AuthScheme::Pop { key, .. } => key.key_id(),
            AuthScheme::Ssh { key_id, .. } => key_id,
        }
    }

    /// Checks the caller's arguments before anything is sent.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::client(codes::INVALID_ARGUMENT, m.to_owned()));
        match self {
            AuthScheme::Pop { method, url, .. } => {
                if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return bad("the proof-of-possession HTTP method must be a method name");
                }
                if url.host_str().is_none_or(str::is_empty) {
                    return bad("the proof-of-possession URL has no host");
                }
                Ok(())
            }
            AuthScheme::Ssh { jwk, key_id } => {
                if key_id.trim().is_empty() || key_id.len() > 1024 {
                    return bad("the SSH certificate key id is empty or too long");
                }
                if jwk.len() > MAX_JWK_LEN
                    || !serde_json::from_str::<Value>(jwk).is_ok_and(|v| v.is_object())
                {
                    return bad("the SSH public key is not a JWK (a JSON object)");
                }
                Ok(())
            }
        }
    }

    /// The form fields of the token request.
    pub(crate) fn form_fields(&self) -> Vec<(&'static str, &str)> {
        match self {
            AuthScheme::Pop { req_cnf, .. } => {
                vec![("token_type", POP_TOKEN_TYPE), ("req_cnf", req_cnf)]
            }
            AuthScheme::Ssh { jwk, key_id } => vec![
                ("token_type", SSH_CERT_TOKEN_TYPE),
                ("req_cnf", jwk),
                ("key_id", key_id),
            ],
        }
    }

    /// Refuses an answer whose `token_type` is not the one asked for: a bearer token handed
    /// to a caller who asked for a bound one would be sent where a bound one is required (or
    /// cached as one).
    pub(crate) fn check_answer(&self, token_type: Option<&str>) -> Result<(), Error> {
        let wanted = self.token_type();
        match token_type {
            Some(t) if t.eq_ignore_ascii_case(wanted) => Ok(()),
            got => Err(Error::service(
                codes::TOKEN_TYPE_MISMATCH,
                format!(
                    "asked for a `{wanted}` token, the identity provider answered token_type {:?}",
                    got.unwrap_or("(none)")
                ),
            )),
        }
    }

    /// Refuses a bound token (`pop`, `ssh-cert`) answered to a bearer request: sent as a
    /// bearer token it would fail, or be cached where no bound request finds it.
    pub(crate) fn check_bearer_answer(token_type: Option<&str>) -> Result<(), Error> {
        match token_type {
            Some(t)
                if t.eq_ignore_ascii_case(POP_TOKEN_TYPE)
                    || t.eq_ignore_ascii_case(SSH_CERT_TOKEN_TYPE) =>
            {
                Err(Error::service(
                    codes::TOKEN_TYPE_MISMATCH,
                    format!(
                        "asked for a bearer token, the identity provider answered token_type {t:?}"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The result as the caller gets it: for PoP, the access token is a signed HTTP request
    /// made for this call.
    pub(crate) fn bind(&self, mut r: AuthenticationResult) -> Result<AuthenticationResult, Error> {
        match self {
            AuthScheme::Pop {
                key, method, url, ..
            } => {
                let shr = key
                    .signed_http_request(r.access_token.secret(), method, url)
                    .map_err(|e| e.with_correlation_id(&r.correlation_id))?;
                r.access_token = AccessToken::new(shr);
                r.token_type = SharedStr::from_static(POP_TOKEN_TYPE);
                Ok(r)
            }
            AuthScheme::Ssh { .. } => {
                r.token_type = SharedStr::from_static(SSH_CERT_TOKEN_TYPE);
                Ok(r)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_key_has_a_thumbprint_and_a_redacted_debug() {
        let k = PopKey::generate_es256().unwrap();
        assert_eq!(k.algorithm(), "ES256");
        assert_eq!(k.key_id().len(), 43);
        let dbg = format!("{k:?}");
        assert_eq!(
            dbg,
            format!("PopKey {{ alg: \"ES256\", kid: \"{}\", .. }}", k.key_id())
        );
        let cnf = URL_SAFE_NO_PAD.decode(k.req_cnf()).unwrap();
        let cnf: Value = serde_json::from_slice(&cnf).unwrap();
        assert_eq!(cnf, json!({"kid": k.key_id()}));
    }

    #[test]
    fn a_generated_key_round_trips_through_pem() {
        let k = PopKey::generate_es256().unwrap();
        let pem = k.to_pkcs8_pem().unwrap();
        let again = PopKey::from_pem(&pem).unwrap();
        assert_eq!(again.key_id(), k.key_id());
        assert_eq!(again.algorithm(), "ES256");
    }

    #[test]
    fn rfc7638_thumbprint_of_the_rfc_example_key() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "e": "AQAB",
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        });
        let k = b64(&Sha256::digest(jwk.to_string().as_bytes()));
        assert_eq!(k, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn bad_pem_and_bad_arguments_are_client_errors() {
        assert_eq!(
            PopKey::from_pem("nope").unwrap_err().code(),
            codes::INVALID_CERTIFICATE
        );
        let k = PopKey::generate_es256().unwrap();
        let url = url::Url::parse("https://api.example/x").unwrap();
        assert!(
            AuthScheme::pop(k.clone(), "GET", url.clone())
                .check()
                .is_ok()
        );
        let e = AuthScheme::pop(k, "G T", url).check().unwrap_err();
        assert_eq!(e.code(), codes::INVALID_ARGUMENT);
        let ssh = |jwk: &str, kid: &str| AuthScheme::Ssh {
            jwk: jwk.into(),
            key_id: kid.into(),
        };
        assert!(ssh(r#"{"kty":"RSA"}"#, "k").check().is_ok());
        assert!(ssh("[1]", "k").check().is_err());
        assert!(ssh(r#"{"kty":"RSA"}"#, " ").check().is_err());
    }

    #[test]
    fn the_answer_must_echo_the_token_type() {
        let ssh = AuthScheme::Ssh {
            jwk: "{}".into(),
            key_id: "k".into(),
        };
        assert!(ssh.check_answer(Some("SSH-Cert")).is_ok());
        for got in [Some("Bearer"), None, Some("pop")] {
            let e = ssh.check_answer(got).unwrap_err();
            assert_eq!(e.code(), codes::TOKEN_TYPE_MISMATCH);
            assert_eq!(e.kind(), crate::ErrorKind::Service);
        }
    }
}
