/**
 * The `smartstorage` command line: flag parsing and the main loop. The entry
 * point is `bin/smartstorage.ts`.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { SmartStorage } from "./smart_storage.ts";
import { type ClusterConfig, DEFAULTS, type SmartStorageConfig, type TlsConfig } from "./config.ts";
import { SmartStorageError } from "./errors.ts";
import { resolveBinaryAsync } from "./binary.ts";
import { spawnChild } from "./spawn.ts";
import { VERSION } from "./version.ts";

/**
 * The command's defaults. The engine's own `ruststorage serve` has the same ones
 * (rust/src/config.rs); tests/defaults.test.ts compares the two `--help` texts.
 */
export const CLI_DEFAULTS: Readonly<CliDefaults> = Object.freeze({
  port: 3000,
  address: DEFAULTS.server.address,
  directory: DEFAULTS.storage.directory,
  region: DEFAULTS.server.region,
  quicPort: 4348,
});

/** The flags with a default, shared with `ruststorage serve`. */
export interface CliDefaults {
  /** `--port`. */
  port: number;
  /** `--address`. */
  address: string;
  /** `--directory`. */
  directory: string;
  /** `--region`. */
  region: string;
  /** `--quic-port` (with `--cluster`; `DEFAULT_QUIC_PORT` in rust/src/config.rs). */
  quicPort: number;
}

/**
 * The environment variable of each flag that has one (the same as `ruststorage serve`'s).
 * A flag beats its environment variable; an empty variable counts as unset.
 */
export const CLI_ENV: Readonly<Record<string, string>> = Object.freeze({
  port: "SMARTSTORAGE_PORT",
  address: "SMARTSTORAGE_ADDRESS",
  directory: "SMARTSTORAGE_DIRECTORY",
  region: "SMARTSTORAGE_REGION",
  "access-key": "SMARTSTORAGE_ACCESS_KEY",
  "secret-key": "SMARTSTORAGE_SECRET_KEY",
  "log-requests": "SMARTSTORAGE_LOG_REQUESTS",
  "metrics-token": "SMARTSTORAGE_METRICS_TOKEN",
  "quic-port": "SMARTSTORAGE_QUIC_PORT",
  "node-id": "SMARTSTORAGE_NODE_ID",
  "cluster-secret": "SMARTSTORAGE_CLUSTER_SECRET",
  "encryption-master-key-file": "SMARTSTORAGE_ENCRYPTION_MASTER_KEY_FILE",
});

/** Flags of this command only: they concern the host, not the engine (`ruststorage serve` has no such flags). */
export const HOST_ONLY_FLAGS: readonly string[] = Object.freeze(["binary", "verbose"]);

