//! `ruststorage`: an S3-compatible object storage server.
//!
//! `ruststorage serve ...` runs a standalone server; `ruststorage --management`
//! speaks the NDJSON management protocol on stdin/stdout (docs/protocol.md).
//! The engine itself is the `ruststorage` library (src/lib.rs); this is its
//! command line.

use clap::builder::FalseyValueParser;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use ruststorage::{auth, config, engine, management, tls};
use std::path::PathBuf;

// mimalloc instead of glibc's malloc: glibc's took 15% of the server's CPU on 4 KiB GETs
// (perf, c=16), mostly in its free-list bookkeeping across the runtime's threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ruststorage",
    version,
    propagate_version = true,
    about = "S3-compatible object storage server"
)]
struct Cli {
    /// Speak the NDJSON management protocol on stdin/stdout (used by the TypeScript module).
    #[arg(long)]
    management: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

// The flags, defaults and environment variables of `serve` are those of the TypeScript
// CLI (`smartstorage`, src/cli.ts); tests/defaults.test.ts compares the two `--help` texts.
// A flag beats its environment variable.
#[derive(Subcommand)]
enum Command {
    /// Run an S3 server on a local folder (or, with --cluster, erasure-coded over drive folders).
    #[command(display_name = "ruststorage")]
    Serve(Box<ServeArgs>),
    /// Remove a node from a running cluster, moving its data to the other nodes first.
    Decommission(DecommissionArgs),
}

#[derive(Args)]
struct DecommissionArgs {
    /// The node to remove (its cluster node id).
    #[arg(long, value_name = "ID")]
    node: String,
    /// QUIC address of another node of the cluster, which does the work.
    #[arg(long, value_name = "HOST:PORT")]
    via: String,
    /// The shared cluster secret.
    #[arg(
        long,
        value_name = "S",
        env = "SMARTSTORAGE_CLUSTER_SECRET",
        hide_env_values = true
    )]
    cluster_secret: String,
}

