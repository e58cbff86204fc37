//! Service Fabric's managed identity endpoint serves https with a certificate of the cluster,
//! usually self-signed: no CA vouches for it, the environment gives its SHA-1 thumbprint
//! (`IDENTITY_SERVER_THUMBPRINT`) instead. The endpoint's TLS is accepted exactly when the
//! server's certificate has that thumbprint (and the handshake is signed by its key).

use std::sync::Arc;
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha1::{Digest, Sha1};

use crate::error::{Error, codes};
use crate::http::ReqwestHttpClient;

/// Accepts the one certificate whose SHA-1 thumbprint is the expected one.
#[derive(Debug)]
struct Thumbprint {
    expected: [u8; 20],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Thumbprint {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual: [u8; 20] = Sha1::digest(end_entity.as_ref()).into();
        if actual == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!(
                "Service Fabric's managed identity endpoint presented a certificate whose thumbprint is not IDENTITY_SERVER_THUMBPRINT"
            );
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A SHA-1 thumbprint in hex (40 digits, any case; spaces and colons allowed between them).
fn parse_thumbprint(text: &str) -> Result<[u8; 20], Error> {
    let digits: Vec<u8> = text.bytes().filter(|b| !matches!(b, b' ' | b':')).collect();
    let bad = || {
        Error::client(
            codes::INVALID_CONFIGURATION,
            "IDENTITY_SERVER_THUMBPRINT is not a SHA-1 thumbprint (40 hex digits)",
        )
    };
    if digits.len() != 40 {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    for (i, pair) in digits.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// An HTTP client that accepts exactly the server certificate with this thumbprint.
pub(crate) fn client(
    thumbprint: &str,
    timeout: Option<Duration>,
) -> Result<ReqwestHttpClient, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Thumbprint {
        expected: parse_thumbprint(thumbprint)?,
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::client(
                codes::INVALID_CONFIGURATION,
                format!("cannot configure TLS for Service Fabric: {e}"),
            )
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let mut b = ReqwestHttpClient::builder().tls_config(config);
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_hex_in_any_case() {
        let t = "AB01cd23EF45ab67CD89ef01ab23CD45ef67AB89";
        assert_eq!(parse_thumbprint(t).unwrap()[0], 0xab);
        assert_eq!(
            parse_thumbprint(t).unwrap(),
            parse_thumbprint(&t.to_lowercase()).unwrap()
        );
        for bad in [
            "",
            "ab",
            &"g".repeat(40),
            &"a".repeat(41),
            "é".repeat(20).as_str(),
        ] {
            assert!(parse_thumbprint(bad).is_err(), "{bad}");
        }
    }
}