/** Help text of the command. */
export const USAGE = `Usage: smartstorage [options]

Starts an S3-compatible object storage server and runs until Ctrl-C or SIGTERM.
The engine's own \`ruststorage serve\` takes the same options and environment
variables (all but --binary and --verbose). A flag beats its environment variable.

Options:
  --port <n>            port to listen on (0 = a free one)
                        [env: ${CLI_ENV.port}] [default: ${CLI_DEFAULTS.port}]
  --address <host>      address to bind (a warning is printed for a non-loopback
                        address with auth off)
                        [env: ${CLI_ENV.address}] [default: ${CLI_DEFAULTS.address}]
  --directory <path>    storage folder
                        [env: ${CLI_ENV.directory}] [default: ${CLI_DEFAULTS.directory}]
  --region <name>       region to answer for
                        [env: ${CLI_ENV.region}] [default: ${CLI_DEFAULTS.region}]
  --access-key <id>     access key id of the one credential; turns auth on
                        [env: ${CLI_ENV["access-key"]}] [default: random when --auth]
  --secret-key <key>    secret key of the one credential
                        [env: ${CLI_ENV["secret-key"]}] [default: random when --auth]
  --auth                require signed requests (SigV4); without the
                        keys above a random pair is generated
                        and printed                             [default: off]
  --no-sigv2            refuse legacy Signature Version 2 requests [default: accepted]
  --max-connections <n> connections served at once; further clients wait
                                                                [default: 4096]
  --max-connections-per-client <n>
                        connections from one client address; raise it
                        behind a proxy                          [default: 128]
  --clean-slate         empty the storage folder before start   [default: off]
  --bucket <name>       create this bucket at start unless it exists (repeatable)
  --no-fsync            do not fsync writes (still atomic, but not safe against
                        power loss)                             [default: fsync on]
  --ephemeral           serve a fresh temporary folder that is removed at exit,
                        with fsync off (tests, demos); not with --directory
  --log-requests        log every request on stderr: method, path, status,
                        response bytes, milliseconds
                        [env: ${CLI_ENV["log-requests"]}] [default: off]
  --metrics             serve Prometheus metrics at /metrics (on the S3 port
                        unless --metrics-port is given)         [default: off]
  --metrics-token <token>
                        require "Authorization: Bearer <token>" of scrapers
                        [env: ${CLI_ENV["metrics-token"]}]
  --metrics-port <n>    serve the metrics on a port of their own (0: a free one)
  --console-port <n>    serve the web console on this port (0: a free one);
                        open /_console/ and sign in with a key  [default: off]
  --access-log [file]   one JSON line per request, to the file (rotated by
                        size) or to stderr without one          [default: off]
  --encryption-master-key-file <file>
                        the master key of SSE-S3 (a file of 32 bytes, raw or
                        base64) [env: ${CLI_ENV["encryption-master-key-file"]}]
                        [default: generated beside the data]
  --allow-ssec-over-http
                        accept SSE-C keys over plain HTTP (AWS refuses them):
                        for local testing only                  [default: off]
  --lifecycle-day-seconds <n>
                        seconds in a lifecycle day; a test setting: rules'
                        days count in this unit                 [default: 86400]
  --lifecycle-scan-seconds <n>
                        seconds between two lifecycle passes    [default: 3600]
  --import <bucket=folder>
                        put the files under the folder into the bucket after
                        start (the bucket is created if needed); repeatable
  --tls-self-signed     serve HTTPS with a generated certificate (localhost, 127.0.0.1, ::1)
  --tls-cert <file>     serve HTTPS with this PEM certificate (chain allowed); needs --tls-key
  --tls-key <file>      PEM private key for --tls-cert
  --tls-port <n>        serve HTTPS on this port and keep --port plain HTTP
                        (without it, --port speaks HTTPS only; needs a --tls-* source)
  --cluster             cluster mode (experimental): erasure-code objects over
                        the --drive folders; needs --drive
  --drive <path>        a drive folder of cluster mode, one per disk
                        (repeatable; with --cluster)
  --data-shards <k>     data shards per object (with --parity-shards; their sum
                        is the drive count) [default: from the drive count]
  --parity-shards <m>   parity shards per object: drives that may be lost
                        (with --data-shards)
  --quic-port <n>       QUIC port of the node with --cluster (0 = a free one)
                        [env: ${CLI_ENV["quic-port"]}] [default: ${CLI_DEFAULTS.quicPort}]
  --node-id <id>        node id with --cluster
                        [env: ${CLI_ENV["node-id"]}] [default: generated once and kept on the drives]
  --seed <host:port>    QUIC address of a node to join through (repeatable; with
                        --cluster and a secret; not finished: refused for now)
  --advertise <host>    the host other nodes reach this one at [default: --address]
  --cluster-secret <s>  shared secret of the cluster's nodes (16+ characters)
                        [env: ${CLI_ENV["cluster-secret"]}]
  --binary <path>       ruststorage binary to run (smartstorage only)
                                                                [default: lookup chain]
  --verbose             copy the engine's stderr to this terminal (smartstorage only)
  -h, --help            show this help
  -V, --version         show the version
`;