#[derive(Args)]
struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = config::DEFAULT_SERVE_PORT, env = "SMARTSTORAGE_PORT")]
    port: u16,
    /// Address to bind (a warning is printed for a non-loopback address with auth off).
    #[arg(long, default_value = config::DEFAULT_ADDRESS, env = "SMARTSTORAGE_ADDRESS")]
    address: String,
    /// Storage folder.
    #[arg(long, default_value = config::DEFAULT_DIRECTORY, env = "SMARTSTORAGE_DIRECTORY")]
    directory: PathBuf,
    /// Region to answer for.
    #[arg(long, default_value = config::DEFAULT_REGION, env = "SMARTSTORAGE_REGION")]
    region: String,
    /// Access key id of the one credential; turns auth on [default: random when --auth].
    #[arg(long, requires = "secret_key", env = "SMARTSTORAGE_ACCESS_KEY")]
    access_key: Option<String>,
    /// Secret key of the one credential [default: random when --auth].
    #[arg(
        long,
        requires = "access_key",
        env = "SMARTSTORAGE_SECRET_KEY",
        hide_env_values = true
    )]
    secret_key: Option<String>,
    /// Require signed requests (SigV4); without --access-key/--secret-key a random pair is generated and printed.
    #[arg(long)]
    auth: bool,
    /// Refuse legacy Signature Version 2 requests (only SigV4 is accepted).
    #[arg(long)]
    no_sigv2: bool,
    /// Connections served at once; further clients wait.
    #[arg(long, default_value_t = config::ServerConfig::default().max_connections)]
    max_connections: usize,
    /// Connections served at once from one client address (raise it behind a proxy).
    #[arg(long, default_value_t = config::ServerConfig::default().max_connections_per_client)]
    max_connections_per_client: usize,
    /// Empty the storage folder before start.
    #[arg(long)]
    clean_slate: bool,
    /// Create this bucket at start unless it exists (repeatable).
    #[arg(long = "bucket", value_name = "NAME")]
    buckets: Vec<String>,
    /// Do not fsync writes (still atomic, but not safe against power loss).
    #[arg(long)]
    no_fsync: bool,
    /// Serve a fresh temporary folder that is removed at exit, with fsync off (tests, demos).
    #[arg(long)]
    ephemeral: bool,
    /// Log every request on stderr: method, path, status, response bytes, milliseconds.
    #[arg(long, env = "SMARTSTORAGE_LOG_REQUESTS", value_parser = FalseyValueParser::new())]
    log_requests: bool,
    /// Serve Prometheus metrics at /metrics (on the S3 port unless --metrics-port is given).
    #[arg(long)]
    metrics: bool,
    /// Require `Authorization: Bearer TOKEN` of scrapers.
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "metrics",
        env = "SMARTSTORAGE_METRICS_TOKEN"
    )]
    metrics_token: Option<String>,
    /// Serve the metrics on a port of their own (0: any free one).
    #[arg(long, value_name = "N", requires = "metrics")]
    metrics_port: Option<u16>,
    /// Serve the web console on port N (0: any free one); its URL is printed at start.
    #[arg(long, value_name = "N")]
    console_port: Option<u16>,
    /// Write one JSON line per request to PATH (rotated by size), or to stderr without PATH.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "")]
    access_log: Option<std::path::PathBuf>,
    /// The master key of SSE-S3 (a file of 32 bytes, raw or base64); without it a key is generated beside the data.
    #[arg(
        long,
        value_name = "FILE",
        env = "SMARTSTORAGE_ENCRYPTION_MASTER_KEY_FILE"
    )]
    encryption_master_key_file: Option<std::path::PathBuf>,
    /// Accept SSE-C keys over plain HTTP (AWS refuses them): for local testing only.
    #[arg(long = "allow-ssec-over-http")]
    allow_ssec_over_http: bool,
    /// Seconds in a lifecycle day (a test setting: rules' days count in this unit).
    #[arg(long = "lifecycle-day-seconds", value_name = "N", default_value_t = config::DEFAULT_LIFECYCLE_DAY_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    lifecycle_day_seconds: u64,
    /// Seconds between the starts of two lifecycle passes.
    #[arg(long = "lifecycle-scan-seconds", value_name = "N", default_value_t = config::DEFAULT_LIFECYCLE_SCAN_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    lifecycle_scan_seconds: u64,
    /// Put the files under FOLDER into BUCKET after start (the bucket is created if needed); repeatable.
    #[arg(long = "import", value_name = "BUCKET=FOLDER")]
    import: Vec<String>,
    /// Serve HTTPS with a generated certificate (localhost, 127.0.0.1, ::1), printed at start.
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// Serve HTTPS with this PEM certificate (chain allowed); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<String>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<String>,
    /// Serve HTTPS on this port and keep --port plain HTTP (without it, --port speaks HTTPS only).
    #[arg(long)]
    tls_port: Option<u16>,
    /// Cluster mode (experimental): erasure-code objects over the --drive folders; needs --drive.
    #[arg(long, requires = "drives")]
    cluster: bool,
    /// A drive folder of cluster mode, one per disk (repeatable; with --cluster).
    #[arg(long = "drive", value_name = "PATH", requires = "cluster")]
    drives: Vec<PathBuf>,
    /// Data shards per object (with --parity-shards; their sum is the drive count) [default: from the drive count].
    #[arg(long, value_name = "K", requires_all = ["cluster", "parity_shards"])]
    data_shards: Option<usize>,
    /// Parity shards per object: drives that may be lost (with --data-shards).
    #[arg(long, value_name = "M", requires_all = ["cluster", "data_shards"])]
    parity_shards: Option<usize>,
    /// QUIC port of the node with --cluster (0 picks a free one).
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_QUIC_PORT, env = "SMARTSTORAGE_QUIC_PORT")]
    quic_port: u16,
    /// Node id with --cluster [default: generated once and kept on the drives].
    #[arg(long, value_name = "ID", env = "SMARTSTORAGE_NODE_ID")]
    node_id: Option<String>,
    /// QUIC address of a node to join through (repeatable; with --cluster and a secret).
    #[arg(long = "seed", value_name = "HOST:PORT", requires = "cluster")]
    seeds: Vec<String>,
    /// The host other nodes reach this one at [default: --address].
    #[arg(long, value_name = "HOST", requires = "cluster")]
    advertise: Option<String>,
    /// The shared cluster secret (16 or more characters): nodes without it can neither join nor talk.
    #[arg(
        long,
        value_name = "S",
        env = "SMARTSTORAGE_CLUSTER_SECRET",
        hide_env_values = true
    )]
    cluster_secret: Option<String>,
}

/// `ruststorage decommission`: prints the report as JSON; exit 1 when refused.
async fn decommission(args: DecommissionArgs) -> i32 {
    use ruststorage::cluster::rpc::decommission_via;
    match decommission_via(&args.via, &args.cluster_secret, &args.node).await {
        Ok(report) => {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            0
        }
        Err(e) => {
            eprintln!("ruststorage: decommission {}: {e}", args.node);
            1
        }
    }
}

