/**
 * The `cluster` option (src/config.ts) and the cluster flags of `smartstorage`
 * (src/cli.ts): what reaches the engine, and the clear errors for bad values. The
 * engine's own checks (rust/src/cluster/geometry.rs, format.rs) have their unit tests;
 * the last group runs `ruststorage serve` with bad cluster flags.
 */

import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { resolveBinary } from "../src/binary.ts";
import { CLI_DEFAULTS, parseCliArgs } from "../src/cli.ts";
import { resolveConfig, type SmartStorageConfig } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";
import { checkShape, PARAMS_SHAPES, RESULT_SHAPES } from "../src/protocol.ts";
import { spawnChild } from "../src/spawn.ts";
import { describe, it } from "./harness.ts";

const FOUR = ["/mnt/d1", "/mnt/d2", "/mnt/d3", "/mnt/d4"];
const SECRET = "the secret of a test cluster";

/** The ConfigError message of resolving `config` (fails when it resolves). */
function refusal(config: unknown): string {
  try {
    resolveConfig(config as SmartStorageConfig, "/work");
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(config)}`);
}

describe("cluster config", () => {
  it("passes drives (made absolute), geometry, QUIC port and node id to the engine", () => {
    const r = resolveConfig({
      cluster: {
        enabled: true,
        drives: ["d1", "./d2", "/mnt/d3", "../d4"],
        erasure: { dataShards: 2, parityShards: 2 },
        quicPort: 4348,
        nodeId: "node-1",
      },
    }, "/work/here");
    assert.deepEqual(r.engine.cluster, {
      enabled: true,
      drives: ["/work/here/d1", "/work/here/d2", "/mnt/d3", "/work/d4"],
      erasure: { dataShards: 2, parityShards: 2 },
      quicPort: 4348,
      nodeId: "node-1",
    });
    // What is sent is what the protocol's start params allow.
    assert.deepEqual(checkShape({ config: r.engine }, PARAMS_SHAPES.start), []);
  });

  it("defaults: enabled, quicPort 0 (a free one), no erasure and no nodeId (the engine's defaults)", () => {
    const r = resolveConfig({ cluster: { drives: FOUR } });
    assert.deepEqual(r.engine.cluster, { enabled: true, drives: FOUR, quicPort: 0 });
    assert.equal(resolveConfig({}).engine.cluster, undefined, "standalone without cluster");
  });

  it("enabled: false is standalone (nothing is sent), but the section is still checked", () => {
    assert.equal(resolveConfig({ cluster: { enabled: false, drives: FOUR } }).engine.cluster, undefined);
    assert.match(refusal({ cluster: { enabled: false, drives: [] } }), /at least 2/);
  });

  it("refuses unknown keys with a suggestion", () => {
    assert.equal(
      refusal({ cluster: { drive: FOUR } }),
      "unknown key cluster.drive; did you mean cluster.drives?",
    );
    assert.equal(
      refusal({ cluster: { drives: FOUR, quicport: 1 } }),
      "unknown key cluster.quicport; did you mean cluster.quicPort?",
    );
    assert.equal(
      refusal({ cluster: { drives: FOUR, erasure: { dataShards: 2, parity: 2 } } }),
      "unknown key cluster.erasure.parity; did you mean cluster.erasure.parityShards?",
    );
    assert.equal(refusal({ clustr: { drives: FOUR } }), "unknown key clustr; did you mean cluster?");
    assert.match(refusal({ cluster: { drives: FOUR, dataShards: 2 } }), /unknown key cluster\.dataShards; did you mean cluster\.erasure\.dataShards\?/);
  });

  it("refuses bad types with sentences naming the field", () => {
    const cases: [unknown, RegExp][] = [
      ["yes", /^cluster must be an object, got a string/],
      [[FOUR], /^cluster must be an object, got an array/],
      [{ enabled: "true", drives: FOUR }, /^cluster\.enabled must be a boolean, got a string/],
      [{ drives: "/mnt/d1" }, /^cluster\.drives must be an array of drive folders, got a string/],
      [{}, /^cluster\.drives must be an array/],
      [{ drives: ["/mnt/d1", 2] }, /^cluster\.drives\[1\] must be a non-empty path, got a number/],
      [{ drives: ["/mnt/d1", "  "] }, /^cluster\.drives\[1\] must be a non-empty path, got a string/],
      [{ drives: FOUR, erasure: "2+2" }, /^cluster\.erasure must be an object, got a string/],
      [{ drives: FOUR, erasure: { dataShards: 2 } }, /^cluster\.erasure\.parityShards must be a positive integer, got nothing/],
      [{ drives: FOUR, erasure: { dataShards: 2.5, parityShards: 1.5 } }, /^cluster\.erasure\.dataShards must be a positive integer, got 2\.5/],
      [{ drives: FOUR, erasure: { dataShards: 4, parityShards: 0 } }, /^cluster\.erasure\.parityShards must be a positive integer, got 0/],
      [{ drives: FOUR, quicPort: "4348" }, /^cluster\.quicPort must be an integer from 0 to 65535/],
      [{ drives: FOUR, quicPort: 70000 }, /^cluster\.quicPort must be an integer from 0 to 65535 \(0 picks a free port\), got 70000/],
      [{ drives: FOUR, nodeId: 7 }, /^cluster\.nodeId must be 1 to 64 letters/],
      [{ drives: FOUR, nodeId: "node 1" }, /^cluster\.nodeId must be 1 to 64 letters, digits/],
      [{ drives: FOUR, nodeId: "" }, /^cluster\.nodeId must be/],
      [{ drives: FOUR, seedNodes: "10.0.0.2:4348" }, /^cluster\.seedNodes must be an array of "host:port"/],
      [{ drives: FOUR, seedNodes: ["10.0.0.2"] }, /^cluster\.seedNodes must be an array of "host:port"/],
      [{ drives: FOUR, seedNodes: ["10.0.0.2:0"] }, /^cluster\.seedNodes must be an array/],
      [{ drives: FOUR, seedNodes: ["10.0.0.2:4348"] }, /^cluster\.seedNodes needs cluster\.secret/],
      [{ drives: FOUR, advertiseAddress: " " }, /^cluster\.advertiseAddress must be a host name or address/],
      [{ drives: FOUR, secret: "short" }, /^cluster\.secret must be a string of at least 16 characters/],
      [{ drives: FOUR, secret: 1234567890123456 }, /^cluster\.secret must be a string/],
    ];
    for (const [cluster, expected] of cases) assert.match(refusal({ cluster }), expected, JSON.stringify(cluster));
  });

  it("refuses bad geometry before the engine starts", () => {
    assert.match(refusal({ cluster: { drives: [] } }), /at least 2 drive folders \(got 0\)/);
    assert.match(refusal({ cluster: { drives: ["/mnt/d1"] } }), /at least 2 drive folders \(got 1\); one folder is standalone mode/);
    const seventeen = Array.from({ length: 17 }, (_, i) => `/mnt/d${i}`);
    assert.match(refusal({ cluster: { drives: seventeen } }), /17 folders; one erasure set holds at most 16/);
    assert.match(
      refusal({ cluster: { drives: FOUR, erasure: { dataShards: 2, parityShards: 1 } } }),
      /2\+1 = 3 shards, but cluster\.drives lists 4 folders: dataShards \+ parityShards must equal the drive count/,
    );
    assert.match(
      refusal({ cluster: { drives: FOUR, erasure: { dataShards: 1, parityShards: 3 } } }),
      /parityShards \(3\) must not exceed dataShards \(1\)/,
    );
  });

  it("refuses duplicate and nested drive folders, also spelled differently", () => {
    assert.match(
      refusal({ cluster: { drives: ["/mnt/d1", "/mnt/d2", "/mnt/x/../d1", "/mnt/d4"] } }),
      /cluster\.drives\[0\] and cluster\.drives\[2\] are the same folder: \/mnt\/d1/,
    );
    assert.match(refusal({ cluster: { drives: ["d1", "/work/d1"] } }), /same folder: \/work\/d1/);
    assert.match(
      refusal({ cluster: { drives: ["/mnt/d1/inner", "/mnt/d2", "/mnt/d1"] } }),
      /nested: \/mnt\/d1\/inner is inside \/mnt\/d1/,
    );
    // A common prefix is not nesting.
    assert.equal(resolveConfig({ cluster: { drives: ["/mnt/d1", "/mnt/d10"] } }).engine.cluster?.drives.length, 2);
  });

  it("refuses cluster with ephemeral (one temporary folder)", () => {
    assert.match(refusal({ ephemeral: true, cluster: { drives: FOUR } }), /cluster cannot be used with ephemeral/);
  });

  it("the start result may carry quicPort, and both getClusterHealth shapes are typed", () => {
    const start = {
      address: "127.0.0.1",
      port: 1,
      tlsPort: null,
      useSsl: false,
      certificatePem: null,
      region: "us-east-1",
      directory: "/d",
    };
    assert.deepEqual(checkShape(start, RESULT_SHAPES.start), []);
    assert.deepEqual(checkShape({ ...start, quicPort: 4348 }, RESULT_SHAPES.start), []);
    assert.notDeepEqual(checkShape({ ...start, quicPort: "4348" }, RESULT_SHAPES.start), []);
    assert.deepEqual(checkShape({ enabled: false, drives: [] }, RESULT_SHAPES.getClusterHealth), []);
    // A cluster report missing its parts fits neither form.
    assert.notDeepEqual(checkShape({ enabled: true, drives: [] , nodeId: "n" }, RESULT_SHAPES.getClusterHealth), []);
  });
});

describe("cluster flags of smartstorage", () => {
  it("--cluster --drive ... builds cluster, with the QUIC port default of ruststorage serve", () => {
    const config = parseCliArgs(["--cluster", "--drive", "/mnt/d1", "--drive", "/mnt/d2"], {});
    assert.ok(typeof config === "object");
    assert.deepEqual(config.cluster, { enabled: true, drives: ["/mnt/d1", "/mnt/d2"], quicPort: CLI_DEFAULTS.quicPort });
    assert.equal(CLI_DEFAULTS.quicPort, 4348);
    assert.equal(parseCliArgs([], {}) === "help" ? undefined : (parseCliArgs([], {}) as SmartStorageConfig).cluster, undefined);
  });

  it("every cluster flag, and the environment variables of --quic-port and --node-id", () => {
    const args = [
      "--cluster",
      ...FOUR.flatMap((d) => ["--drive", d]),
      "--data-shards",
      "3",
      "--parity-shards",
      "1",
      "--quic-port",
      "0",
      "--node-id",
      "node-a",
      "--seed",
      "10.0.0.2:4348",
      "--seed",
      "n3.example:4348",
      "--advertise",
      "10.0.0.1",
      "--cluster-secret",
      "a secret of sixteen+",
    ];
    const config = parseCliArgs(args, {
      SMARTSTORAGE_QUIC_PORT: "9999",
      SMARTSTORAGE_NODE_ID: "node-env",
      SMARTSTORAGE_CLUSTER_SECRET: "from the environment",
    });
    assert.ok(typeof config === "object");
    assert.deepEqual(config.cluster, {
      enabled: true,
      drives: FOUR,
      erasure: { dataShards: 3, parityShards: 1 },
      quicPort: 0,
      nodeId: "node-a",
      seedNodes: ["10.0.0.2:4348", "n3.example:4348"],
      advertiseAddress: "10.0.0.1",
      secret: "a secret of sixteen+",
    });
    const fromEnv = parseCliArgs(["--cluster", "--drive", "/a", "--drive", "/b"], {
      SMARTSTORAGE_QUIC_PORT: "9999",
      SMARTSTORAGE_NODE_ID: "node-env",
    });
    assert.ok(typeof fromEnv === "object");
    assert.deepEqual(fromEnv.cluster, { enabled: true, drives: ["/a", "/b"], quicPort: 9999, nodeId: "node-env" });
    const secretFromEnv = parseCliArgs(["--cluster", "--drive", "/a", "--drive", "/b"], {
      SMARTSTORAGE_CLUSTER_SECRET: "from the environment",
    });
    assert.ok(typeof secretFromEnv === "object");
    assert.equal(secretFromEnv.cluster?.secret, "from the environment");
    // The result passes the module's own checks.
    assert.equal(resolveConfig(config, "/").engine.cluster?.nodeId, "node-a");
  });

  it("refuses drive flags without --cluster, --cluster without drives, and bad numbers", () => {
    const refused = (args: string[], expected: RegExp) =>
      assert.throws(() => parseCliArgs(args, {}), (err: Error & { code?: string }) => {
        assert.equal(err.code, "InvalidArguments");
        assert.match(err.message, expected);
        return true;
      }, args.join(" "));
    refused(["--drive", "/a"], /--drive needs --cluster/);
    refused(["--data-shards", "2", "--parity-shards", "2"], /--data-shards needs --cluster/);
    refused(["--seed", "10.0.0.2:4348"], /--seed needs --cluster/);
    refused(["--advertise", "10.0.0.1"], /--advertise needs --cluster/);
    refused(["--cluster"], /--cluster needs its drive folders: --drive PATH/);
    refused(["--cluster", "--drive", "/a", "--drive", "/b", "--data-shards", "1"], /go together/);
    refused(["--cluster", "--drive", "/a", "--drive", "/b", "--quic-port", "x"], /--quic-port must be an integer from 0 to 65535/);
    refused(["--cluster", "--drive", "/a", "--drive", "/b", "--quic-port", "65536"], /--quic-port must be an integer/);
    refused(
      ["--cluster", "--drive", "/a", "--drive", "/b", "--data-shards", "0", "--parity-shards", "2"],
      /--data-shards must be an integer from 1 to 16/,
    );
    refused(["--cluster", "--drive", "/a", "--drive", "/b", "--ephemeral"], /cannot be used with --cluster/);
    // --quic-port and --node-id alone only matter with --cluster.
    const standalone = parseCliArgs(["--quic-port", "1"], { SMARTSTORAGE_NODE_ID: "x" });
    assert.ok(typeof standalone === "object" && standalone.cluster === undefined);
  });
});

/** `ruststorage serve ARGS` with no SMARTSTORAGE_* variables: exit code and stderr. */
async function serve(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith("SMARTSTORAGE_")),
  ) as Record<string, string>;
  const child = spawnChild(resolveBinary(), { args: ["serve", ...args], env });
  await child.stdin.close();
  const [, stderr, exit] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code: exit.code, stderr };
}

describe("cluster flags of ruststorage serve", () => {
  it("refuses bad cluster flags before anything is written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "smartstorage-cluster-flags-"));
    try {
      const d = (name: string) => join(dir, name);
      const drive = await serve(["--drive", d("a")]);
      assert.equal(drive.code, 2, drive.stderr);
      assert.match(drive.stderr, /--cluster/);
      const noDrives = await serve(["--cluster"]);
      assert.equal(noDrives.code, 2, noDrives.stderr);
      assert.match(noDrives.stderr, /--drive <PATH>/);
      const cases: [string[], RegExp][] = [
        [["--drive", d("a"), "--drive", d("a")], /same folder twice/],
        [["--drive", d("a"), "--drive", d("a/b")], /nested: .*a\/b is inside .*a/],
        [["--drive", d("a")], /at least 2 drives/],
        [["--drive", d("a"), "--drive", d("b"), "--data-shards", "2", "--parity-shards", "1"], /must equal the drive count/],
        [["--drive", d("a"), "--drive", d("b"), "--node-id", "bad id"], /cluster\.nodeId/],
        [["--drive", d("a"), "--drive", d("b"), "--cluster-secret", "short"], /at least 16 characters/],
        // Other nodes call this one: at a fixed port, at a reachable address.
        [["--drive", d("a"), "--drive", d("b"), "--cluster-secret", SECRET], /quicPort must be a fixed port/],
        [["--drive", d("a"), "--drive", d("b"), "--seed", "10.0.0.2:4348"], /seedNodes needs cluster\.secret/],
        [["--drive", d("a"), "--drive", d("b"), "--seed", "10.0.0.2"], /host:port/],
      ];
      for (const [args, expected] of cases) {
        const out = await serve(["--cluster", "--port", "0", "--quic-port", "0", ...args]);
        assert.equal(out.code, 1, `${args.join(" ")}: ${out.stderr}`);
        assert.match(out.stderr, expected, args.join(" "));
      }
      assert.deepEqual(await readdir(dir), [], "nothing was written");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
