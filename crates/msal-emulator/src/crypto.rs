//! Keys and certificates: the token signing key, the default app certificate, parsing of
//! registered certificates, and the TLS certificate authority.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha1::Digest as _;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::spki::ObjectIdentifier;

/// `rsaEncryption` (RFC 8017), the algorithm of an RSA subject public key.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The PKCS#1 RSAPublicKey DER of a certificate's key, if the certificate parses and its
/// key is RSA.
pub(crate) fn cert_rsa_public_key(cert_der: &[u8]) -> Option<Vec<u8>> {
    let cert = Certificate::from_der(cert_der).ok()?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return None;
    }
    // For RSA the subject public key bits are the PKCS#1 RSAPublicKey; aws-lc-rs (which
    // verifies the assertions) parses it to prove it is a usable key.
    let pkcs1 = spki.subject_public_key.as_bytes()?;
    aws_lc_rs::rsa::PublicKey::from_der(pkcs1).ok()?;
    Some(pkcs1.to_vec())
}

/// A registered certificate, ready to verify client assertions.
#[derive(Clone)]
pub(crate) struct ParsedCert {
    /// base64url SHA-1 thumbprint (`x5t`).
    pub x5t: String,
    /// base64url SHA-256 thumbprint (`x5t#S256`).
    pub x5t_s256: String,
    /// The RSA public key.
    pub key: Arc<DecodingKey>,
}

impl std::fmt::Debug for ParsedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCert")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

/// Parses every certificate in a PEM text; non-RSA certificates are an error.
pub(crate) fn parse_certificates(pem: &str) -> Result<Vec<ParsedCert>, String> {
    // The PEM reader wants its BEGIN/END lines unindented, as they often are not in TOML.
    let pem: String = pem.lines().flat_map(|l| [l.trim(), "\n"]).collect();
    let blocks = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the PEM text is malformed: {e}"))?;
    if blocks.is_empty() {
        return Err("no CERTIFICATE block found in the PEM text".into());
    }
    blocks
        .iter()
        .map(|der| {
            let pkcs1 = cert_rsa_public_key(der)
                .ok_or("the certificate is malformed or its key is not an RSA key")?;
            Ok(ParsedCert {
                x5t: URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der)),
                x5t_s256: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der)),
                key: Arc::new(DecodingKey::from_rsa_der(&pkcs1)),
            })
        })
        .collect()
}

/// An RSA key with a self-signed certificate.
struct RsaCert {
    cert_der: Vec<u8>,
    cert_pem: String,
    /// PKCS#8.
    key_pem: String,
    key: RsaKeyPair,
}

fn generate_rsa_cert(common_name: &str) -> Result<RsaCert, String> {
    let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let rsa_key = RsaKeyPair::from_pkcs8(key.serialized_der())
        .map_err(|e| format!("cannot read the generated RSA key: {e}"))?;
    Ok(RsaCert {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        key: rsa_key,
    })
}

fn default_app_cert() -> &'static RsaCert {
    static CELL: OnceLock<RsaCert> = OnceLock::new();
    CELL.get_or_init(|| {
        // Key generation with aws-lc-rs does not fail in practice; should it ever, the
        // emulator cannot work at all, so there is nothing better to do than stop.
        generate_rsa_cert("msal-emulator default client certificate")
            .unwrap_or_else(|e| panic!("cannot generate the default RSA certificate: {e}"))
    })
}

/// The certificate (PEM) and its PKCS#8 private key (PEM) registered on the default
/// confidential app, for building client assertions in tests. Generated once per process.
pub fn default_certificate_pem() -> (String, String) {
    let c = default_app_cert();
    (c.cert_pem.clone(), c.key_pem.clone())
}

/// The key the emulator signs its tokens with.
pub(crate) struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The JWK published at the keys endpoint.
    pub jwk: serde_json::Value,
}

/// The process-wide token signing key (generated on first use).
pub(crate) fn signing_key() -> Result<&'static SigningKey, String> {
    static CELL: OnceLock<Result<SigningKey, String>> = OnceLock::new();
    CELL.get_or_init(|| generate_signing_key("msal-emulator token signing"))
        .as_ref()
        .map_err(Clone::clone)
}

/// The process-wide key of the emulator's service account issuer (generated on first use): a
/// key of its own, so that no token of one issuer verifies as the other's.
pub(crate) fn federation_key() -> Result<&'static SigningKey, String> {
    static CELL: OnceLock<Result<SigningKey, String>> = OnceLock::new();
    CELL.get_or_init(|| generate_signing_key("msal-emulator service account issuer"))
        .as_ref()
        .map_err(Clone::clone)
}

