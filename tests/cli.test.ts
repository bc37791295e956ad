/** The `smartstorage` command, run with the same runtime as the tests. */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { resolveBinary } from "../src/binary.ts";
import { detectRuntime } from "../src/runtime.ts";
import { VERSION } from "../src/version.ts";
import { spawnChild, type SpawnedChild } from "../src/spawn.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { ListBucketsCommand } from "@aws-sdk/client-s3";
import { assertS3Error, httpsStatusTrusting, PUBLISHED_PAIR, repoRoot, s3ClientAt } from "./helpers.ts";

/** The command line that runs the CLI on this runtime. */
function cliCommand(args: string[]): { command: string; args: string[] } {
  switch (detectRuntime()) {
    case "deno":
      return { command: process.execPath, args: ["run", "-A", join(repoRoot, "bin", "smartstorage.ts"), ...args] };
    case "bun":
      return { command: process.execPath, args: [join(repoRoot, "bin", "smartstorage.ts"), ...args] };
    case "node":
      return { command: process.execPath, args: [join(repoRoot, "dist", "bin", "smartstorage.js"), ...args] };
  }
}

function runCli(args: string[], env?: Record<string, string>): SpawnedChild {
  const { command, args: fullArgs } = cliCommand(args);
  return spawnChild(command, { args: fullArgs, cwd: repoRoot, ...(env ? { env: withEnv(env) } : {}) });
}

/** `ruststorage serve ...`, the engine's own command line. */
function runServe(args: string[], env: Record<string, string> = {}): SpawnedChild {
  return spawnChild(resolveBinary(), { args: ["serve", ...args], cwd: repoRoot, env: withEnv(env) });
}

/** This process's environment without SMARTSTORAGE_* settings (but the binary), plus `extra`. */
function withEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (!k.startsWith("SMARTSTORAGE_") || k === "SMARTSTORAGE_BINARY")) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Ends a CLI with SIGTERM; returns its exit and everything it wrote. */
async function terminate(
  child: SpawnedChild,
  stdout: Promise<string>,
  stderr: Promise<string>,
): Promise<{ exit: { code: number | null; signal: string | null }; out: string; err: string }> {
  child.kill("SIGTERM");
  const exit = await child.exited;
  await child.stdin.close().catch(() => {});
  return { exit, out: await stdout, err: await stderr };
}

