/** Unit tests of the runtime-neutral pieces (no engine needed). */

import assert from "node:assert/strict";
import { detectRuntime } from "../src/runtime.ts";
import { LineSplitStream } from "../src/line_split_stream.ts";
import { DEFAULT_CREDENTIAL, resolveConfig } from "../src/config.ts";
import { EventHub } from "../src/event_hub.ts";
import { ConfigError, RequestTimeoutError, SmartStorageError } from "../src/errors.ts";
import { parseCliArgs } from "../src/cli.ts";
import { spawnChild } from "../src/spawn.ts";
import { describe, it } from "./harness.ts";

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

function streamOf(chunks: string[]): ReadableStream<string> {
  return new ReadableStream<string>({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

describe("units", () => {
  it("detectRuntime() names the runtime running the tests", () => {
    const g = globalThis as Record<string, unknown>;
    const expected = "Deno" in g ? "deno" : "Bun" in g ? "bun" : "node";
    assert.equal(detectRuntime(), expected);
  });

  it("LineSplitStream splits across chunks, drops empty lines and \\r", async () => {
    const lines = await collect(
      streamOf(['{"a":', "1}\n{\"b\"", ":2}\r\n\n", "tail"]).pipeThrough(new LineSplitStream()),
    );
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', "tail"]);
  });

  it("resolveConfig() applies every default", () => {
    const r = resolveConfig({}, "/work");
    assert.deepEqual(r.engine, {
      server: { address: "127.0.0.1", port: 0, region: "us-east-1" },
      storage: { directory: "/work/.nogit/smartstorage", cleanSlate: false, fsync: true },
      auth: { enabled: false, credentials: [{ ...DEFAULT_CREDENTIAL }] },
    });
    assert.equal(r.ephemeral, false);
    assert.equal(r.requestTimeoutMs, 30_000);
    assert.equal(r.stopTimeoutMs, 5_000);
  });

  it("resolveConfig() ephemeral preset: temp folder later, auth on, random keys; explicit values win", () => {
    const r = resolveConfig({ ephemeral: true });
    assert.equal(r.engine.storage.directory, "");
    assert.equal(r.engine.server.port, 0);
    assert.equal(r.engine.auth.enabled, true);
    assert.notEqual(r.engine.auth.credentials[0]!.accessKeyId, DEFAULT_CREDENTIAL.accessKeyId);
    const explicit = resolveConfig({ ephemeral: true, auth: { enabled: false }, storage: { directory: "/x" } });
    assert.equal(explicit.engine.auth.enabled, false);
    assert.equal(explicit.engine.storage.directory, "/x");
  });

  it("resolveConfig() auth on without credentials: a fresh random pair, never the placeholder", () => {
    const a = resolveConfig({ auth: { enabled: true } }).engine.auth.credentials;
    const b = resolveConfig({ auth: { enabled: true } }).engine.auth.credentials;
    assert.equal(a.length, 1);
    assert.notEqual(a[0]!.accessKeyId, DEFAULT_CREDENTIAL.accessKeyId);
    assert.notEqual(a[0]!.secretAccessKey, DEFAULT_CREDENTIAL.secretAccessKey);
    assert.match(a[0]!.secretAccessKey, /^[A-Za-z0-9]{40}$/);
    assert.notEqual(a[0]!.secretAccessKey, b[0]!.secretAccessKey);
    // Auth off keeps the placeholder (nothing is checked then).
    assert.deepEqual(resolveConfig({ auth: { enabled: false } }).engine.auth.credentials, [{ ...DEFAULT_CREDENTIAL }]);
  });

  it("resolveConfig() auth on with an explicit empty credential list is a ConfigError naming the field", () => {
    for (const config of [{ auth: { enabled: true, credentials: [] } }, { ephemeral: true, auth: { credentials: [] } }]) {
      assert.throws(() => resolveConfig(config), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, /auth\.credentials/);
        return true;
      });
    }
  });

  it("resolveConfig() rejects bad values with ConfigError", () => {
    const bad = [
      { server: { port: 70000 } },
      { server: { port: -1 } },
      { server: { address: "" } },
      { server: { region: "" } },
      { storage: { directory: "" } },
      { auth: { credentials: [] } },
      { auth: { credentials: [{ accessKeyId: "a", secretAccessKey: "" }] } },
      { requestTimeoutMs: 0 },
    ];
    for (const config of bad) {
      assert.throws(() => resolveConfig(config), ConfigError, JSON.stringify(config));
    }
  });

  it("EventHub.waitFor() resolves on a match, times out otherwise, and rejects on close", async () => {
    const hub = new EventHub<{ tick: { n: number } }>();
    const match = hub.waitFor("tick", (d) => d.n === 2);
    hub.emit("tick", { n: 1 });
    hub.emit("tick", { n: 2 });
    assert.deepEqual(await match, { n: 2 });
    await assert.rejects(hub.waitFor("tick", () => false, 20), RequestTimeoutError);
    const pending = hub.waitFor("tick");
    hub.close(new SmartStorageError("Stopped", "stopped"));
    await assert.rejects(pending, { code: "Stopped" });
    await assert.rejects(hub.waitFor("tick"), { code: "Stopped" });
  });

  it("EventHub.iterate() yields queued events and ends on close", async () => {
    const hub = new EventHub<{ a: number; b: number }>();
    const it = hub.iterate(["a"]);
    hub.emit("a", 1);
    hub.emit("b", 2);
    hub.emit("a", 3);
    hub.close(new Error("done"));
    const got: unknown[] = [];
    for await (const e of it) got.push(e);
    assert.deepEqual(got, [{ event: "a", data: 1 }, { event: "a", data: 3 }]);
  });

  it("EventHub.on() keeps delivering when a listener throws", () => {
    const hub = new EventHub<{ a: number }>();
    const seen: number[] = [];
    const originalError = console.error;
    console.error = () => {};
    try {
      hub.on("a", () => {
        throw new Error("boom");
      });
      hub.on("a", (n) => seen.push(n));
      hub.emit("a", 1);
    } finally {
      console.error = originalError;
    }
    assert.deepEqual(seen, [1]);
  });

  it("parseCliArgs() maps every flag", () => {
    const config = parseCliArgs([
      "--port", "9000", "--address", "0.0.0.0", "--directory", "/data", "--region", "eu-west-1",
      "--access-key", "AK", "--secret-key", "SK", "--auth", "--clean-slate",
    ]);
    assert.deepEqual(config, {
      server: { port: 9000, address: "0.0.0.0", region: "eu-west-1" },
      storage: { directory: "/data", cleanSlate: true },
      auth: { enabled: true, credentials: [{ accessKeyId: "AK", secretAccessKey: "SK" }] },
      verbose: false,
    });
    assert.equal(parseCliArgs(["--help"]), "help");
    assert.throws(() => parseCliArgs(["--port", "abc"]), { code: "InvalidArguments" });
    assert.throws(() => parseCliArgs(["--bogus"]), { code: "InvalidArguments" });
    assert.throws(() => parseCliArgs(["--access-key", "only"]), { code: "InvalidArguments" });
    const keysOnly = parseCliArgs(["--access-key", "AK", "--secret-key", "SK"]) as { auth: { enabled: boolean } };
    assert.equal(keysOnly.auth.enabled, true, "keys without --auth still turn auth on");
  });

  it("parseCliArgs() maps --no-sigv2 and --max-connections-per-client", () => {
    const config = parseCliArgs(["--auth", "--no-sigv2", "--max-connections-per-client", "64"]);
    assert.notEqual(config, "help");
    const c = config as { server: Record<string, unknown>; auth: Record<string, unknown> };
    assert.equal(c.server.maxConnectionsPerClient, 64);
    assert.equal(c.auth.sigV2, false);
    assert.equal((parseCliArgs([]) as { auth: Record<string, unknown> }).auth.sigV2, undefined);
    for (const bad of ["0", "-3", "x", ""]) {
      assert.throws(() => parseCliArgs(["--max-connections-per-client", bad]), { code: "InvalidArguments" });
    }
  });

  it("parseCliArgs() maps the --tls-* flags and refuses incomplete ones", () => {
    const tlsOf = (args: string[]) => {
      const config = parseCliArgs(args);
      assert.notEqual(config, "help");
      return (config as { server?: { tls?: unknown } }).server?.tls;
    };
    assert.deepEqual(tlsOf(["--tls-self-signed"]), { selfSigned: true });
    assert.deepEqual(tlsOf(["--tls-self-signed", "--tls-port", "0"]), { selfSigned: true, port: 0 });
    assert.deepEqual(tlsOf(["--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-port", "9443"]), {
      certPath: "c.pem",
      keyPath: "k.pem",
      port: 9443,
    });
    assert.equal(tlsOf([]), undefined);
    assert.throws(() => parseCliArgs(["--tls-cert", "c.pem"]), { code: "InvalidArguments" });
    assert.throws(() => parseCliArgs(["--tls-port", "9443"]), { code: "InvalidArguments" });
    assert.throws(() => parseCliArgs(["--tls-self-signed", "--tls-port", "x"]), { code: "InvalidArguments" });
    assert.throws(
      () => parseCliArgs(["--tls-self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"]),
      { code: "InvalidArguments" },
    );
  });

  it("resolveConfig() passes encryption through, paths made absolute, and checks its keys", () => {
    const key = "A".repeat(43) + "=";
    const resolved = resolveConfig({
      encryption: { masterKeyFile: "keys/master.key", kmsKeys: { app: key }, defaultKmsKeyId: "app", allowSseCOverHttp: true },
    }, "/srv");
    assert.deepEqual(resolved.engine.encryption, {
      masterKeyFile: "/srv/keys/master.key",
      kmsKeys: { app: key },
      defaultKmsKeyId: "app",
      allowSseCOverHttp: true,
    });
    assert.deepEqual(resolveConfig({ encryption: { masterKey: key } }).engine.encryption, { masterKey: key });
    assert.equal("encryption" in resolveConfig({}).engine, false, "no encryption field without the option");
    for (
      const bad of [
        { masterKey: "c2hvcnQ=" },
        { masterKey: key, masterKeyFile: "k" },
        { masterKeyFile: "" },
        { kmsKeys: { app: "not base64!" } },
        { kmsKeys: [] },
        { defaultKmsKeyId: "app" },
        { allowSseCOverHttp: "yes" },
        { allowSSECOverHttp: true },
      ]
    ) {
      assert.throws(() => resolveConfig({ encryption: bad as never }), ConfigError, JSON.stringify(bad));
    }
    // A message never holds a key.
    assert.throws(() => resolveConfig({ encryption: { masterKey: "secret-ish" } }), (e: Error) => !e.message.includes("secret-ish"));
  });

  it("parseCliArgs() maps --encryption-master-key-file (and its variable) and --allow-ssec-over-http", () => {
    const encryptionOf = (args: string[], env: Record<string, string> = {}) =>
      (parseCliArgs(args, env) as { encryption?: unknown }).encryption;
    assert.deepEqual(encryptionOf(["--encryption-master-key-file", "m.key", "--allow-ssec-over-http"]), {
      masterKeyFile: "m.key",
      allowSseCOverHttp: true,
    });
    assert.deepEqual(encryptionOf([], { SMARTSTORAGE_ENCRYPTION_MASTER_KEY_FILE: "/k" }), { masterKeyFile: "/k" });
    assert.deepEqual(encryptionOf(["--encryption-master-key-file", "a"], { SMARTSTORAGE_ENCRYPTION_MASTER_KEY_FILE: "/k" }), {
      masterKeyFile: "a",
    });
    assert.equal(encryptionOf([]), undefined);
  });

  it("resolveConfig() passes tls, cors and virtualHostDomains through and checks them", () => {
    const resolved = resolveConfig({
      server: {
        tls: { certPath: "certs/c.pem", keyPath: "/abs/k.pem", port: 0 },
        cors: { allowedOrigins: ["*"], allowedMethods: ["GET", "PUT"], exposeHeaders: ["ETag"], maxAgeSeconds: 600 },
        virtualHostDomains: ["localhost"],
      },
    }, "/srv");
    assert.deepEqual(resolved.engine.server, {
      address: "127.0.0.1",
      port: 0,
      region: "us-east-1",
      virtualHostDomains: ["localhost"],
      cors: { allowedOrigins: ["*"], allowedMethods: ["GET", "PUT"], exposeHeaders: ["ETag"], maxAgeSeconds: 600 },
      tls: { certPath: "/srv/certs/c.pem", keyPath: "/abs/k.pem", port: 0 },
    });
    assert.deepEqual(resolveConfig({ server: { tls: true } }).engine.server.tls, { selfSigned: true });
    assert.deepEqual(resolveConfig({ ephemeral: true, server: { tls: true } }).engine.server.tls, { selfSigned: true });
    assert.equal("tls" in resolveConfig({}).engine.server, false, "no tls field without TLS");
    assert.throws(() => resolveConfig({ server: { port: 9000, tls: { selfSigned: true, port: 9000 } } }), ConfigError);
    assert.throws(() => resolveConfig({ server: { cors: { allowedOrigins: [] } as never } }), ConfigError);
    assert.throws(() => resolveConfig({ server: { cors: { allowedOrigins: ["*"], allowedMethods: ["GET"], maxAge: 1 } as never } }), ConfigError);
    assert.throws(() => resolveConfig({ server: { virtualHostDomains: [""] } }), ConfigError);
    assert.throws(() => resolveConfig({ eventBufferSize: 0 }), ConfigError);
  });

  it("EventHub: an iterator holds at most maxQueued events and counts what it drops", async () => {
    const hub = new EventHub<{ tick: { n: number } }>({ maxQueued: 3 });
    for (let n = 0; n < 10; n++) hub.emit("tick", { n });
    assert.equal(hub.buffered, 0, "no consumer: nothing is buffered");
    assert.equal(hub.dropped, 0);
    const it = hub.iterate();
    for (let n = 0; n < 10; n++) hub.emit("tick", { n });
    assert.equal(hub.buffered, 3);
    assert.equal(hub.dropped, 7);
    const got: number[] = [];
    for (let i = 0; i < 3; i++) got.push(((await it.next()).value as { data: { n: number } }).data.n);
    assert.deepEqual(got, [0, 1, 2], "the consumer sees the oldest events, in order");
    hub.emit("tick", { n: 99 });
    assert.equal(((await it.next()).value as { data: { n: number } }).data.n, 99);
    await it.return?.(undefined);
    assert.equal(hub.buffered, 0, "a finished iterator releases its queue");
  });

  it("spawnChild() gives web streams and the exit code on this runtime", async () => {
    const child = spawnChild("/bin/sh", { args: ["-c", "read x; echo \"got $x\"; echo oops >&2; exit 4"] });
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("ping\n"));
    await writer.close();
    const [out, err, exit] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    assert.equal(out, "got ping\n");
    assert.equal(err, "oops\n");
    assert.deepEqual(exit, { code: 4, signal: null });
  });

  it("spawnChild() reports a signal and a missing executable", async () => {
    const child = spawnChild("/bin/sh", { args: ["-c", "exec sleep 30"] });
    const drained = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    child.kill("SIGKILL");
    assert.deepEqual(await child.exited, { code: null, signal: "SIGKILL" });
    await drained;
    await child.stdin.close().catch(() => {});

    let failed = false;
    try {
      const missing = spawnChild("/nonexistent/ruststorage", { args: [] });
      await missing.exited;
    } catch {
      failed = true;
    }
    assert.ok(failed, "spawning a missing binary fails");
  });
});
