//! HTTPS with rustls: certificates from PEM files or PEM text, or a self-signed pair
//! generated at start (for tests and local development). The active certificate can
//! be replaced at runtime: new connections use the new one, open ones finish.

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// Serialized with only the fields that are set (the protocol's three forms).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// PEM text instead of files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pem: Option<String>,
    /// Generate a certificate for localhost, 127.0.0.1 and ::1.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub self_signed: bool,
    /// Serve HTTPS on this port and plain HTTP on `server.port`; without it,
    /// `server.port` serves HTTPS only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

pub struct TlsState {
    current: RwLock<(Arc<ServerConfig>, String)>,
}

/// A certificate chain and key, both PEM.
fn material(cfg: &TlsConfig) -> Result<(String, String), String> {
    let sources = [
        cfg.self_signed,
        cfg.cert_path.is_some() || cfg.key_path.is_some(),
        cfg.cert_pem.is_some() || cfg.key_pem.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() > 1 {
        return Err("give exactly one of selfSigned, certPath/keyPath or certPem/keyPem".into());
    }
    if cfg.self_signed {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("cannot generate a certificate: {e}"))?;
        return Ok((generated.cert.pem(), generated.signing_key.serialize_pem()));
    }
    let read =
        |path: &Option<String>, pem: &Option<String>, what: &str| -> Result<String, String> {
            match (pem, path) {
                (Some(pem), _) => Ok(pem.clone()),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read TLS {what} {path}: {e}")),
                (None, None) => Err(format!(
                    "TLS needs a {what} (certPath/keyPath, certPem/keyPem) or selfSigned: true"
                )),
            }
        };
    Ok((
        read(&cfg.cert_path, &cfg.cert_pem, "certificate")?,
        read(&cfg.key_path, &cfg.key_pem, "key")?,
    ))
}

fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the certificate PEM holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("invalid private key PEM: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not match: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl TlsState {
    pub fn new(cfg: &TlsConfig) -> Result<TlsState, String> {
        let (cert, key) = material(cfg)?;
        Ok(TlsState {
            current: RwLock::new((server_config(&cert, &key)?, cert)),
        })
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .clone(),
        )
    }

    /// The certificate chain now served, PEM.
    pub fn certificate_pem(&self) -> String {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// Swaps the certificate; an invalid one is refused and the old one stays.
    pub fn replace(&self, cfg: &TlsConfig) -> Result<String, String> {
        let (cert, key) = material(cfg)?;
        let config = server_config(&cert, &key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (config, cert.clone());
        Ok(cert)
    }
}