/** Reads `stream` until `pattern` matches the text so far; returns the text. */
async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs = 30_000) {
  const reader = stream.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>)
    .getReader();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; got:\n${text}`)), timeoutMs);
  });
  try {
    while (!pattern.test(text)) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      text += value;
    }
  } finally {
    clearTimeout(timer);
  }
  // Keep draining in the background so the child never blocks on a full pipe.
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return { text, rest };
}

describe("smartstorage CLI", () => {
  let dir = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "smartstorage-cli-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("smartstorage --help prints the flags and exits 0", async () => {
    const child = runCli(["--help"]);
    await child.stdin.close();
    const [out, , exit] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    assert.equal(exit.code, 0);
    for (const flag of ["--port", "--address", "--directory", "--region", "--access-key", "--secret-key", "--auth", "--clean-slate"]) {
      assert.ok(out.includes(flag), `help mentions ${flag}`);
    }
  });

  it("smartstorage --version prints the package version and exits 0", async () => {
    for (const flag of ["--version", "-V"]) {
      const child = runCli([flag]);
      await child.stdin.close();
      const [out, , exit] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      assert.equal(exit.code, 0, flag);
      assert.equal(out.trim(), `smartstorage ${VERSION}`, flag);
    }
  });

  it("smartstorage with a bad flag exits 2 with a message", async () => {
    const child = runCli(["--port", "not-a-number"]);
    await child.stdin.close();
    const [, err, exit] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    assert.equal(exit.code, 2);
    assert.match(err, /--port must be an integer/);
  });

  it("smartstorage decommission passes the engine's answer on (no node there: exit 1 with why)", async () => {
    const secret = "a cluster secret of the test";
    const child = runCli(["decommission", "--via", "127.0.0.1:9", "--node", "n3", "--cluster-secret", secret]);
    await child.stdin.close();
    const [, err, exit] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    assert.equal(exit.code, 1, err);
    assert.match(err, /decommission n3: 127\.0\.0\.1:9/);
    const missing = runCli(["decommission", "--node", "n3"]);
    await missing.stdin.close();
    const [, usage, code] = await Promise.all([
      new Response(missing.stdout).text(),
      new Response(missing.stderr).text(),
      missing.exited,
    ]);
    assert.equal(code.code, 2, usage);
    assert.match(usage, /--via/);
  });

  it("smartstorage serves, prints endpoint and credentials, and stops cleanly on SIGTERM", async () => {
    const storageDir = join(dir, "data");
    const child = runCli([
      "--port", "0", "--directory", storageDir, "--access-key", "CLIKEY", "--secret-key", "CLISECRET", "--region", "eu-west-1",
    ]);
    const stderr = new Response(child.stderr).text();
    try {
      const { text, rest } = await readUntil(child.stdout, /Press Ctrl-C/);
      const endpoint = /endpoint:\s+(http:\/\/\S+)/.exec(text)?.[1];
      assert.ok(endpoint, `endpoint printed:\n${text}`);
      assert.match(text, /access key:\s+CLIKEY/);
      assert.match(text, /secret key:\s+CLISECRET/);
      assert.match(text, /region:\s+eu-west-1/);
      const res = await fetch(endpoint + "/");
      await res.body?.cancel();
      assert.ok(res.status < 500);
      assert.ok(existsSync(storageDir));
      child.kill("SIGTERM");
      const exit = await child.exited;
      assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}; stderr: ${await stderr}`);
      assert.match(await rest, /stopped/);
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      await stderr;
      await child.stdin.close().catch(() => {});
    }
  });
  it("smartstorage --auth without keys prints a random pair that works; the published pair is refused", async () => {
    const child = runCli(["--port", "0", "--directory", join(dir, "auth-data"), "--auth"]);
    const stderr = new Response(child.stderr).text();
    try {
      const { text, rest } = await readUntil(child.stdout, /Press Ctrl-C/);
      const endpoint = /endpoint:\s+(http:\/\/\S+)/.exec(text)?.[1];
      const accessKeyId = /access key:\s+(\S+)/.exec(text)?.[1];
      const secretAccessKey = /secret key:\s+(\S+)/.exec(text)?.[1];
      assert.ok(endpoint && accessKeyId && secretAccessKey, `endpoint and keys printed:\n${text}`);
      assert.match(text, /auth:\s+on/);
      assert.notEqual(accessKeyId, PUBLISHED_PAIR.accessKeyId);
      assert.notEqual(secretAccessKey, PUBLISHED_PAIR.secretAccessKey);
      const printed = s3ClientAt(endpoint, "us-east-1", { accessKeyId, secretAccessKey });
      const fixed = s3ClientAt(endpoint, "us-east-1", PUBLISHED_PAIR);
      try {
        await printed.send(new ListBucketsCommand({}));
        await assertS3Error(fixed.send(new ListBucketsCommand({})), "InvalidAccessKeyId", 403);
      } finally {
        printed.destroy();
        fixed.destroy();
      }
      child.kill("SIGTERM");
      const exit = await child.exited;
      assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}; stderr: ${await stderr}`);
      await rest;
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      await stderr;
      await child.stdin.close().catch(() => {});
    }
  });

  it("smartstorage --help does not offer the published pair as a default", async () => {
    const child = runCli(["--help"]);
    await child.stdin.close();
    const [out, , exit] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    assert.equal(exit.code, 0);
    assert.ok(!out.includes(PUBLISHED_PAIR.accessKeyId) && !out.includes(PUBLISHED_PAIR.secretAccessKey), out);
    assert.match(out, /random when --auth/);
  });

  it("smartstorage --tls-self-signed serves HTTPS and prints the certificate to trust", async () => {
    const child = runCli(["--port", "0", "--directory", join(dir, "tls-data"), "--tls-self-signed"]);
    const stderr = new Response(child.stderr).text();
    try {
      const { text, rest } = await readUntil(child.stdout, /Press Ctrl-C/);
      const endpoint = /endpoint:\s+(https:\/\/\S+)/.exec(text)?.[1];
      assert.ok(endpoint, `https endpoint printed:\n${text}`);
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
      assert.ok(pem, `certificate printed:\n${text}`);
      const status = await httpsStatusTrusting(endpoint + "/", pem + "\n");
      assert.ok(status >= 200 && status < 500, `HTTPS answered ${status}`);
      child.kill("SIGTERM");
      const exit = await child.exited;
      assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}; stderr: ${await stderr}`);
      await rest;
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      await stderr;
      await child.stdin.close().catch(() => {});
    }
  });

  it("smartstorage --version prints the package's version", async () => {
    const child = runCli(["--version"]);
    await child.stdin.close();
    const [out, , exit] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    assert.equal(exit.code, 0);
    assert.equal(out.trim(), `smartstorage ${VERSION}`);
  });

  it("both CLIs read the SMARTSTORAGE_* variables, a flag beats its variable, and the keys turn auth on", async () => {
    const envDir = join(dir, "env-dir");
    const flagDir = join(dir, "flag-dir");
    const env = {
      SMARTSTORAGE_PORT: "0",
      SMARTSTORAGE_ADDRESS: "127.0.0.1",
      SMARTSTORAGE_DIRECTORY: envDir,
      SMARTSTORAGE_REGION: "eu-central-1",
      SMARTSTORAGE_ACCESS_KEY: "ENVKEY",
      SMARTSTORAGE_SECRET_KEY: "ENVSECRET",
    };
    const cli = runCli(["--directory", flagDir, "--region", "ap-south-1"], env);
    const engine = runServe(["--directory", flagDir, "--region", "ap-south-1"], env);
    const cliErr = new Response(cli.stderr).text();
    const engineErr = new Response(engine.stderr).text();
    try {
      const { text: cliOut, rest: cliRest } = await readUntil(cli.stdout, /Press Ctrl-C/);
      assert.match(cliOut, /endpoint:\s+http:\/\/127\.0\.0\.1:\d+/);
      assert.doesNotMatch(cliOut, /:3000/, "SMARTSTORAGE_PORT=0 was used");
      assert.match(cliOut, /access key:\s+ENVKEY/);
      assert.match(cliOut, /auth:\s+on/);
      assert.match(cliOut, /region:\s+ap-south-1/);
      assert.ok(cliOut.includes(`directory:   ${flagDir}`), cliOut);

      const { text: engineOut, rest: engineRest } = await readUntil(engine.stdout, /auth: .*\n/);
      assert.match(engineOut, /listening on http:\/\/127\.0\.0\.1:\d+ /);
      assert.doesNotMatch(engineOut, /:3000 /, "SMARTSTORAGE_PORT=0 was used");
      assert.ok(engineOut.includes(`(directory: ${flagDir}, region: ap-south-1)`), engineOut);
      assert.match(engineOut, /auth: enabled, access key ENVKEY/);
      assert.equal(existsSync(envDir), false, "the variable's folder is not used");

      const cliEnd = await terminate(cli, cliRest, cliErr);
      const engineEnd = await terminate(engine, engineRest, engineErr);
      assert.equal(cliEnd.exit.code, 0, cliEnd.err);
      assert.equal(engineEnd.exit.code, 0, engineEnd.err);
      // Loopback with auth on: no warning.
      assert.doesNotMatch(cliEnd.err + engineEnd.err, /warning/);
    } finally {
      for (const child of [cli, engine]) {
        child.kill("SIGKILL");
        await child.exited;
        await child.stdin.close().catch(() => {});
      }
      await Promise.all([cliErr, engineErr]);
    }
  });

  it("both CLIs: --ephemeral serves a folder removed at exit, --log-requests logs each request, 0.0.0.0 with auth off warns", async () => {
    const cli = runCli(["--ephemeral", "--log-requests", "--port", "0", "--address", "0.0.0.0"], {});
    // The engine with the variable instead of the flag.
    const engine = runServe(["--ephemeral", "--port", "0", "--address", "0.0.0.0"], { SMARTSTORAGE_LOG_REQUESTS: "1" });
    try {
      const { text: cliOut, rest: cliRest } = await readUntil(cli.stdout, /Press Ctrl-C/);
      const { text: engineOut, rest: engineRest } = await readUntil(engine.stdout, /auth: .*\n/);
      const cliDir = /directory:\s+(\S+) \(ephemeral: removed at exit; fsync off\)/.exec(cliOut)?.[1];
      const engineDir = /\(directory: ([^,]+),/.exec(engineOut)?.[1];
      assert.ok(cliDir && engineDir, `${cliOut}\n${engineOut}`);
      assert.match(engineOut, /ephemeral: the folder is removed at exit; fsync is off/);
      assert.ok(existsSync(cliDir) && existsSync(engineDir));
      const cliPort = /endpoint:\s+http:\/\/[^:]+:(\d+)/.exec(cliOut)![1];
      const enginePort = /listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(engineOut)![1];

      const logged = /\[request\] GET \/ 200 (\d+) bytes \d+\.\d ms\n/;
      const cliErr = readUntil(cli.stderr, logged);
      const engineErr = readUntil(engine.stderr, logged);
      for (const port of [cliPort, enginePort]) {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        assert.equal(res.status, 200);
        const body = await res.text();
        // The line comes when the response is sent, with the bytes of its body.
        const { text } = await (port === cliPort ? cliErr : engineErr);
        assert.equal(Number(logged.exec(text)![1]), new TextEncoder().encode(body).length);
        assert.match(text, /warning: listening on 0\.0\.0\.0 with auth off/);
      }

      const cliEnd = await terminate(cli, cliRest, cliErr.then((r) => r.rest));
      const engineEnd = await terminate(engine, engineRest, engineErr.then((r) => r.rest));
      assert.equal(cliEnd.exit.code, 0, cliEnd.err);
      assert.equal(engineEnd.exit.code, 0, engineEnd.err);
      assert.equal(existsSync(cliDir), false, "smartstorage removed its ephemeral folder");
      assert.equal(existsSync(engineDir), false, "ruststorage serve removed its ephemeral folder");
    } finally {
      for (const child of [cli, engine]) {
        child.kill("SIGKILL");
        await child.exited;
        await child.stdin.close().catch(() => {});
      }
    }
  });

  it("both CLIs: --bucket NAME (repeatable) creates the buckets at start", async () => {
    const cli = runCli(["--ephemeral", "--port", "0", "--bucket", "first-one", "--bucket", "second-one"], {});
    const engine = runServe(["--ephemeral", "--port", "0", "--bucket", "first-one", "--bucket", "second-one"]);
    try {
      const { text: cliOut, rest: cliRest } = await readUntil(cli.stdout, /endpoint:\s+http:\/\/[^:]+:\d+/);
      const { text: engineOut, rest: engineRest } = await readUntil(engine.stdout, /listening on http:\/\/[^:]+:\d+/);
      const ports = [/endpoint:\s+http:\/\/[^:]+:(\d+)/.exec(cliOut)![1], /listening on http:\/\/[^:]+:(\d+)/.exec(engineOut)![1]];
      for (const port of ports) {
        for (const bucket of ["first-one", "second-one"]) {
          // Without credentials: auth is off, so a missing bucket would answer 404.
          const res = await fetch(`http://127.0.0.1:${port}/${bucket}?list-type=2`);
          await res.body?.cancel();
          assert.equal(res.status, 200, `${bucket} on port ${port}`);
        }
      }
      await terminate(cli, cliRest, new Response(cli.stderr).text());
      await terminate(engine, engineRest, new Response(engine.stderr).text());
    } finally {
      cli.kill("SIGKILL");
      engine.kill("SIGKILL");
      await Promise.all([cli.exited, engine.exited]);
    }
  });

  it("both CLIs: --import BUCKET=FOLDER creates the bucket and imports the files; a missing folder exits 1", async () => {
    const seed = join(dir, "import-seed");
    await mkdir(join(seed, "sub"), { recursive: true });
    await writeFile(join(seed, "a.json"), '{"a":1}');
    await writeFile(join(seed, "sub", "b.txt"), "bee");
    const cli = runCli(["--ephemeral", "--port", "0", "--import", `seeded=${seed}`], {});
    const engine = runServe(["--ephemeral", "--port", "0", "--import", `seeded=${seed}`]);
    try {
      const { text: cliOut, rest: cliRest } = await readUntil(cli.stdout, /imported .*\n/);
      const { text: engineOut, rest: engineRest } = await readUntil(engine.stdout, /imported .*\n/);
      const cliPort = /endpoint:\s+http:\/\/[^:]+:(\d+)/.exec(cliOut)![1];
      const enginePort = /listening on http:\/\/[^:]+:(\d+)/.exec(engineOut)![1];
      for (const [out, port] of [[cliOut, cliPort], [engineOut, enginePort]]) {
        assert.match(out!, /imported 2 files \(10 bytes\) from .* into bucket seeded/);
        const res = await fetch(`http://127.0.0.1:${port}/seeded/sub/b.txt`);
        assert.equal(await res.text(), "bee");
        const json = await fetch(`http://127.0.0.1:${port}/seeded/a.json`);
        assert.equal(json.headers.get("content-type"), "application/json");
        await json.body?.cancel();
      }
      const cliEnd = await terminate(cli, cliRest, new Response(cli.stderr).text());
      const engineEnd = await terminate(engine, engineRest, new Response(engine.stderr).text());
      assert.equal(cliEnd.exit.code, 0, cliEnd.err);
      assert.equal(engineEnd.exit.code, 0, engineEnd.err);
    } finally {
      cli.kill("SIGKILL");
      engine.kill("SIGKILL");
      await Promise.all([cli.exited, engine.exited]);
    }
    const missing = join(dir, "no-such-folder");
    for (const child of [runCli(["--ephemeral", "--port", "0", "--import", `seeded=${missing}`], {}), runServe(["--ephemeral", "--port", "0", "--import", `seeded=${missing}`])]) {
      const [err, exit] = await Promise.all([new Response(child.stderr).text(), child.exited, new Response(child.stdout).text()]);
      await child.stdin.close().catch(() => {});
      assert.equal(exit.code, 1, err);
      assert.ok(err.includes(missing), err);
    }
  });
});
