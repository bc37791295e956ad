//! `ruststorage`: an S3-compatible object storage server.
//!
//! `ruststorage serve ...` runs a standalone server; `ruststorage --management`
//! speaks the NDJSON management protocol on stdin/stdout (docs/protocol.md).
//! The engine itself is the `ruststorage` library (src/lib.rs); this is its
//! command line.

use clap::{Parser, Subcommand};
use ruststorage::{auth, config, engine, management, tls};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ruststorage",
    version,
    about = "S3-compatible object storage server"
)]
struct Cli {
    /// Speak the NDJSON management protocol on stdin/stdout (used by the TypeScript module).
    #[arg(long)]
    management: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a standalone S3 server on a local folder.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = config::DEFAULT_ADDRESS, env = "SMARTSTORAGE_ADDRESS")]
        address: String,
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = config::DEFAULT_SERVE_PORT, env = "SMARTSTORAGE_PORT")]
        port: u16,
        /// Folder that holds the buckets.
        #[arg(long, default_value = config::DEFAULT_DIRECTORY, env = "SMARTSTORAGE_DIRECTORY")]
        directory: PathBuf,
        /// Region reported to clients.
        #[arg(long, default_value = config::DEFAULT_REGION)]
        region: String,
        /// Require signed requests with these credentials.
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
        /// Empty the folder before starting.
        #[arg(long)]
        clean_slate: bool,
        /// Do not fsync writes (still atomic, but not safe against power loss).
        #[arg(long)]
        no_fsync: bool,
        /// Serve HTTPS with this certificate chain (PEM)...
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<String>,
        /// ...and this private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<String>,
        /// Serve HTTPS with a generated certificate for localhost (printed to stdout).
        #[arg(long, conflicts_with = "tls_cert")]
        tls_self_signed: bool,
        /// Serve HTTPS on this port and plain HTTP on --port (default: HTTPS on --port only).
        #[arg(long)]
        tls_port: Option<u16>,
        /// Refuse legacy Signature Version 2 requests (only SigV4 is accepted).
        #[arg(long)]
        no_sigv2: bool,
        /// Connections served at once.
        #[arg(long, default_value_t = config::ServerConfig::default().max_connections)]
        max_connections: usize,
        /// Connections served at once from one client address (raise it behind a proxy).
        #[arg(long, default_value_t = config::ServerConfig::default().max_connections_per_client)]
        max_connections_per_client: usize,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match (cli.management, cli.command) {
        (true, _) => runtime.block_on(management::run()),
        (
            false,
            Some(Command::Serve {
                address,
                port,
                directory,
                region,
                access_key,
                secret_key,
                clean_slate,
                no_fsync,
                tls_cert,
                tls_key,
                tls_self_signed,
                tls_port,
                no_sigv2,
                max_connections,
                max_connections_per_client,
            }),
        ) => {
            let mut config = config::Config::default();
            config.auth.sig_v2 = !no_sigv2;
            config.server.max_connections = max_connections;
            config.server.max_connections_per_client = max_connections_per_client;
            config.server.address = address;
            config.server.port = port;
            config.server.region = region;
            config.storage.directory = directory;
            config.storage.clean_slate = clean_slate;
            config.storage.fsync = !no_fsync;
            if tls_cert.is_some() || tls_self_signed {
                config.server.tls = Some(tls::TlsConfig {
                    cert_path: tls_cert,
                    key_path: tls_key,
                    self_signed: tls_self_signed,
                    port: tls_port,
                    ..Default::default()
                });
            }
            if let (Some(access_key_id), Some(secret_access_key)) = (access_key, secret_key) {
                config.auth.enabled = true;
                config.auth.credentials = vec![auth::Credential {
                    access_key_id,
                    secret_access_key,
                }];
            }
            runtime.block_on(serve(config))
        }
        (false, None) => {
            eprintln!(
                "usage: ruststorage serve [--port N] [--directory DIR] | ruststorage --management (see --help)"
            );
            2
        }
    };
    std::process::exit(code);
}

async fn serve(config: config::Config) -> i32 {
    let self_signed = config.server.tls.as_ref().is_some_and(|t| t.self_signed);
    let engine = match engine::Engine::start(config, None).await {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("ruststorage: {}: {}", e.code, e.message);
            return 1;
        }
    };
    let info = &engine.info;
    // The first stdout line is machine-readable enough for scripts and tests.
    let scheme = if info.use_ssl { "https" } else { "http" };
    println!(
        "ruststorage listening on {scheme}://{}:{} (directory: {}, region: {})",
        info.address, info.port, info.directory, info.region
    );
    if let Some(tls_port) = info.tls_port {
        println!("https: listening on https://{}:{tls_port}", info.address);
    }
    if let (true, Some(pem)) = (self_signed, &info.certificate_pem) {
        println!("self-signed certificate (trust it with your client's CA bundle option):\n{pem}");
    }
    let creds = engine.credentials.snapshot();
    if engine.auth_enabled {
        println!("auth: enabled, access key {}", creds[0].access_key_id);
    } else {
        println!("auth: disabled (any credentials are accepted)");
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("ruststorage: stopping");
    engine.stop().await;
    0
}