/** clap's `FalseyValueParser`, as `ruststorage serve` reads SMARTSTORAGE_LOG_REQUESTS. */
function envFlag(value: string | undefined): boolean {
  return value !== undefined && !["", "0", "n", "no", "f", "false", "off"].includes(value.trim().toLowerCase());
}

/**
 * Turns command-line arguments (and the `SMARTSTORAGE_*` environment variables) into a configuration.
 *
 * @param argv Arguments after the script name.
 * @param env The environment to read the flags' variables from; default: this process's.
 * @returns The configuration, or `"help"` / `"version"` when that was asked for.
 * @throws {SmartStorageError} `InvalidArguments` on an unknown flag or a bad value.
 */
export function parseCliArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): SmartStorageConfig | "help" | "version" {
  let flags;
  try {
    ({ values: flags } = parseArgs({
      // `--access-log` takes an optional file: without one, it is stderr ("").
      args: argv.map((a, i) => a === "--access-log" && (argv[i + 1] ?? "-").startsWith("-") ? "--access-log=" : a),
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        address: { type: "string" },
        directory: { type: "string" },
        region: { type: "string" },
        "access-key": { type: "string" },
        "secret-key": { type: "string" },
        auth: { type: "boolean" },
        "no-sigv2": { type: "boolean" },
        "max-connections": { type: "string" },
        "max-connections-per-client": { type: "string" },
        "clean-slate": { type: "boolean" },
        bucket: { type: "string", multiple: true },
        "no-fsync": { type: "boolean" },
        ephemeral: { type: "boolean" },
        "log-requests": { type: "boolean" },
        metrics: { type: "boolean" },
        "metrics-token": { type: "string" },
        "metrics-port": { type: "string" },
        "console-port": { type: "string" },
        "access-log": { type: "string" },
        "encryption-master-key-file": { type: "string" },
        "allow-ssec-over-http": { type: "boolean" },
        "lifecycle-day-seconds": { type: "string" },
        "lifecycle-scan-seconds": { type: "string" },
        import: { type: "string", multiple: true },
        "tls-self-signed": { type: "boolean" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "tls-port": { type: "string" },
        cluster: { type: "boolean" },
        drive: { type: "string", multiple: true },
        "data-shards": { type: "string" },
        "parity-shards": { type: "string" },
        "quic-port": { type: "string" },
        "node-id": { type: "string" },
        seed: { type: "string", multiple: true },
        advertise: { type: "string" },
        "cluster-secret": { type: "string" },
        binary: { type: "string" },
        verbose: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    }));
  } catch (err) {
    throw new SmartStorageError("InvalidArguments", (err as Error).message, { cause: err });
  }
  if (flags.help) return "help";
  if (flags.version) return "version";
  for (const pair of flags.import ?? []) splitImport(pair);
  const fromEnv = (flag: string) => {
    const value = env[CLI_ENV[flag]!];
    return value === undefined || value === "" ? undefined : value;
  };
  // A flag beats its environment variable.
  const values = {
    ...flags,
    port: flags.port ?? fromEnv("port"),
    address: flags.address ?? fromEnv("address"),
    directory: flags.directory ?? fromEnv("directory"),
    region: flags.region ?? fromEnv("region"),
    "access-key": flags["access-key"] ?? fromEnv("access-key"),
    "secret-key": flags["secret-key"] ?? fromEnv("secret-key"),
    "log-requests": flags["log-requests"] ?? envFlag(fromEnv("log-requests")),
    "metrics-token": flags["metrics-token"] ?? fromEnv("metrics-token"),
    "quic-port": flags["quic-port"] ?? fromEnv("quic-port"),
    "node-id": flags["node-id"] ?? fromEnv("node-id"),
    "cluster-secret": flags["cluster-secret"] ?? fromEnv("cluster-secret"),
    "encryption-master-key-file": flags["encryption-master-key-file"] ?? fromEnv("encryption-master-key-file"),
  };
  const port = values.port === undefined ? CLI_DEFAULTS.port : Number(values.port);
  if (values.port !== undefined && (values.port.trim() === "" || !Number.isInteger(port))) {
    throw new SmartStorageError("InvalidArguments", `--port must be an integer, got "${values.port}"`);
  }
  const accessKey = values["access-key"];
  const secretKey = values["secret-key"];
  if ((accessKey === undefined) !== (secretKey === undefined)) {
    throw new SmartStorageError("InvalidArguments", "--access-key and --secret-key go together");
  }
  // As for `ruststorage serve`: --ephemeral beats SMARTSTORAGE_DIRECTORY, not an explicit --directory.
  if (values.ephemeral && flags.directory !== undefined) {
    throw new SmartStorageError(
      "InvalidArguments",
      "--ephemeral serves a temporary folder: it cannot be used with --directory",
    );
  }
  const positive = (flag: "max-connections" | "max-connections-per-client" | "lifecycle-day-seconds" | "lifecycle-scan-seconds") => {
    const text = values[flag];
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() === "" || !Number.isInteger(n) || n < 1) {
      throw new SmartStorageError("InvalidArguments", `--${flag} must be a positive integer, got "${text}"`);
    }
    return n;
  };
  const limits: { maxConnections?: number; maxConnectionsPerClient?: number } = {};
  for (const [flag, key] of [["max-connections", "maxConnections"], ["max-connections-per-client", "maxConnectionsPerClient"]] as const) {
    const n = positive(flag);
    if (n !== undefined) limits[key] = n;
  }
  const lifecycle: { dayLengthSeconds?: number; scanIntervalSeconds?: number } = {};
  for (const [flag, key] of [["lifecycle-day-seconds", "dayLengthSeconds"], ["lifecycle-scan-seconds", "scanIntervalSeconds"]] as const) {
    const n = positive(flag);
    if (n !== undefined) lifecycle[key] = n;
  }
  const tls = tlsFromArgs(values);
  const ephemeral = values.ephemeral ?? false;
  const cluster = clusterFromArgs(values);
  if (cluster !== undefined && ephemeral) {
    throw new SmartStorageError("InvalidArguments", "--ephemeral serves one temporary folder: it cannot be used with --cluster");
  }
  if ((flags["metrics-token"] !== undefined || values["metrics-port"] !== undefined) && !values.metrics) {
    throw new SmartStorageError("InvalidArguments", "--metrics-token and --metrics-port need --metrics");
  }
  const metricsPortText = values["metrics-port"];
  const metricsPort = metricsPortText === undefined ? undefined : Number(metricsPortText);
  if (metricsPort !== undefined && (metricsPortText!.trim() === "" || !Number.isInteger(metricsPort))) {
    throw new SmartStorageError("InvalidArguments", `--metrics-port must be an integer, got "${metricsPortText}"`);
  }
  const metrics = values.metrics
    ? {
      ...(values["metrics-token"] !== undefined ? { bearerToken: values["metrics-token"] } : {}),
      ...(metricsPort !== undefined ? { port: metricsPort } : {}),
    }
    : undefined;
  const consolePortText = values["console-port"];
  const consolePort = consolePortText === undefined ? undefined : Number(consolePortText);
  if (consolePort !== undefined && (consolePortText!.trim() === "" || !Number.isInteger(consolePort))) {
    throw new SmartStorageError("InvalidArguments", `--console-port must be an integer, got "${consolePortText}"`);
  }
  const accessLogPath = values["access-log"];
  const masterKeyFile = values["encryption-master-key-file"];
  const encryption = masterKeyFile !== undefined || values["allow-ssec-over-http"]
    ? {
      ...(masterKeyFile !== undefined ? { masterKeyFile } : {}),
      ...(values["allow-ssec-over-http"] ? { allowSseCOverHttp: true } : {}),
    }
    : undefined;
  return {
    server: {
      port,
      ...limits,
      ...(values.address !== undefined ? { address: values.address } : {}),
      ...(values.region !== undefined ? { region: values.region } : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...(values["log-requests"] ? { logRequests: true } : {}),
      ...(metrics !== undefined ? { metrics } : {}),
      ...(consolePort !== undefined ? { console: { port: consolePort } } : {}),
      ...(accessLogPath !== undefined ? { accessLog: accessLogPath === "" ? {} : { path: accessLogPath } } : {}),
    },
    storage: {
      ...(values.directory !== undefined && !ephemeral ? { directory: values.directory } : {}),
      cleanSlate: values["clean-slate"] ?? false,
      // --ephemeral: a throw-away folder is not worth an fsync per write.
      ...(values["no-fsync"] || ephemeral ? { fsync: false } : {}),
    },
    auth: {
      // Keys imply auth, as for `ruststorage serve`: giving a secret and not checking it would be a trap.
      enabled: values.auth ?? accessKey !== undefined,
      ...(values["no-sigv2"] ? { sigV2: false } : {}),
      ...(accessKey !== undefined && secretKey !== undefined
        ? { credentials: [{ accessKeyId: accessKey, secretAccessKey: secretKey }] }
        : {}),
    },
    ...(ephemeral ? { ephemeral: true } : {}),
    ...(values.bucket !== undefined ? { buckets: [...values.bucket] } : {}),
    ...(cluster !== undefined ? { cluster } : {}),
    ...(encryption !== undefined ? { encryption } : {}),
    ...(Object.keys(lifecycle).length > 0 ? { lifecycle } : {}),
    ...(values.binary !== undefined ? { binaryPath: values.binary } : {}),
    verbose: values.verbose ?? false,
  };
}

/**
 * `--cluster`, `--drive`, `--data-shards`, `--parity-shards`, `--quic-port`, `--node-id`,
 * `--seed`, `--advertise`, `--cluster-secret`, as `ruststorage serve` reads them.
 */
function clusterFromArgs(values: {
  cluster?: boolean;
  drive?: string[];
  "data-shards"?: string;
  "parity-shards"?: string;
  "quic-port"?: string;
  "node-id"?: string;
  seed?: string[];
  advertise?: string;
  "cluster-secret"?: string;
}): ClusterConfig | undefined {
  const drives = values.drive ?? [];
  const data = values["data-shards"];
  const parity = values["parity-shards"];
  if (!values.cluster) {
    const flags = [
      ["drive", drives.length > 0],
      ["data-shards", data !== undefined],
      ["parity-shards", parity !== undefined],
      ["seed", (values.seed ?? []).length > 0],
      ["advertise", values.advertise !== undefined],
    ] as const;
    for (const [flag, given] of flags) {
      if (given) throw new SmartStorageError("InvalidArguments", `--${flag} needs --cluster`);
    }
    // --quic-port, --node-id and --cluster-secret (and their variables) only matter with --cluster.
    return undefined;
  }
  if (drives.length === 0) {
    throw new SmartStorageError("InvalidArguments", "--cluster needs its drive folders: --drive PATH (repeatable)");
  }
  if ((data === undefined) !== (parity === undefined)) {
    throw new SmartStorageError("InvalidArguments", "--data-shards and --parity-shards go together");
  }
  const integer = (flag: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
      throw new SmartStorageError("InvalidArguments", `--${flag} must be an integer from ${min} to ${max}, got "${text}"`);
    }
    return n;
  };
  const quicText = values["quic-port"];
  const out: ClusterConfig = {
    enabled: true,
    drives: [...drives],
    quicPort: quicText === undefined ? CLI_DEFAULTS.quicPort : integer("quic-port", quicText, 0, 65535),
  };
  if (data !== undefined && parity !== undefined) {
    out.erasure = {
      dataShards: integer("data-shards", data, 1, 16),
      parityShards: integer("parity-shards", parity, 1, 16),
    };
  }
  if (values["node-id"] !== undefined) out.nodeId = values["node-id"];
  if (values.seed !== undefined) out.seedNodes = [...values.seed];
  if (values.advertise !== undefined) out.advertiseAddress = values.advertise;
  if (values["cluster-secret"] !== undefined) out.secret = values["cluster-secret"];
  return out;
}

