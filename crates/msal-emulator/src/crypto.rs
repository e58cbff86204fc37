//! Keys and certificates: the token signing key, the default app certificate, parsing of
//! registered certificates, and the TLS certificate authority.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha1::Digest as _;

/// A minimal DER reader: enough to walk X.509 certificates and RSA keys.
pub(crate) mod der {
    /// One TLV: tag, contents, and the whole encoding.
    #[derive(Debug, Clone, Copy)]
    pub struct Tlv<'a> {
        pub tag: u8,
        pub contents: &'a [u8],
    }

    /// Reads one TLV from the front of `input`, returning it and the rest.
    pub fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&len0, mut rest) = rest.split_first()?;
        let len = if len0 < 0x80 {
            len0 as usize
        } else {
            let n = (len0 & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        Some((
            Tlv {
                tag,
                contents: &rest[..len],
            },
            &rest[len..],
        ))
    }

    /// All TLVs inside a constructed value.
    pub fn children(contents: &[u8]) -> Option<Vec<Tlv<'_>>> {
        let mut out = Vec::new();
        let mut rest = contents;
        while !rest.is_empty() {
            let (tlv, r) = read(rest)?;
            out.push(tlv);
            rest = r;
        }
        Some(out)
    }

    /// The unsigned big-endian bytes of an INTEGER, without leading zeros.
    pub fn unsigned(int: &[u8]) -> &[u8] {
        let mut i = int;
        while i.len() > 1 && i[0] == 0 {
            i = &i[1..];
        }
        i
    }
}

/// The DER OID for rsaEncryption (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Decodes every PEM block with the given label.
pub(crate) fn pem_blocks(pem: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let b64: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(bytes) = STANDARD.decode(b64) {
            out.push(bytes);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// The PKCS#1 RSAPublicKey DER inside a certificate, if its key is RSA.
pub(crate) fn cert_rsa_public_key(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (cert, _) = der::read(cert_der)?;
    let parts = der::children(cert.contents)?;
    let tbs = parts.first()?;
    let fields = der::children(tbs.contents)?;
    // [0] version is optional; the SPKI is the 6th field after it.
    let offset = usize::from(fields.first()?.tag == 0xa0);
    let spki = fields.get(offset + 5)?;
    let spki_parts = der::children(spki.contents)?;
    let alg = der::children(spki_parts.first()?.contents)?;
    if alg.first()?.contents != RSA_ENCRYPTION_OID {
        return None;
    }
    let bits = spki_parts.get(1)?;
    if bits.tag != 0x03 || bits.contents.is_empty() {
        return None;
    }
    Some(bits.contents[1..].to_vec())
}

/// The modulus and exponent of a PKCS#1 RSAPublicKey.
pub(crate) fn rsa_components(pkcs1: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (seq, _) = der::read(pkcs1)?;
    let ints = der::children(seq.contents)?;
    Some((
        der::unsigned(ints.first()?.contents).to_vec(),
        der::unsigned(ints.get(1)?.contents).to_vec(),
    ))
}

/// The PKCS#1 RSAPrivateKey inside a PKCS#8 PrivateKeyInfo.
pub(crate) fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (seq, _) = der::read(pkcs8)?;
    let parts = der::children(seq.contents)?;
    let octets = parts.get(2)?;
    (octets.tag == 0x04).then(|| octets.contents.to_vec())
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
    let blocks = pem_blocks(pem, "CERTIFICATE");
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
    key_pem: String,
    pkcs1_private: Vec<u8>,
    pkcs1_public: Vec<u8>,
}

fn generate_rsa_cert(common_name: &str) -> Result<RsaCert, String> {
    let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let pkcs1_private =
        pkcs8_to_pkcs1(key.serialized_der()).ok_or("cannot read the generated RSA key")?;
    Ok(RsaCert {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        pkcs1_private,
        pkcs1_public: key.public_key_raw().to_vec(),
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
    CELL.get_or_init(|| {
        let c = generate_rsa_cert("msal-emulator token signing")?;
        let (n, e) = rsa_components(&c.pkcs1_public).ok_or("cannot read the RSA public key")?;
        let kid = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&c.cert_der));
        let jwk = serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "kid": kid,
            "x5t": kid,
            "n": URL_SAFE_NO_PAD.encode(n),
            "e": URL_SAFE_NO_PAD.encode(e),
            "x5c": [STANDARD.encode(&c.cert_der)],
            "alg": "RS256",
        });
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(&c.pkcs1_private),
            decoding: DecodingKey::from_rsa_der(&c.pkcs1_public),
            jwk,
        })
    })
    .as_ref()
    .map_err(Clone::clone)
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
        assert!(der::read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(rsa_components(&[0x30, 0x02, 0x02]).is_none());
    }
}
