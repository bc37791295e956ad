/**
 * Cluster mode on one node with four drive folders (2 data + 2 parity shards), against
 * the real engine: what getClusterHealth reports, and what survives what. Faults are
 * made the way a disk fails: a drive folder taken away, a shard file deleted, a byte
 * flipped in a shard, a drive emptied (replaced by a new disk). Every read is checked
 * by SHA-256; health is polled until the prober (every 200 ms here) has seen a change.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { SmartStorage } from "../src/smart_storage.ts";
import type { ClusterModeHealth } from "../src/protocol.ts";
import { SmartStorageError } from "../src/errors.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, bodyBytes, pseudoRandomBytes, startClusterServer, uniqueName } from "./helpers.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Fast background work for the tests (the defaults are 2 s and 60 s).
process.env.SMARTSTORAGE_PROBE_INTERVAL_MS = "200";
process.env.SMARTSTORAGE_SCAN_INTERVAL_MS = "1000";
process.env.SMARTSTORAGE_ORPHAN_GRACE_MS = "3000";

/** Polls `check` until it holds (or fails the test after `ms`). */
async function until<T>(what: string, probe: () => Promise<T>, check: (value: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T = await probe();
  while (!check(last)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await sleep(100);
    last = await probe();
  }
  return last;
}

/** Every shard file on a drive: `<drive>/.smartstorage/data/<xx>/<body id>`. */
async function shardFiles(drive: string): Promise<string[]> {
  const data = join(drive, ".smartstorage", "data");
  if (!existsSync(data)) return [];
  const out: string[] = [];
  for (const dir of await readdir(data)) {
    for (const file of await readdir(join(data, dir))) {
      if (!file.includes(".")) out.push(join(data, dir, file));
    }
  }
  return out.sort();
}

/** The body ids present on a drive. */
async function bodyIds(drive: string): Promise<Set<string>> {
  return new Set((await shardFiles(drive)).map((f) => f.split("/").pop()!));
}

describe("cluster mode: one node, four drives, 2+2", () => {
  let storage: SmartStorage & { drives: string[] };
  let s3: S3Client;
  let bucket: string;
  const small = pseudoRandomBytes(10_000, 7);
  const large = pseudoRandomBytes(3 * 1024 * 1024 + 123, 8);
  /**
   * A large PUT refused before its body is read: the 503, or, when the client was still
   * sending as the server closed the connection, a broken pipe (seen with Node 24).
   */
  const assertRefusedUpload = async (upload: Promise<unknown>) => {
    const refused = await upload.then(() => undefined, (err: unknown) => err);
    if (refused !== undefined && /EPIPE|ECONNRESET/.test(String(refused))) return;
    await assertS3Error(Promise.reject(refused ?? "stored"), "ServiceUnavailable", 503);
  };

  const health = async () => (await storage.getClusterHealth()) as ClusterModeHealth;
  const put = (key: string, body: Uint8Array) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const get = async (key: string) => await bodyBytes((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body);
  async function assertReads(key: string, expected: Uint8Array) {
    assert.equal(sha256(await get(key)), sha256(expected), `${key} reads back whole`);
  }
  const driveState = (h: ClusterModeHealth, drive: string) => h.drives.find((d) => d.path === drive)?.state;

  /** The ids of the bodies a PUT added (compared with the drives before it). */
  async function newBodies(before: Set<string>[]): Promise<string[]> {
    const ids = new Set<string>();
    for (const [i, drive] of storage.drives.entries()) {
      for (const id of await bodyIds(drive)) if (!before[i]!.has(id)) ids.add(id);
    }
    return [...ids];
  }
  const snapshot = () => Promise.all(storage.drives.map(bodyIds));

  beforeAll(async () => {
    storage = await startClusterServer(4);
    // One attempt: a 503 must reach the test, not be retried away.
    s3 = new S3Client({ ...storage.s3ClientConfig(), maxAttempts: 1 });
    bucket = uniqueName("cluster");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
  });

  it("reports itself as the one member: both ports listening, quorum ok, drives probed, healing idle", async () => {
    const h = await until("four probed drives", health, (h) => h.drives.every((d) => d.lastProbeMs > 0 && d.state === "ok"));
    assert.equal(h.enabled, true);
    assert.equal(h.quicPort, storage.info!.quicPort);
    assert.ok(h.quicPort > 0);
    // The QUIC endpoint is a bound UDP socket of the engine.
    const udp = ["/proc/net/udp", "/proc/net/udp6"].filter(existsSync).map((f) => readFileSync(f, "utf8")).join("\n");
    assert.match(udp, new RegExp(`:${h.quicPort.toString(16).toUpperCase().padStart(4, "0")} `));
    assert.deepEqual(h.nodes.map((n) => [n.id, n.state]), [[h.nodeId, "up"]]);
    assert.equal(h.raft.role, "leader");
    assert.equal(h.raft.leaderId, h.nodeId);
    assert.deepEqual(h.raft.voters, [h.nodeId]);
    assert.deepEqual(h.raft.replication, []);
    assert.deepEqual(h.drives.map((d) => d.path).sort(), [...storage.drives].sort());
    assert.ok(h.drives.every((d) => d.totalBytes! > 0 && d.freeBytes! > 0 && d.probeLatencyMs !== null));
    assert.deepEqual(
      h.sets.map((s) => [s.dataShards, s.parityShards, s.drivesOnline, s.readQuorum, s.writeQuorum, s.readable, s.writable]),
      [[2, 2, 4, 2, 3, true, true]],
    );
    assert.deepEqual(h.quorum, { metadata: "ok", dataReadable: true, dataWritable: true });
    assert.equal(h.healing.queued, 0);
    assert.equal(h.healing.failed, 0);
  });

  it("spreads a large object as 2+2 shards and a small one as 1+2, one file per drive", async () => {
    const before = await snapshot();
    await put("spread/large", large);
    const [largeId] = await newBodies(before);
    const holders = storage.drives.filter((d) => existsSync(join(d, ".smartstorage", "data", largeId!.slice(0, 2), largeId!)));
    assert.equal(holders.length, 4);
    const middle = await snapshot();
    await put("spread/small", small);
    const [smallId] = await newBodies(middle);
    const smallHolders = storage.drives.filter((d) => existsSync(join(d, ".smartstorage", "data", smallId!.slice(0, 2), smallId!)));
    assert.equal(smallHolders.length, 3);
    await assertReads("spread/large", large);
    await assertReads("spread/small", small);
  });

  it("keeps serving with a drive gone, reports it offline, and heals what it missed when it returns", async () => {
    await put("away/before", large);
    const gone = storage.drives[1]!;
    let healedBefore = 0;
    await rename(gone, `${gone}.away`);
    try {
      const h = await until("the drive offline", health, (h) => driveState(h, gone) === "offline");
      assert.deepEqual([h.sets[0]!.drivesOnline, h.sets[0]!.readable, h.sets[0]!.writable], [3, true, true]);
      await assertReads("away/before", large);
      await put("away/during", large); // the write quorum (3) holds
      await put("away/small", small);
      await assertReads("away/during", large);
    } finally {
      healedBefore = (await health()).healing.healedObjects;
      await rename(`${gone}.away`, gone);
    }
    await until("the drive ok", health, (h) => driveState(h, gone) === "ok");
    // The large object's fourth shard (the small one went to the three drives there were).
    const h = await until("the missed shard healed", health, (h) => h.healing.healedObjects >= healedBefore + 1);
    assert.equal(h.healing.failed, 0);
    // Proof: with two other drives away, the objects written meanwhile read from the returned one.
    const [a, b] = [storage.drives[0]!, storage.drives[2]!];
    await rename(a, `${a}.away`);
    await rename(b, `${b}.away`);
    try {
      await until("two drives offline", health, (h) => h.sets[0]!.drivesOnline === 2);
      await assertReads("away/during", large);
    } finally {
      await rename(`${a}.away`, a);
      await rename(`${b}.away`, b);
    }
    await until("all drives ok", health, (h) => h.drives.every((d) => d.state === "ok"));
  });

  it("answers 503 with more than two drives gone, never wrong bytes, and loses nothing acknowledged", async () => {
    await put("lost/kept", large);
    const away = storage.drives.slice(0, 3);
    for (const d of away) await rename(d, `${d}.away`);
    try {
      const h = await until("three drives offline", health, (h) => h.sets[0]!.drivesOnline === 1);
      assert.deepEqual([h.sets[0]!.readable, h.sets[0]!.writable, h.quorum.dataReadable, h.quorum.dataWritable], [false, false, false, false]);
      await assertS3Error(get("lost/kept"), "ServiceUnavailable", 503);
      await assertRefusedUpload(put("lost/new", large));
      await assertS3Error(put("lost/new-small", small), "ServiceUnavailable", 503);
      // Metadata-only changes too: the metadata log cannot reach its quorum of drives.
      // (A refused change that reached a drive may still apply later, as with any write
      // whose answer was an error: so it names a key that nothing below depends on.)
      await assertS3Error(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "lost/other" })), "ServiceUnavailable", 503);
      await assertS3Error(s3.send(new CreateBucketCommand({ Bucket: uniqueName("lost") })), "ServiceUnavailable", 503);
    } finally {
      for (const d of away) await rename(`${d}.away`, d);
    }
    await until("all drives ok", health, (h) => h.drives.every((d) => d.state === "ok"));
    await assertReads("lost/kept", large);
    await put("lost/after", small);
    await assertReads("lost/after", small);
  });

  it("reads around a flipped byte in a shard and heals it", async () => {
    const before = await snapshot();
    await put("rot/large", large);
    const [id] = await newBodies(before);
    // Data shard 0 holds the object's first bytes right after its 32-byte frame hash.
    const files = storage.drives.map((d) => join(d, ".smartstorage", "data", id!.slice(0, 2), id!));
    const contents = await Promise.all(files.map((f) => readFile(f)));
    const first = contents.findIndex((c) => Buffer.from(c.subarray(32, 96)).equals(Buffer.from(large.subarray(0, 64))));
    assert.ok(first >= 0, "data shard 0 found");
    const original = contents[first]!;
    const flipped = Buffer.from(original);
    flipped[1000] = flipped[1000]! ^ 0x55;
    await writeFile(files[first]!, flipped);
    const healedBefore = (await health()).healing.healedObjects;
    await assertReads("rot/large", large);
    await until("the bad shard healed", health, (h) => h.healing.healedObjects > healedBefore);
    assert.ok((await readFile(files[first]!)).equals(original), "the shard file is whole again");
  });

  it("heals a deleted shard file in the background, without a read", async () => {
    const before = await snapshot();
    await put("lost-shard/large", large);
    const [id] = await newBodies(before);
    const file = join(storage.drives[3]!, ".smartstorage", "data", id!.slice(0, 2), id!);
    const original = await readFile(file);
    await rm(file);
    await until("the scanner to restore the shard", () => Promise.resolve(existsSync(file)), (there) => there, 20_000);
    assert.ok((await readFile(file)).equals(original));
  });

  it("removes shard files nothing refers to once they are old, and keeps the rest", async () => {
    const dir = join(storage.drives[0]!, ".smartstorage", "data", "0f");
    await mkdir(dir, { recursive: true });
    const stray = join(dir, "0f".padEnd(32, "e")); // what a write that never committed leaves
    const fresh = join(dir, "0f".padEnd(32, "d")); // a write still in flight
    await writeFile(stray, "left by a crash");
    await writeFile(fresh, "being written");
    const old = new Date(Date.now() - 60_000);
    await utimes(stray, old, old);
    const before = await shardFiles(storage.drives[0]!);
    await until("the stray file removed", () => Promise.resolve(existsSync(stray)), (there) => !there, 20_000);
    assert.ok(existsSync(fresh), "a young file stays");
    const after = await shardFiles(storage.drives[0]!);
    assert.deepEqual(after.filter((f) => f !== fresh), before.filter((f) => f !== stray && f !== fresh));
    await rm(fresh);
    await assertReads("spread/large", large);
  });

  it("fills a drive replaced by an empty folder", async () => {
    await put("replaced/large", large);
    await put("replaced/small", small);
    const drive = storage.drives[2]!;
    const had = await bodyIds(drive);
    assert.ok(had.size > 0);
    await rm(drive, { recursive: true });
    await mkdir(drive);
    await until("the new drive healing or ok", health, (h) => ["healing", "ok"].includes(driveState(h, drive) ?? ""));
    await until("the new drive filled", () => bodyIds(drive), (ids) => [...had].every((id) => ids.has(id)), 30_000);
    const h = await until("the new drive ok", health, (h) => driveState(h, drive) === "ok");
    assert.equal(h.drives.filter((d) => d.state === "ok").length, 4);
    // It holds the metadata log again, too: with two other drives away, reads still work.
    await assertReads("replaced/large", large);
  });
});