fn main() {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // --ephemeral beats SMARTSTORAGE_DIRECTORY, but not an explicit --directory.
    if let Some(serve) = matches.subcommand_matches("serve")
        && serve.get_flag("ephemeral")
        && serve.value_source("directory") == Some(ValueSource::CommandLine)
    {
        let mut cli = Cli::command().bin_name("ruststorage");
        cli.build();
        cli.find_subcommand_mut("serve")
            .expect("the serve subcommand")
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--ephemeral serves a temporary folder: it cannot be used with --directory",
            )
            .exit();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match (cli.management, cli.command) {
        (true, _) => runtime.block_on(management::run()),
        (false, Some(Command::Serve(args))) => match serve_plan(*args) {
            Ok(plan) => runtime.block_on(serve(plan)),
            Err(message) => {
                eprintln!("ruststorage: {message}");
                1
            }
        },
        (false, Some(Command::Decommission(args))) => runtime.block_on(decommission(args)),
        (false, None) => {
            eprintln!(
                "usage: ruststorage serve [--port N] [--directory DIR] | ruststorage --management (see --help)"
            );
            2
        }
    };
    std::process::exit(code);
}

/// What `serve` runs.
struct ServePlan {
    config: config::Config,
    /// `--ephemeral`: the temporary folder to remove at exit.
    ephemeral: Option<PathBuf>,
    /// `--auth` without keys: the pair was generated here, so it is printed whole.
    generated_pair: bool,
    /// `--import`: (bucket, folder) pairs to import after start.
    imports: Vec<(String, String)>,
}

