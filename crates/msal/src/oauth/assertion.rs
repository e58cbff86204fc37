//! Client certificates and the signed JWT client assertions made from them (`private_key_jwt`).

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, codes};
use crate::secret::Assertion;

/// How a client assertion is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256, as current MSALs send for Entra (the header has `x5t#S256`).
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the header has `x5t` and `x5t#S256`), for ADFS and older
    /// servers.
    Rs256,
}

/// An RSA private key and its certificate, to sign client assertions with.
#[derive(Clone)]
pub struct ClientCertificate {
    key: EncodingKey,
    thumbprint_sha256: String,
    thumbprint_sha1: String,
    chain_b64: Vec<String>,
    algorithm: AssertionAlgorithm,
    send_x5c: bool,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint_sha256)
            .field("algorithm", &self.algorithm)
            .field("send_x5c", &self.send_x5c)
            .finish_non_exhaustive()
    }
}

fn cert_error(msg: impl Into<String>) -> Error {
    Error::client(codes::INVALID_CERTIFICATE, msg)
}

impl ClientCertificate {
    /// From one PEM text holding the private key (PKCS#8 or PKCS#1 RSA) and the certificate (its
    /// chain may follow; the first certificate is the client's).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        Self::from_pem_parts(pem, pem)
    }

    /// From a PEM file holding both the private key and the certificate.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        // The file holds the private key: its copy is zeroed once parsed.
        let pem = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            cert_error(format!(
                "cannot read certificate file {}: {e}",
                path.display()
            ))
            .with_source(e)
        })?);
        Self::from_pem(&pem)
    }

    /// From the certificate PEM and the private key PEM given apart.
    pub fn from_pem_parts(cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| cert_error(format!("the certificate PEM is not valid: {e}")))?;
        let Some(first) = certs.first() else {
            return Err(cert_error("the PEM holds no CERTIFICATE section"));
        };
        // The key's copies made here (its DER, its normalised PEM) are zeroed on drop.
        let key = Zeroizing::new(
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| cert_error(format!("the PEM holds no usable private key: {e}")))?,
        );
        let label = match &*key {
            PrivateKeyDer::Pkcs1(_) => SectionKind::RsaPrivateKey,
            PrivateKeyDer::Pkcs8(_) => SectionKind::PrivateKey,
            _ => {
                return Err(cert_error(
                    "the private key must be an RSA key (PKCS#1 or PKCS#8)",
                ));
            }
        };
        let key_pem = to_pem(label, key.secret_der());
        let key = EncodingKey::from_rsa_pem(key_pem.as_bytes())
            .map_err(|e| cert_error(format!("the private key is not a usable RSA key: {e}")))?;
        // jsonwebtoken only unwraps the PEM; aws-lc-rs, which signs, parses the PKCS#1 key now
        // so that a bad key (malformed, under 2048 bits) is refused here, not at the first sign-in.
        aws_lc_rs::signature::RsaKeyPair::from_der(key.as_bytes())
            .map_err(|e| cert_error(format!("the private key is not a usable RSA key: {e}")))?;
        Ok(ClientCertificate {
            key,
            thumbprint_sha256: URL_SAFE_NO_PAD.encode(Sha256::digest(first.as_ref())),
            thumbprint_sha1: URL_SAFE_NO_PAD.encode(Sha1::digest(first.as_ref())),
            chain_b64: certs.iter().map(|c| STANDARD.encode(c.as_ref())).collect(),
            algorithm: AssertionAlgorithm::default(),
            send_x5c: false,
        })
    }

    /// Signs with this algorithm (default PS256).
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sends the certificate chain in the `x5c` header (for subject name / issuer auth).
    pub fn with_x5c(mut self, send: bool) -> Self {
        self.send_x5c = send;
        self
    }

    /// The base64url SHA-256 thumbprint of the certificate (`x5t#S256`).
    pub fn thumbprint_sha256(&self) -> &str {
        &self.thumbprint_sha256
    }

    /// Signs a client assertion for `client_id` to present at `audience` (the token endpoint):
    /// `iss` = `sub` = client id, a fresh `jti`, valid for 10 minutes.
    pub(crate) fn sign_assertion(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<Assertion, Error> {
        let (alg, x5t) = match self.algorithm {
            AssertionAlgorithm::Ps256 => (Algorithm::PS256, None),
            AssertionAlgorithm::Rs256 => (Algorithm::RS256, Some(self.thumbprint_sha1.clone())),
        };
        let mut header = Header::new(alg);
        header.x5t_s256 = Some(self.thumbprint_sha256.clone());
        header.x5t = x5t;
        if self.send_x5c {
            header.x5c = Some(self.chain_b64.clone());
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        });
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| cert_error(format!("cannot sign the client assertion: {e}")))?;
        Ok(Assertion::new(jwt))
    }
}