/** One `--import BUCKET=FOLDER`. */
export interface CliImport {
  bucket: string;
  folder: string;
}

function splitImport(pair: string): CliImport {
  const at = pair.indexOf("=");
  if (at <= 0 || at === pair.length - 1) {
    throw new SmartStorageError("InvalidArguments", `--import takes BUCKET=FOLDER, got "${pair}"`);
  }
  return { bucket: pair.slice(0, at), folder: pair.slice(at + 1) };
}

/**
 * The `--import BUCKET=FOLDER` flags, in order (after {@link parseCliArgs} has accepted `argv`).
 *
 * @param argv Arguments after the script name.
 * @returns The bucket and folder of each `--import`.
 * @throws {SmartStorageError} `InvalidArguments` on a value without `=`.
 */
export function parseCliImports(argv: string[]): CliImport[] {
  const { values } = parseArgs({ args: argv, strict: false, options: { import: { type: "string", multiple: true } } });
  return ((values.import ?? []) as (string | boolean)[]).map((pair) => splitImport(String(pair)));
}

/** Whether `address` only accepts connections from this machine. */
export function isLoopback(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare) ||
    /^::ffff:127\.\d+\.\d+\.\d+$/.test(bare);
}

function tlsFromArgs(values: {
  "tls-self-signed"?: boolean;
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-port"?: string;
}): TlsConfig | undefined {
  const selfSigned = values["tls-self-signed"] ?? false;
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  const portText = values["tls-port"];
  if ((cert === undefined) !== (key === undefined)) {
    throw new SmartStorageError("InvalidArguments", "--tls-cert and --tls-key go together");
  }
  if (selfSigned && cert !== undefined) {
    throw new SmartStorageError("InvalidArguments", "use either --tls-self-signed or --tls-cert/--tls-key, not both");
  }
  if (!selfSigned && cert === undefined) {
    if (portText !== undefined) {
      throw new SmartStorageError("InvalidArguments", "--tls-port needs --tls-self-signed or --tls-cert/--tls-key");
    }
    return undefined;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (portText.trim() === "" || !Number.isInteger(port)) {
      throw new SmartStorageError("InvalidArguments", `--tls-port must be an integer, got "${portText}"`);
    }
  }
  const material = selfSigned ? { selfSigned: true as const } : { certPath: cert!, keyPath: key! };
  return port === undefined ? material : { ...material, port };
}

