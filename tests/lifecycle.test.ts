/** Start, stop, parallel servers, presets, descriptor. */

import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListBucketsCommand } from "@aws-sdk/client-s3";
import { SmartStorage } from "../src/smart_storage.ts";
import { NotRunningError, SmartStorageError } from "../src/errors.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { s3ClientFor, startTestServer, uniqueName } from "./helpers.ts";

describe("SmartStorage lifecycle", () => {
  let workDir = "";

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "smartstorage-lifecycle-"));
  });

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("createAndStart() starts a server on an ephemeral port and stop() ends it", async () => {
    const directory = join(workDir, "basic");
    const storage = await SmartStorage.createAndStart({ storage: { directory } });
    try {
      assert.equal(storage.running, true);
      const info = storage.info!;
      assert.equal(info.address, "127.0.0.1");
      assert.ok(info.port > 0 && info.port < 65536, `port ${info.port}`);
      assert.equal(info.region, "us-east-1");
      assert.equal(info.directory, directory);
      assert.ok(statSync(directory).isDirectory(), "storage folder was created");
      assert.ok(storage.engineVersion, "engine version from the ready event");
      assert.ok(storage.enginePid, "engine pid");
      const response = await fetch(storage.endpointUrl + "/");
      await response.body?.cancel();
      assert.ok(response.status < 500, `GET / answered ${response.status}`);
    } finally {
      await storage.stop();
    }
    assert.equal(storage.running, false);
    assert.equal(storage.enginePid, undefined);
  });

  it("stop() is idempotent and safe before start()", async () => {
    const neverStarted = new SmartStorage({ ephemeral: true });
    await neverStarted.stop();
    await neverStarted.stop();

    const storage = await startTestServer();
    const first = storage.stop();
    const second = storage.stop();
    assert.equal(first, second, "concurrent stop() calls share one promise");
    await Promise.all([first, second]);
    await storage.stop();
    assert.equal(storage.running, false);
  });

  it("calls after stop() fail at once with 'no longer running'", async () => {
    const storage = await startTestServer();
    await storage.stop();
    await assert.rejects(storage.getStorageStats(), (err: unknown) => {
      assert.ok(err instanceof NotRunningError, String(err));
      assert.match((err as Error).message, /no longer running: stopped by stop\(\)/);
      return true;
    });
  });

  it("calls before start() fail with NotStarted", async () => {
    const storage = new SmartStorage({ ephemeral: true });
    await assert.rejects(storage.createBucket("nope"), (err: unknown) => {
      assert.ok(err instanceof SmartStorageError);
      assert.equal(err.code, "NotStarted");
      return true;
    });
    await assert.rejects(storage.getS3Descriptor(), { code: "NotStarted" });
  });

  it("start() twice returns the same listener; start() after stop() starts again", async () => {
    const storage = new SmartStorage({ ephemeral: true });
    try {
      const [a, b] = await Promise.all([storage.start(), storage.start()]);
      assert.deepEqual(a, b);
      assert.deepEqual(await storage.start(), a);
      await storage.stop();
      const again = await storage.start();
      assert.ok(again.port > 0);
      assert.equal(storage.running, true);
      assert.equal((await storage.getClusterHealth()).enabled, false);
    } finally {
      await storage.stop();
    }
  });

  it("ephemeral: true uses a temp folder that stop() removes, and random credentials", async () => {
    const a = await startTestServer();
    const b = await startTestServer();
    const dirA = a.info!.directory;
    try {
      assert.ok(existsSync(dirA));
      assert.notEqual(dirA, b.info!.directory);
      const da = await a.getS3Descriptor();
      const db = await b.getS3Descriptor();
      assert.notEqual(da.accessKey, db.accessKey);
      assert.equal(da.accessKey.length, 20);
      assert.equal(da.accessSecret.length, 40);
      assert.equal(a.config.engine.auth.enabled, true);
    } finally {
      await a.stop();
      await b.stop();
    }
    assert.equal(existsSync(dirA), false, "temp folder removed on stop");
  });

  it("Symbol.asyncDispose stops the server (await using)", async () => {
    let dir = "";
    {
      await using storage = await startTestServer();
      dir = storage.info!.directory;
      assert.equal(storage.running, true);
    }
    assert.equal(existsSync(dir), false);
  });

  it("getS3Descriptor() returns the IS3Descriptor shape", async () => {
    const storage = await startTestServer({ server: { region: "eu-central-1" } });
    try {
      const d = await storage.getS3Descriptor();
      assert.deepEqual(Object.keys(d).sort(), ["accessKey", "accessSecret", "endpoint", "port", "region", "useSsl"]);
      assert.equal(d.endpoint, "127.0.0.1");
      assert.equal(d.port, storage.info!.port);
      assert.equal(d.useSsl, false);
      assert.equal(d.region, "eu-central-1");
      assert.equal(storage.endpointUrl, `http://127.0.0.1:${d.port}`);
    } finally {
      await storage.stop();
    }
  });

  it("several servers run in parallel on their own ephemeral ports", async () => {
    const servers = await Promise.all([0, 1, 2, 3].map(() => startTestServer()));
    try {
      const ports = new Set(servers.map((s) => s.info!.port));
      assert.equal(ports.size, servers.length, "distinct ports");
      // Each serves its own data: a bucket made on one is not on another.
      const names = servers.map(() => uniqueName("parallel"));
      await Promise.all(servers.map((s, i) => s.createBucket(names[i]!)));
      for (const [i, s] of servers.entries()) {
        const client = await s3ClientFor(s);
        try {
          const listed = await client.send(new ListBucketsCommand({}));
          assert.deepEqual(listed.Buckets?.map((b) => b.Name), [names[i]]);
        } finally {
          client.destroy();
        }
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  it("cleanSlate: true empties the storage folder before start", async () => {
    const directory = join(workDir, "clean-slate");
    const first = await SmartStorage.createAndStart({ storage: { directory } });
    const name = uniqueName("slate");
    try {
      await first.createBucket(name);
    } finally {
      await first.stop();
    }
    const kept = await SmartStorage.createAndStart({ storage: { directory } });
    try {
      assert.deepEqual((await kept.listBucketSummaries()).map((b) => b.name), [name], "data survives a restart");
    } finally {
      await kept.stop();
    }
    await writeFile(join(directory, "stray-file.txt"), "x");
    const clean = await SmartStorage.createAndStart({ storage: { directory, cleanSlate: true } });
    try {
      assert.deepEqual(await clean.listBucketSummaries(), []);
      assert.equal(existsSync(join(directory, "stray-file.txt")), false);
    } finally {
      await clean.stop();
    }
  });
});