fn generate_signing_key(common_name: &str) -> Result<SigningKey, String> {
    let c = generate_rsa_cert(common_name)?;
    let public = c.key.public_key();
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(public);
    // jsonwebtoken wants the PKCS#1 private key; it takes it out of the PKCS#8 PEM.
    let encoding = EncodingKey::from_rsa_pem(c.key_pem.as_bytes())
        .map_err(|e| format!("cannot read the generated RSA key: {e}"))?;
    let kid = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&c.cert_der));
    let jwk = serde_json::json!({
        "kty": "RSA",
        "use": "sig",
        "kid": kid,
        "x5t": kid,
        "n": URL_SAFE_NO_PAD.encode(&components.n),
        "e": URL_SAFE_NO_PAD.encode(&components.e),
        "x5c": [STANDARD.encode(&c.cert_der)],
        "alg": "RS256",
    });
    Ok(SigningKey {
        kid,
        encoding,
        // The public key's bytes are its PKCS#1 RSAPublicKey DER.
        decoding: DecodingKey::from_rsa_der(public.as_ref()),
        jwk,
    })
}

/// A self-signed TLS server certificate for `127.0.0.1`, `localhost` and `::1`, as Service
/// Fabric's managed identity endpoint has: clients pin its SHA-1 thumbprint.
pub(crate) struct SelfSignedTls {
    pub cert_pem: String,
    /// SHA-1 of the certificate's DER, upper-case hex (`IDENTITY_SERVER_THUMBPRINT`).
    pub thumbprint: String,
    pub cert: rustls_pki_types::CertificateDer<'static>,
    pub key: rustls_pki_types::PrivateKeyDer<'static>,
}

pub(crate) fn generate_self_signed_tls() -> Result<SelfSignedTls, String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "msal-emulator service fabric");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let thumbprint = sha1::Sha1::digest(cert.der())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Ok(SelfSignedTls {
        cert_pem: cert.pem(),
        thumbprint,
        cert: cert.der().clone(),
        key: rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    })
}

/// A TLS server identity for `127.0.0.1`, `localhost` and `::1`, signed by a new CA.
pub(crate) struct TlsMaterial {
    pub ca_pem: String,
    pub chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    pub key: rustls_pki_types::PrivateKeyDer<'static>,
}

pub(crate) fn generate_tls_material() -> Result<TlsMaterial, String> {
    let ca_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "msal-emulator local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(|e| e.to_string())?;

    let leaf_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut leaf_params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(|e| e.to_string())?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params
        .signed_by(&leaf_key, &*ca)
        .map_err(|e| e.to_string())?;
    Ok(TlsMaterial {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_certificate_parses_and_matches_key() {
        let (cert, key) = default_certificate_pem();
        assert!(cert.contains("BEGIN CERTIFICATE"));
        assert!(key.contains("BEGIN PRIVATE KEY"));
        let parsed = parse_certificates(&cert).unwrap();
        assert_eq!(parsed.len(), 1);
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        let token = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"a": 1, "exp": 4_000_000_000u64}),
            &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
        )
        .unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(&token, &parsed[0].key, &v).unwrap();
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse_certificates("nope").is_err());
        assert!(
            parse_certificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
        assert!(
            parse_certificates("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----")
                .is_err()
        );
        assert!(parse_certificates("-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
        assert!(cert_rsa_public_key(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(cert_rsa_public_key(&[0x30, 0x02, 0x02]).is_none());
        // Every truncation of a good certificate is refused, without a panic.
        let der = &default_app_cert().cert_der;
        assert!(cert_rsa_public_key(der).is_some());
        for len in 0..der.len() {
            assert!(
                cert_rsa_public_key(&der[..len]).is_none(),
                "prefix of {len} bytes"
            );
        }
        // A certificate whose key is not RSA is refused.
        let ec_key = KeyPair::generate().unwrap();
        let ec_cert = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&ec_key)
            .unwrap();
        assert!(cert_rsa_public_key(ec_cert.der()).is_none());
        assert!(parse_certificates(&ec_cert.pem()).is_err());
    }

    #[test]
    fn indented_pem_and_other_blocks_are_accepted() {
        let (cert, key) = default_certificate_pem();
        let indented: String = cert.lines().map(|l| format!("    {l}\n")).collect();
        assert_eq!(parse_certificates(&indented).unwrap().len(), 1);
        let two = parse_certificates(&format!("{key}{cert}{cert}")).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].x5t, two[1].x5t);
    }

    #[test]
    fn jwk_matches_the_signing_certificate() {
        let key = signing_key().unwrap();
        let x5c = STANDARD
            .decode(key.jwk["x5c"][0].as_str().unwrap())
            .unwrap();
        let pkcs1 = cert_rsa_public_key(&x5c).unwrap();
        let public = aws_lc_rs::rsa::PublicKey::from_der(&pkcs1).unwrap();
        let n = URL_SAFE_NO_PAD
            .decode(key.jwk["n"].as_str().unwrap())
            .unwrap();
        assert_eq!(n, RsaPublicKeyComponents::<Vec<u8>>::from(&public).n);
        assert_eq!(n.len(), 256, "2048-bit modulus, unsigned, no leading zero");
        assert_eq!(key.jwk["e"], "AQAB");
        assert_eq!(
            key.jwk["kid"],
            URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&x5c))
        );
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &serde_json::json!({"a": 1}),
            &key.encoding,
        )
        .unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(&token, &key.decoding, &v).unwrap();
        let from_jwk = DecodingKey::from_rsa_components(
            key.jwk["n"].as_str().unwrap(),
            key.jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        jsonwebtoken::decode::<serde_json::Value>(&token, &from_jwk, &v).unwrap();
    }
}
