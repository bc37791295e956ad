//! The network half of the `cluster` configuration: the secret, the address this
//! node advertises to the others, and the seeds it joins through, checked before
//! anything starts.

use super::health::host_port;
use super::tls::MIN_SECRET_LEN;
use crate::config::ClusterConfig;

/// How this node takes part in the cluster's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPlan {
    /// `None`: alone for good (a random secret).
    pub secret: Option<String>,
    /// The host the other nodes reach this node at.
    pub host: String,
    pub seeds: Vec<String>,
    /// Where the QUIC endpoint listens (the server address).
    pub bind: String,
}

impl NetPlan {
    /// `host:port` where the other nodes reach this node, once its QUIC port is bound.
    pub fn advertise(&self, quic_port: u16) -> String {
        host_port(
            self.host.trim_start_matches('[').trim_end_matches(']'),
            quic_port,
        )
    }
}

fn unspecified(host: &str) -> bool {
    matches!(host, "" | "0.0.0.0" | "::" | "[::]")
}

/// Checks the network options; `server_address` is the S3 listen address.
pub fn plan(cfg: &ClusterConfig, server_address: &str) -> Result<NetPlan, String> {
    if let Some(secret) = &cfg.secret
        && secret.chars().count() < MIN_SECRET_LEN
    {
        return Err(format!(
            "cluster.secret must be at least {MIN_SECRET_LEN} characters (it is the cluster's key)"
        ));
    }
    for seed in &cfg.seed_nodes {
        let port = seed
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()));
        if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p != 0) {
            return Err(format!(
                "cluster.seedNodes holds {seed:?}: each must be host:port (the QUIC port of a node)"
            ));
        }
    }
    let joins = !cfg.seed_nodes.is_empty();
    if joins && cfg.secret.is_none() {
        return Err("cluster.seedNodes needs cluster.secret: the nodes share it".into());
    }
    let host = cfg.advertise_address.as_deref().unwrap_or(server_address);
    if cfg.secret.is_some() {
        // Other nodes will call this one: at an address they can reach, on a port that
        // stays the same across restarts.
        if unspecified(host) {
            return Err(format!(
                "cluster.advertiseAddress is needed: the server listens on {server_address:?}, which other nodes cannot call"
            ));
        }
        if cfg.quic_port == 0 {
            return Err(
                "cluster.quicPort must be a fixed port when other nodes take part (cluster.secret is set)"
                    .into(),
            );
        }
    }
    Ok(NetPlan {
        secret: cfg.secret.clone(),
        host: host.to_string(),
        seeds: cfg.seed_nodes.clone(),
        bind: server_address.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(
        secret: Option<&str>,
        seeds: &[&str],
        advertise: Option<&str>,
        port: u16,
    ) -> ClusterConfig {
        ClusterConfig {
            secret: secret.map(String::from),
            seed_nodes: seeds.iter().map(|s| s.to_string()).collect(),
            advertise_address: advertise.map(String::from),
            quic_port: port,
            ..ClusterConfig::default()
        }
    }

    const SECRET: &str = "sixteen or more characters";

    #[test]
    fn alone_needs_nothing() {
        let p = plan(&cfg(None, &[], None, 0), "0.0.0.0").unwrap();
        assert_eq!((&p.secret, &p.seeds), (&None, &vec![]));
        assert_eq!(p.advertise(4999), "0.0.0.0:4999");
    }

    #[test]
    fn members_advertise_a_reachable_fixed_address() {
        let p = plan(&cfg(Some(SECRET), &[], None, 4348), "10.0.0.1").unwrap();
        assert_eq!(p.advertise(4348), "10.0.0.1:4348");
        let p = plan(&cfg(Some(SECRET), &[], Some("n1.example"), 4348), "0.0.0.0").unwrap();
        assert_eq!(p.advertise(4348), "n1.example:4348");
        let p = plan(&cfg(Some(SECRET), &[], Some("[::1]"), 4348), "::").unwrap();
        assert_eq!(p.advertise(4348), "[::1]:4348");
    }

    #[test]
    fn bad_network_options_are_refused() {
        let refused = |c: ClusterConfig, why: &str| {
            let e = plan(&c, "0.0.0.0").unwrap_err();
            assert!(e.contains(why), "{e}");
        };
        refused(cfg(Some("short"), &[], Some("h"), 4348), "at least 16");
        refused(
            cfg(None, &["10.0.0.2:4348"], Some("h"), 4348),
            "needs cluster.secret",
        );
        refused(cfg(Some(SECRET), &[], None, 4348), "advertiseAddress");
        refused(cfg(Some(SECRET), &[], Some("h"), 0), "fixed port");
        for seed in ["10.0.0.2", ":4348", "h:0", "h:port", "h:99999"] {
            refused(cfg(Some(SECRET), &[seed], Some("h"), 4348), "host:port");
        }
    }
}
