//! Who may talk to whom between nodes: mutual TLS under a cluster CA derived from the
//! cluster secret.
//!
//! Every node derives the same CA key from the secret (HKDF-SHA256 to an Ed25519 seed),
//! so no CA file has to be handed around: each node builds the CA certificate itself
//! (same name, same key; a verifier trusts the name and the key) and signs a fresh key
//! of its own with it at start. A QUIC connection is accepted only when both sides
//! show a certificate signed by that CA: a process without the secret can neither
//! call a node nor answer one. A node started without a secret gets a random one,
//! so nothing can join it.
//!
//! The secret is the cluster's key: anyone who has it can mint a node certificate.

use ed25519_dalek::pkcs8::EncodePrivateKey;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Sha256;
use std::sync::Arc;

/// The ALPN protocol of node-to-node QUIC; the version changes when messages do.
pub const ALPN: &[u8] = b"smartstorage-cluster/2";
/// The name every node certificate carries and every caller asks for: addresses
/// change, membership in the cluster is what a certificate proves.
pub const SERVER_NAME: &str = "smartstorage-node";
/// A shorter secret is refused: it would be the whole cluster's key.
pub const MIN_SECRET_LEN: usize = 16;

const CA_SALT: &[u8] = b"smartstorage cluster CA v1";

fn tls_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("cluster TLS: {e}"))
}

/// This node's certificate chain and key, and the cluster CA it trusts.
pub struct Identity {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

/// The CA's signing key, the same on every node holding `secret`.
fn ca_key(secret: &[u8]) -> std::io::Result<KeyPair> {
    let mut seed = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(CA_SALT), secret)
        .expand(b"ed25519 seed", &mut seed)
        .map_err(tls_error)?;
    let pkcs8 = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .map_err(tls_error)?;
    KeyPair::try_from(pkcs8.as_bytes()).map_err(tls_error)
}

impl Identity {
    /// The identity of node `node_name` in the cluster of `secret` (None: a random
    /// secret, a cluster of one that no one can join).
    pub fn new(secret: Option<&str>, node_name: &str) -> std::io::Result<Identity> {
        let random;
        let secret = match secret {
            Some(s) if s.len() < MIN_SECRET_LEN => {
                return Err(tls_error(format!(
                    "the cluster secret must be at least {MIN_SECRET_LEN} characters"
                )));
            }
            Some(s) => s.as_bytes(),
            None => {
                random = uuid::Uuid::new_v4();
                random.as_bytes()
            }
        };
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "smartstorage cluster CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = ca_key(secret)?;
        let ca = ca_params.self_signed(&ca_key).map_err(tls_error)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut params =
            CertificateParams::new(vec![SERVER_NAME.to_string()]).map_err(tls_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, node_name);
        let key = KeyPair::generate().map_err(tls_error)?;
        let cert = params.signed_by(&key, &issuer).map_err(tls_error)?;
        Ok(Identity {
            ca: ca.der().clone(),
            chain: vec![cert.der().clone(), ca.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    fn roots(&self) -> std::io::Result<Arc<rustls::RootCertStore>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).map_err(tls_error)?;
        Ok(Arc::new(roots))
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// Answers only callers with a certificate of this cluster.
    pub fn server_crypto(&self) -> std::io::Result<quinn::crypto::rustls::QuicServerConfig> {
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots()?, Self::provider())
            .build()
            .map_err(tls_error)?;
        let mut tls = rustls::ServerConfig::builder_with_provider(Self::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .map_err(tls_error)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(tls_error)
    }

    /// Calls only nodes with a certificate of this cluster, showing ours.
    pub fn client_crypto(&self) -> std::io::Result<quinn::crypto::rustls::QuicClientConfig> {
        let mut tls = rustls::ClientConfig::builder_with_provider(Self::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .map_err(tls_error)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(tls_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_follows_the_secret() {
        let a = ca_key(b"a secret of the cluster").unwrap();
        let b = ca_key(b"a secret of the cluster").unwrap();
        let c = ca_key(b"another secret of a cluster").unwrap();
        assert_eq!(a.public_key_pem(), b.public_key_pem());
        assert_ne!(a.public_key_pem(), c.public_key_pem());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Identity::new(Some("short"), "n1").is_err());
        assert!(Identity::new(Some("sixteen chars ok"), "n1").is_ok());
        assert!(Identity::new(None, "n1").is_ok());
    }
}