/// The PEM text of a private key's DER, zeroed on drop. Written into a buffer allocated once at
/// its final size, so that no reallocation leaves a copy of the key behind.
fn to_pem(kind: SectionKind, der: &[u8]) -> Zeroizing<String> {
    let label = match kind {
        SectionKind::RsaPrivateKey => "RSA PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let (begin, end) = ("-----BEGIN ", "-----END ");
    let capacity = begin.len()
        + end.len()
        + 2 * (label.len() + "-----\n".len())
        + b64.len()
        + b64.len().div_ceil(64);
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    for part in [begin, label, "-----\n"] {
        out.push_str(part);
    }
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    for part in [end, label, "-----\n"] {
        out.push_str(part);
    }
    debug_assert_eq!(out.len(), capacity);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{decode_jwt_header, decode_jwt_payload};

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn assertion_has_the_entra_shape_and_verifies() {
        let (cert, key) = self_signed();
        let c = ClientCertificate::from_pem(&format!("{key}\n{cert}")).unwrap();
        let jwt = c.sign_assertion("cid", "https://login/t/token").unwrap();
        let h = decode_jwt_header(jwt.secret()).unwrap();
        assert_eq!(h["alg"], "PS256");
        assert_eq!(h["x5t#S256"], c.thumbprint_sha256());
        assert!(h.get("x5t").is_none());
        let p = decode_jwt_payload(jwt.secret()).unwrap();
        assert_eq!(
            (p["iss"].as_str(), p["sub"].as_str()),
            (Some("cid"), Some("cid"))
        );
        assert_eq!(p["aud"], "https://login/t/token");
        assert_eq!(p["exp"].as_i64().unwrap() - p["nbf"].as_i64().unwrap(), 600);

        // For RSA, rcgen's raw public key bytes are the PKCS#1 RSAPublicKey.
        use rcgen::PublicKeyData;
        let kp = rcgen::KeyPair::from_pem(&key).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_rsa_der(kp.der_bytes());
        let mut v = jsonwebtoken::Validation::new(Algorithm::PS256);
        v.set_audience(&["https://login/t/token"]);
        jsonwebtoken::decode::<serde_json::Value>(jwt.secret(), &dk, &v).unwrap();
    }

    #[test]
    fn rs256_sends_both_thumbprints() {
        let (cert, key) = self_signed();
        let c = ClientCertificate::from_pem_parts(&cert, &key)
            .unwrap()
            .with_algorithm(AssertionAlgorithm::Rs256)
            .with_x5c(true);
        let h = decode_jwt_header(c.sign_assertion("c", "a").unwrap().secret()).unwrap();
        assert_eq!(h["alg"], "RS256");
        assert!(h["x5t"].is_string() && h["x5t#S256"].is_string());
        assert_eq!(h["x5c"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_key_pem_is_zeroizing_and_built_in_one_allocation() {
        let der = [7u8; 1190];
        let pem: Zeroizing<String> = to_pem(SectionKind::PrivateKey, &der);
        assert_eq!(
            pem.len(),
            pem.capacity(),
            "no reallocation left a copy behind"
        );
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        let pkcs1 = to_pem(SectionKind::RsaPrivateKey, &der[..1]);
        assert_eq!(pkcs1.len(), pkcs1.capacity());
    }

    #[test]
    fn bad_pem_is_a_client_error() {
        let (cert, key) = self_signed();
        for bad in ["", "garbage", &cert, &key] {
            let e = ClientCertificate::from_pem(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Client, "{bad}");
            assert_eq!(e.code(), codes::INVALID_CERTIFICATE);
        }
        let e = ClientCertificate::from_pem_file("/nonexistent/cert.pem").unwrap_err();
        assert!(std::error::Error::source(&e).is_some());
        let ec = rcgen::KeyPair::generate().unwrap().serialize_pem();
        assert!(ClientCertificate::from_pem(&format!("{ec}{cert}")).is_err());
        // A PKCS#1 section whose content is not an RSA key is refused when loaded.
        let not_a_key = to_pem(SectionKind::RsaPrivateKey, &[0x30, 0x03, 0x02, 0x01, 0x01]);
        let e = ClientCertificate::from_pem(&format!("{}{cert}", not_a_key.as_str())).unwrap_err();
        assert_eq!(e.code(), codes::INVALID_CERTIFICATE);
        assert!(
            !format!(
                "{:?}",
                ClientCertificate::from_pem(&format!("{key}{cert}")).unwrap()
            )
            .contains("PRIVATE")
        );
    }
}