// A small tmpfs as one of the four drives: needs root (mount), as in CI.
const asRoot = process.getuid?.() === 0;
(asRoot ? describe : () => {})("cluster mode: a drive that fills up", () => {
  let base: string;
  let mounted = false;
  let storage: SmartStorage | undefined;
  let s3: S3Client | undefined;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "smartstorage-cluster-full-"));
    await mkdir(join(base, "drive4"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=80m", "tmpfs", join(base, "drive4")], { stdio: "ignore" });
    mounted = true;
    const { SmartStorage } = await import("../src/smart_storage.ts");
    const drives = [1, 2, 3, 4].map((i) => join(base, `drive${i}`));
    storage = await SmartStorage.createAndStart({ auth: { enabled: true }, storage: { fsync: false }, cluster: { drives, quicPort: 0 } });
    s3 = new S3Client({ ...storage.s3ClientConfig(), maxAttempts: 1 });
  });
  afterAll(async () => {
    s3?.destroy();
    await storage?.stop();
    if (mounted) execFileSync("umount", [join(base, "drive4")], { stdio: "ignore" });
    await rm(base, { recursive: true, force: true });
  });

  it("is reported full and skipped by writes, which go on; everything reads back", async () => {
    const bucket = uniqueName("full");
    const client = s3!;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const health = async () => (await storage!.getClusterHealth()) as ClusterModeHealth;
    const body = (i: number) => pseudoRandomBytes(4 * 1024 * 1024, 100 + i);
    // 4 MiB objects put 2 MiB on each drive: the 80 MiB drive is under 64 MiB free after ~8.
    let i = 0;
    for (; i < 30; i++) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `o${i}`, Body: body(i) }));
      const h = await health();
      if (h.drives.some((d) => d.state === "full")) break;
      await sleep(250); // a probe between writes
    }
    const h = await health();
    const full = h.drives.find((d) => d.path.endsWith("drive4"))!;
    assert.equal(full.state, "full", JSON.stringify(full));
    assert.ok(full.freeBytes! < 64 * 1024 * 1024);
    assert.deepEqual([h.sets[0]!.writable, h.quorum.dataWritable], [true, true]);
    for (let j = i + 1; j < i + 4; j++) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `o${j}`, Body: body(j) }));
    }
    for (let j = 0; j < i + 4; j++) {
      const got = await bodyBytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: `o${j}` }))).Body);
      assert.equal(sha256(got), sha256(body(j)), `o${j}`);
    }
  }, { timeoutMs: 60_000 });
});