fn serve_plan(args: ServeArgs) -> Result<ServePlan, String> {
    let imports = args
        .import
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((bucket, folder)) if !bucket.is_empty() && !folder.is_empty() => {
                Ok((bucket.to_string(), folder.to_string()))
            }
            _ => Err(format!("--import takes BUCKET=FOLDER, got {pair:?}")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut config = config::Config::default();
    let mut generated_pair = false;
    config.auth.sig_v2 = !args.no_sigv2;
    config.server.max_connections = args.max_connections;
    config.server.max_connections_per_client = args.max_connections_per_client;
    config.server.address = args.address;
    config.server.port = args.port;
    config.server.region = args.region;
    config.server.log_requests = args.log_requests;
    if args.metrics {
        config.server.metrics = Some(config::MetricsConfig {
            enabled: true,
            bearer_token: args.metrics_token,
            port: args.metrics_port,
        });
    }
    config.server.console = args.console_port.map(|port| config::ConsoleConfig {
        enabled: true,
        port,
    });
    config.server.access_log = args.access_log.map(|path| config::AccessLogConfig {
        path: (!path.as_os_str().is_empty()).then_some(path),
        ..Default::default()
    });
    config.encryption.master_key_file = args.encryption_master_key_file.clone();
    config.encryption.allow_sse_c_over_http = args.allow_ssec_over_http;
    config.lifecycle = config::LifecycleSettings {
        day_length_seconds: args.lifecycle_day_seconds,
        scan_interval_seconds: args.lifecycle_scan_seconds,
    };
    config.storage.directory = args.directory;
    config.storage.clean_slate = args.clean_slate;
    config.buckets = args
        .buckets
        .into_iter()
        .map(|name| config::BucketConfig {
            name,
            versioning: None,
            policy: None,
            cors: None,
        })
        .collect();
    config.storage.fsync = !args.no_fsync;
    if args.tls_cert.is_some() || args.tls_self_signed {
        config.server.tls = Some(tls::TlsConfig {
            cert_path: args.tls_cert,
            key_path: args.tls_key,
            self_signed: args.tls_self_signed,
            port: args.tls_port,
            ..Default::default()
        });
    } else if args.tls_port.is_some() {
        return Err("--tls-port needs --tls-self-signed or --tls-cert/--tls-key".into());
    }
    // Keys imply auth: giving a secret and not checking it would be a trap.
    if let (Some(access_key_id), Some(secret_access_key)) = (args.access_key, args.secret_key) {
        config.auth.enabled = true;
        config.auth.credentials = vec![auth::Credential {
            access_key_id,
            secret_access_key,
            owner: None,
        }];
    } else if args.auth {
        config.auth.enabled = true;
        config.auth.credentials = vec![random_credential()];
        generated_pair = true;
    }
    if args.cluster {
        if args.ephemeral {
            return Err(
                "--ephemeral serves one temporary folder: it cannot be used with --cluster".into(),
            );
        }
        let cluster = config::ClusterConfig {
            enabled: true,
            drives: args.drives,
            erasure: match (args.data_shards, args.parity_shards) {
                (Some(data_shards), Some(parity_shards)) => Some(config::ErasureConfig {
                    data_shards,
                    parity_shards,
                }),
                _ => None,
            },
            quic_port: args.quic_port,
            node_id: args.node_id.filter(|id| !id.is_empty()),
            seed_nodes: args.seeds,
            advertise_address: args.advertise,
            secret: args.cluster_secret.filter(|s| !s.is_empty()),
        };
        // The same checks as at start, but before anything else happens.
        ruststorage::cluster::geometry::validate(&cluster)
            .map_err(|e| format!("--cluster: {e}"))?;
        config.cluster = Some(cluster);
    }
    let mut ephemeral = None;
    if args.ephemeral {
        let dir = std::env::temp_dir().join(format!(
            "smartstorage-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ));
        std::fs::create_dir(&dir)
            .map_err(|e| format!("cannot create the temporary folder {}: {e}", dir.display()))?;
        config.storage.directory = dir.clone();
        config.storage.fsync = false;
        ephemeral = Some(dir);
    }
    Ok(ServePlan {
        config,
        ephemeral,
        generated_pair,
        imports,
    })
}

/// A random key pair (20-character id, 40-character secret), like the TypeScript module's.
fn random_credential() -> auth::Credential {
    fn random_string(len: usize, alphabet: &[u8]) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let uuid = uuid::Uuid::new_v4();
            // Bytes 6 and 8 of a v4 UUID carry its version and variant bits.
            for (i, b) in uuid.as_bytes().iter().enumerate() {
                if i != 6 && i != 8 && out.len() < len {
                    out.push(alphabet[*b as usize % alphabet.len()] as char);
                }
            }
        }
        out
    }
    auth::Credential {
        access_key_id: random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
        secret_access_key: random_string(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        ),
        owner: None,
    }
}

/// Whether `address` only accepts connections from this machine.
fn is_loopback(address: &str) -> bool {
    let bare = address.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn serve(plan: ServePlan) -> i32 {
    let code = serve_until_signal(
        plan.config,
        plan.ephemeral.is_some(),
        plan.generated_pair,
        &plan.imports,
    )
    .await;
    if let Some(dir) = plan.ephemeral
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        eprintln!("ruststorage: cannot remove {}: {e}", dir.display());
    }
    code
}

async fn serve_until_signal(
    config: config::Config,
    ephemeral: bool,
    generated_pair: bool,
    imports: &[(String, String)],
) -> i32 {
    let self_signed = config.server.tls.as_ref().is_some_and(|t| t.self_signed);
    let warn_open = !config.auth.enabled && !is_loopback(&config.server.address);
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
    if ephemeral {
        println!("ephemeral: the folder is removed at exit; fsync is off");
    }
    if let Some(tls_port) = info.tls_port {
        println!("https: listening on https://{}:{tls_port}", info.address);
    }
    if let Some(metrics_port) = info.metrics_port {
        println!(
            "metrics: listening on {scheme}://{}:{metrics_port}/metrics",
            info.address
        );
    }
    if let Some(console_port) = info.console_port {
        println!(
            "console: open {}://{}:{console_port}/_console/",
            if info.certificate_pem.is_some() {
                "https"
            } else {
                "http"
            },
            info.address
        );
    }
    if let (true, Some(pem)) = (self_signed, &info.certificate_pem) {
        println!("self-signed certificate (trust it with your client's CA bundle option):\n{pem}");
    }
    let creds = engine.credentials.snapshot();
    if !engine.auth_enabled {
        println!("auth: disabled (any credentials are accepted)");
    } else if generated_pair {
        // Generated here, so nobody else knows it: print it whole.
        println!(
            "auth: enabled, access key {}, secret key {}",
            creds[0].access_key_id, creds[0].secret_access_key
        );
    } else {
        println!("auth: enabled, access key {}", creds[0].access_key_id);
    }
    if warn_open {
        eprintln!("{}", open_warning(&info.address));
    }
    for (bucket, folder) in imports {
        match import(&engine, bucket, folder).await {
            Ok(line) => println!("{line}"),
            Err(message) => {
                eprintln!("ruststorage: --import {bucket}={folder}: {message}");
                engine.stop().await;
                return 1;
            }
        }
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

/// `--import BUCKET=FOLDER`: creates the bucket unless it exists, then imports the folder.
async fn import(engine: &engine::Engine, bucket: &str, folder: &str) -> Result<String, String> {
    use management::protocol::{EnsureBucketParams, FolderParams};
    let describe =
        |e: ruststorage::s3::error::S3Error| format!("{}: {}", e.code.as_str(), e.message);
    engine
        .ensure_bucket(EnsureBucketParams {
            name: bucket.to_string(),
            versioning: None,
            policy: None,
            cors: None,
        })
        .await
        .map_err(describe)?;
    let params = FolderParams {
        bucket: bucket.to_string(),
        folder: folder.to_string(),
        prefix: None,
    };
    let done = ruststorage::seed::import_folder(&*engine.ctx.store, params)
        .await
        .map_err(describe)?;
    Ok(format!(
        "imported {} files ({} bytes) from {folder} into bucket {bucket}",
        done.imported, done.bytes
    ))
}

/// The warning for a non-loopback address with auth off (the TypeScript CLI prints the same).
fn open_warning(address: &str) -> String {
    format!(
        "ruststorage: warning: listening on {address} with auth off: anyone who can reach this address \
         can read, change and delete every object. Use --access-key/--secret-key or --auth, or bind 127.0.0.1."
    )
}
