/** The `smartstorage` command, run with the same runtime as the tests. */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
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

function runCli(args: string[]): SpawnedChild {
  const { command, args: fullArgs } = cliCommand(args);
  return spawnChild(command, { args: fullArgs, cwd: repoRoot });
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
});
