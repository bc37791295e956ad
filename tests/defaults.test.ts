/**
 * The two command lines share their defaults: `smartstorage` (src/cli.ts, on top of
 * src/config.ts) and the engine's own `ruststorage serve` (rust/src/config.rs). The
 * engine's placeholder pair for auth off is the module's too.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { resolveBinary } from "../src/binary.ts";
import { CLI_DEFAULTS, CLI_ENV, HOST_ONLY_FLAGS, USAGE } from "../src/cli.ts";
import { DEFAULT_CREDENTIAL, DEFAULTS } from "../src/config.ts";
import { EngineBridge } from "../src/engine_bridge.ts";
import { spawnChild } from "../src/spawn.ts";
import { VERSION } from "../src/version.ts";
import { describe, it } from "./harness.ts";

/** `--flag` -> its `[default: ...]`, from a help text with one option per block. */
function helpDefaults(help: string): Map<string, string> {
  const defaults = new Map<string, string>();
  let flag: string | undefined;
  for (const line of help.split("\n")) {
    const option = /^\s+(?:-\w, )?--([\w-]+)/.exec(line);
    if (option) flag = option[1];
    else if (!/^\s/.test(line)) flag = undefined;
    const value = /\[default: ([^\]]+)\]/.exec(line)?.[1];
    if (flag !== undefined && value !== undefined) defaults.set(flag, value);
  }
  return defaults;
}

/** `--flag` -> its environment variable (or `undefined`), for every flag of a help text. */
function helpFlags(help: string): Map<string, string | undefined> {
  const flags = new Map<string, string | undefined>();
  let flag: string | undefined;
  for (const line of help.split("\n")) {
    const option = /^\s+(?:-\w, )?--([\w-]+)/.exec(line);
    if (option) {
      flag = option[1]!;
      flags.set(flag, undefined);
    } else if (!/^\s/.test(line)) flag = undefined;
    // clap writes `[env: NAME=]` (the value after `=`), the TypeScript CLI `[env: NAME]`.
    const env = /\[env: (\w+)[=\]]/.exec(line)?.[1];
    if (flag !== undefined && env !== undefined) flags.set(flag, env);
  }
  return flags;
}

async function engineServeHelp(): Promise<string> {
  return await engineServe(["--help"]);
}

async function engineServe(extraArgs: string[]): Promise<string> {
  // Without the engine's env overrides, so that only the built-in defaults show.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith("SMARTSTORAGE_")),
  ) as Record<string, string>;
  const child = spawnChild(resolveBinary(), { args: ["serve", ...extraArgs], env });
  await child.stdin.close();
  const [out, err, exit] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  assert.equal(exit.code, 0, err);
  return out;
}

describe("shared defaults", () => {
  it("ruststorage serve --help states the defaults of smartstorage --help", async () => {
    const engine = helpDefaults(await engineServeHelp());
    const cli = helpDefaults(USAGE);
    const expected = {
      port: String(CLI_DEFAULTS.port),
      address: CLI_DEFAULTS.address,
      directory: CLI_DEFAULTS.directory,
      region: CLI_DEFAULTS.region,
      "quic-port": String(CLI_DEFAULTS.quicPort),
    };
    for (const [flag, value] of Object.entries(expected)) {
      assert.equal(engine.get(flag), value, `ruststorage serve --${flag}`);
      assert.equal(cli.get(flag), value, `smartstorage --${flag}`);
    }
    // Every other flag both commands have and give a default for agrees as well.
    const shared = [...cli.keys()].filter((flag) => engine.has(flag));
    assert.ok(shared.includes("max-connections-per-client"), `shared flags: ${shared.join(", ")}`);
    for (const flag of shared) assert.equal(cli.get(flag), engine.get(flag), `--${flag}`);
  });

  it("both commands have the same flags, with the same environment variables", async () => {
    const engine = helpFlags(await engineServeHelp());
    const cli = helpFlags(USAGE);
    const cliForEngine = [...cli.keys()].filter((flag) => !HOST_ONLY_FLAGS.includes(flag));
    assert.deepEqual([...engine.keys()].sort(), cliForEngine.sort(), "the flags of both --help texts");
    for (const [flag, env] of engine) assert.equal(cli.get(flag), env, `the environment variable of --${flag}`);
    assert.deepEqual(Object.fromEntries([...cli].filter(([, env]) => env !== undefined)), { ...CLI_ENV });
    for (const [flag, env] of Object.entries({
      port: "SMARTSTORAGE_PORT",
      address: "SMARTSTORAGE_ADDRESS",
      directory: "SMARTSTORAGE_DIRECTORY",
      "access-key": "SMARTSTORAGE_ACCESS_KEY",
      "secret-key": "SMARTSTORAGE_SECRET_KEY",
      "log-requests": "SMARTSTORAGE_LOG_REQUESTS",
      "quic-port": "SMARTSTORAGE_QUIC_PORT",
      "node-id": "SMARTSTORAGE_NODE_ID",
    })) {
      assert.equal(engine.get(flag), env, `ruststorage serve --${flag}`);
    }
    for (
      const flag of [
        "no-fsync",
        "ephemeral",
        "version",
        "log-requests",
        "auth",
        "access-key",
        "cluster",
        "drive",
        "data-shards",
        "parity-shards",
        "quic-port",
        "node-id",
      ]
    ) {
      assert.ok(cli.has(flag) && engine.has(flag), `both have --${flag}`);
    }
  });

  it("ruststorage serve --version states the package's version", async () => {
    assert.equal((await engineServe(["--version"])).trim(), `ruststorage ${VERSION}`);
  });

  it("the CLI's folder, address and region are the module's defaults", () => {
    assert.equal(CLI_DEFAULTS.directory, DEFAULTS.storage.directory);
    assert.equal(CLI_DEFAULTS.address, DEFAULTS.server.address);
    assert.equal(CLI_DEFAULTS.region, DEFAULTS.server.region);
  });

  it("with auth off and no credentials the engine holds the module's placeholder pair", async () => {
    const dir = await mkdtemp(join(tmpdir(), "smartstorage-defaults-"));
    const bridge = await EngineBridge.launch({ binary: resolveBinary(), requestTimeoutMs: 10_000, readyTimeoutMs: 10_000 });
    try {
      await bridge.request("start", {
        config: {
          server: { address: "127.0.0.1", port: 0, region: "us-east-1" },
          storage: { directory: dir, cleanSlate: false, fsync: false },
          auth: { enabled: false, credentials: [] },
        },
      });
      assert.deepEqual(await bridge.request("listCredentials", {}), [{ ...DEFAULT_CREDENTIAL }]);
    } finally {
      await bridge.shutdown(5_000);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