/**
 * `smartstorage decommission --via HOST:PORT --node ID`: the engine's own subcommand
 * (`ruststorage decommission`), which asks a node of a running cluster over QUIC to
 * move a node's data off it and remove it; its output and exit code are passed on.
 *
 * @param args Arguments after `decommission`.
 * @returns The exit code.
 */
async function decommission(args: string[]): Promise<number> {
  let binary: string;
  try {
    binary = await resolveBinaryAsync();
  } catch (err) {
    console.error(`smartstorage: ${(err as Error).message}`);
    return 1;
  }
  const child = spawnChild(binary, { args: ["decommission", ...args] });
  await child.stdin.close();
  const [out, err, exit] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (out !== "") process.stdout.write(out);
  if (err !== "") process.stderr.write(err);
  return exit.code ?? 1;
}

/**
 * Runs the command: starts the server, prints where it is, stops on SIGINT/SIGTERM.
 *
 * @param argv Arguments after the script name.
 * @returns The exit code.
 */
export async function runCli(argv: string[]): Promise<number> {
  if (argv[0] === "decommission") return await decommission(argv.slice(1));
  let config: SmartStorageConfig | "help" | "version";
  try {
    config = parseCliArgs(argv);
  } catch (err) {
    console.error(`smartstorage: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (config === "help") {
    console.log(USAGE);
    return 0;
  }
  if (config === "version") {
    console.log(`smartstorage ${VERSION}`);
    return 0;
  }

  let storage: SmartStorage;
  try {
    storage = await SmartStorage.createAndStart(config);
  } catch (err) {
    console.error(`smartstorage: could not start: ${(err as Error).message}`);
    return 1;
  }

  // Stop cleanly on Ctrl-C / SIGTERM; a second signal exits at once.
  // Set up before the banner, so that a signal sent as soon as it shows is handled.
  let signalled = false;
  const onSignal = (signal: string) => {
    if (signalled) process.exit(130);
    signalled = true;
    console.log(`\nsmartstorage: ${signal} received, stopping...`);
    void storage.stop();
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  const s3 = await storage.getS3Descriptor();
  const info = storage.info!;
  const plainHttp = info.tlsPort !== null && info.tlsPort !== undefined
    ? [`  plain HTTP:  http://${s3.endpoint.includes(":") ? `[${s3.endpoint}]` : s3.endpoint}:${info.port}`]
    : [];
  const selfSigned = typeof config.server?.tls === "object" && "selfSigned" in config.server.tls;
  const certificate = s3.caCertificatePem !== undefined && selfSigned
    ? [`  certificate: self-signed; trust exactly this PEM (e.g. curl --cacert):`, s3.caCertificatePem.trimEnd()]
    : s3.caCertificatePem !== undefined
    ? [`  certificate: ${(config.server?.tls as { certPath: string }).certPath}`]
    : [];
  // The keys printed are the accepted ones (given, or generated for --auth); with auth off nothing checks them.
  const auth = storage.config.engine.auth.enabled
    ? "on (SigV4 required)"
    : "off (any key pair is accepted; the keys above are placeholders)";
  console.log(
    [
      `smartstorage ${storage.engineVersion ?? ""} is serving S3`,
      `  endpoint:    ${storage.endpointUrl}`,
      ...plainHttp,
      `  region:      ${s3.region}`,
      `  directory:   ${info.directory}${config.ephemeral ? " (ephemeral: removed at exit; fsync off)" : ""}`,
      `  access key:  ${s3.accessKey}`,
      `  secret key:  ${s3.accessSecret}`,
      `  auth:        ${auth}`,
      ...(info.metricsPort !== undefined
        ? [`  metrics:     ${s3.useSsl ? "https" : "http"}://${info.address}:${info.metricsPort}/metrics`]
        : config.server?.metrics !== undefined
        ? [`  metrics:     ${storage.endpointUrl}/metrics`]
        : []),
      ...(info.consolePort !== undefined
        ? [`  console:     ${info.certificatePem !== null ? "https" : "http"}://${info.address}:${info.consolePort}/_console/`]
        : []),
      ...(info.quicPort !== undefined
        ? [`  cluster:     ${config.cluster?.drives.length ?? 0} drives; QUIC port ${info.quicPort} (experimental)`]
        : []),
      ...certificate,
      `Press Ctrl-C to stop.`,
    ].join("\n"),
  );
  if (!storage.config.engine.auth.enabled && !isLoopback(info.address)) {
    console.error(
      `smartstorage: warning: listening on ${info.address} with auth off: anyone who can reach this address ` +
        `can read, change and delete every object. Use --access-key/--secret-key or --auth, or bind 127.0.0.1.`,
    );
  }

  for (const { bucket, folder } of parseCliImports(argv)) {
    try {
      await storage.ensureBucket(bucket);
      const { imported, bytes } = await storage.importFolder(bucket, folder);
      console.log(`smartstorage: imported ${imported} files (${bytes} bytes) from ${folder} into bucket ${bucket}`);
    } catch (err) {
      console.error(`smartstorage: --import ${bucket}=${folder}: ${(err as Error).message}`);
      await storage.stop();
      return 1;
    }
  }

  const reason = await storage.waitUntilEnded();
  await storage.stop();
  // A stop we asked for (a signal, or stop() itself): a clean end.
  if (signalled || (reason instanceof SmartStorageError && reason.code === "Stopped")) {
    console.log("smartstorage: stopped");
    return 0;
  }
  console.error(`smartstorage: the engine ended: ${reason.message}`);
  return 1;
}