describe("cluster mode: bad drives are refused before anything is written", () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "smartstorage-cluster-bad-"));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function refused(drives: string[], pattern: RegExp) {
    const { SmartStorage } = await import("../src/smart_storage.ts");
    await assert.rejects(
      SmartStorage.createAndStart({ auth: { enabled: true }, cluster: { drives, quicPort: 0 } }),
      (err: unknown) => {
        assert.ok(err instanceof SmartStorageError, String(err));
        assert.match(err.message, pattern);
        return true;
      },
    );
  }

  it("refuses a drive that holds standalone data", async () => {
    const drives = [1, 2, 3, 4].map((i) => join(base, `standalone-${i}`));
    await mkdir(join(drives[2]!, "photos"), { recursive: true });
    await writeFile(join(drives[2]!, "photos", "cat.jpg._storage_object"), "meow");
    await refused(drives, /standalone data/);
    for (const d of [drives[0]!, drives[1]!, drives[3]!]) {
      assert.ok(!existsSync(join(d, ".smartstorage")), `nothing written to ${d}`);
    }
  });

  it("starts on empty drives with storage.cleanSlate", async () => {
    const { SmartStorage } = await import("../src/smart_storage.ts");
    const drives = [1, 2, 3, 4].map((i) => join(base, `clean-${i}`));
    const start = (cleanSlate: boolean) =>
      SmartStorage.createAndStart({ auth: { enabled: true }, storage: { cleanSlate }, cluster: { drives, quicPort: 0 } });
    const first = await start(false);
    await first.createBucket("kept-until-clean");
    const id = ((await first.getClusterHealth()) as ClusterModeHealth).nodeId;
    await first.stop();
    const again = await start(false);
    assert.deepEqual((await again.listBucketSummaries()).map((b) => b.name), ["kept-until-clean"]);
    await again.stop();
    const clean = await start(true);
    assert.deepEqual(await clean.listBucketSummaries(), []);
    assert.notEqual(((await clean.getClusterHealth()) as ClusterModeHealth).nodeId, id);
    await clean.stop();
  });

  it("refuses a drive of another cluster", async () => {
    const { SmartStorage } = await import("../src/smart_storage.ts");
    const clusters = ["a", "b"].map((c) => [1, 2, 3, 4].map((i) => join(base, `${c}-${i}`)));
    for (const drives of clusters) {
      const one = await SmartStorage.createAndStart({ auth: { enabled: true }, cluster: { drives, quicPort: 0 } });
      await one.stop();
    }
    const [a, b] = clusters as [string[], string[]];
    await refused([a[0]!, a[1]!, a[2]!, b[3]!], /belongs to another cluster/);
  });

  it("with a cluster secret: a fixed QUIC port, advertised where other nodes can call it", async () => {
    const { SmartStorage } = await import("../src/smart_storage.ts");
    const drives = [1, 2].map((i) => join(base, `secret-${i}`));
    const secret = "the secret of this test cluster";
    // A free UDP port: bind one, let it go, take it.
    const { createSocket } = await import("node:dgram");
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const quicPort = socket.address().port;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    const one = await SmartStorage.createAndStart({
      auth: { enabled: true },
      server: { address: "127.0.0.1" },
      cluster: { drives, quicPort, secret, advertiseAddress: "localhost" },
    });
    try {
      const h = (await one.getClusterHealth()) as ClusterModeHealth;
      assert.equal(h.quicPort, quicPort);
      assert.deepEqual(h.nodes.map((n) => [n.address, n.state]), [[`localhost:${quicPort}`, "up"]]);
      assert.equal(h.quorum.metadata, "ok");
    } finally {
      await one.stop();
    }
    // Without a fixed port the others could not find it again after a restart.
    await assert.rejects(
      SmartStorage.createAndStart({ auth: { enabled: true }, cluster: { drives, quicPort: 0, secret } }),
      (err: SmartStorageError) => /quicPort must be a fixed port/.test(err.message),
    );
  });
});
