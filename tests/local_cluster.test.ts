/**
 * SmartStorage.startLocalCluster against the real engine: three nodes on this machine
 * form one cluster, any node serves S3 with the same credentials, an object written
 * through one node is erasure-coded over every node's drives and reads back whole
 * through another; bad options are refused before anything starts.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ConfigError } from "../src/errors.ts";
import type { LocalCluster, LocalClusterOptions } from "../src/local_cluster.ts";
import type { ClusterModeHealth } from "../src/protocol.ts";
import { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { bodyBytes, pseudoRandomBytes, uniqueName } from "./helpers.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** The body ids (shard file names) on a drive: `<drive>/.smartstorage/data/<xx>/<id>`. */
async function shardIds(drive: string): Promise<string[]> {
  const data = join(drive, ".smartstorage", "data");
  if (!existsSync(data)) return [];
  const ids: string[] = [];
  for (const dir of await readdir(data)) {
    for (const file of await readdir(join(data, dir))) if (!file.includes(".")) ids.push(file);
  }
  return ids.sort();
}

describe("SmartStorage.startLocalCluster: three nodes, two drives each", () => {
  let cluster: LocalCluster | undefined;
  let clients: S3Client[] = [];

  beforeAll(async () => {
    cluster = await SmartStorage.startLocalCluster({ nodes: 3, drivesPerNode: 2 });
    // One attempt: a failure must reach the test, not be retried away.
    clients = cluster.nodes.map((n) => new S3Client({ ...n.s3ClientConfig(), maxAttempts: 1 }));
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  });

  it("forms one cluster: every node sees three voters, a leader and all nodes up", async () => {
    const { nodes } = cluster!;
    assert.equal(nodes.length, 3);
    const healths = (await Promise.all(nodes.map((n) => n.getClusterHealth()))) as ClusterModeHealth[];
    assert.deepEqual(healths.map((h) => h.nodeId), ["n1", "n2", "n3"]);
    const leader = healths[0]!.raft.leaderId;
    assert.ok(leader !== null && ["n1", "n2", "n3"].includes(leader), `leader ${leader}`);
    for (const h of healths) {
      assert.deepEqual([...h.raft.voters].sort(), ["n1", "n2", "n3"], `voters on ${h.nodeId}`);
      assert.equal(h.raft.leaderId, leader, `leader on ${h.nodeId}`);
      assert.deepEqual(h.nodes.map((n) => `${n.id} ${n.state}`).sort(), ["n1 up", "n2 up", "n3 up"], `nodes on ${h.nodeId}`);
      assert.equal(h.quorum.metadata, "ok");
    }
    // Each node its own S3 port; one key pair for all of them.
    const descriptors = await Promise.all(nodes.map((n) => n.getS3Descriptor()));
    assert.equal(new Set(descriptors.map((d) => d.port)).size, 3);
    assert.equal(new Set(descriptors.map((d) => `${d.accessKey}:${d.accessSecret}`)).size, 1);
  });

  it("serves S3 on any node: bucket via n1, PUT via n2 spread over every node's drives, GET via n3", async () => {
    const [n1, n2, n3] = clients as [S3Client, S3Client, S3Client];
    const bucket = uniqueName("local-cluster");
    const body = pseudoRandomBytes(4 * 1024 * 1024 + 17, 31);
    await n1.send(new CreateBucketCommand({ Bucket: bucket }));
    await n2.send(new PutObjectCommand({ Bucket: bucket, Key: "big.bin", Body: body }));
    const got = await bodyBytes((await n3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin" }))).Body);
    assert.equal(got.length, body.length);
    assert.equal(sha256(got), sha256(body), "n3 reads what n2 wrote");
    // 3 nodes x 2 drives: 3 data + 3 parity shards, one on each drive of each node.
    const drives = ["n1", "n2", "n3"].flatMap((n) => ["d1", "d2"].map((d) => join(cluster!.directory, n, d)));
    const perDrive = await Promise.all(drives.map(shardIds));
    for (const [i, ids] of perDrive.entries()) assert.equal(ids.length, 1, `one shard on ${drives[i]}`);
    assert.equal(new Set(perDrive.flat()).size, 1, "the same body on every drive");
  });

  it("decommissionNode moves n3's data to n1 and n2, then n3 leaves the cluster", async () => {
    const [n1, n2] = clients as [S3Client, S3Client, S3Client];
    const bucket = uniqueName("decommission");
    const body = pseudoRandomBytes(1024 * 1024 + 3, 7);
    await n1.send(new CreateBucketCommand({ Bucket: bucket }));
    await n1.send(new PutObjectCommand({ Bucket: bucket, Key: "kept.bin", Body: body }));
    const [first, , third] = cluster!.nodes;
    await assert.rejects(first!.decommissionNode("nope"), /no node named nope/);
    const report = await first!.decommissionNode("n3");
    assert.equal(report.nodeId, "n3");
    assert.ok(report.movedBodies >= 1, JSON.stringify(report));
    const h = await first!.getClusterHealth();
    assert.ok(h.enabled);
    assert.deepEqual([...h.raft.voters].sort(), ["n1", "n2"]);
    await third!.stop();
    const got = await bodyBytes((await n2.send(new GetObjectCommand({ Bucket: bucket, Key: "kept.bin" }))).Body);
    assert.equal(sha256(got), sha256(body), "read back without n3");
  });

  it("stop() stops every node and removes the temporary folder", async () => {
    const { directory, nodes } = cluster!;
    assert.ok(existsSync(directory));
    await cluster!.stop();
    assert.ok(nodes.every((n) => !n.running));
    assert.ok(!existsSync(directory), `${directory} removed`);
    await cluster!.stop(); // idempotent
  });
});

describe("SmartStorage.startLocalCluster refuses bad options before anything starts", () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "smartstorage-local-cluster-bad-"));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const cases: [string, LocalClusterOptions, RegExp][] = [
    ["nodes 0", { nodes: 0 }, /nodes must be an integer from 1 to 16, got 0/],
    ["nodes 17", { nodes: 17 }, /nodes must be an integer from 1 to 16, got 17/],
    ["drivesPerNode 1", { drivesPerNode: 1 }, /drivesPerNode must be an integer from 2 to 16, got 1/],
    ["a non-integer", { nodes: 2.5 }, /nodes must be an integer from 1 to 16, got 2.5/],
    ["a short secret", { secret: "short" }, /secret must be a string of at least 16 characters/],
    ["an unknown option", { node: 3 } as LocalClusterOptions, /unknown startLocalCluster option node/],
  ];
  for (const [what, options, message] of cases) {
    it(`refuses ${what}`, async () => {
      const directory = join(base, what.replaceAll(" ", "-"));
      // A binary that does not exist: had anything started, the error would say so.
      await assert.rejects(
        SmartStorage.startLocalCluster({ ...options, directory, binaryPath: join(base, "no-such-binary") }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, message);
          return true;
        },
      );
      assert.ok(!existsSync(directory), "nothing written");
    });
  }
});

describe("decommissionNode outside a cluster", () => {
  it("is refused in standalone mode (NotCluster) and without a node id (ConfigError)", async () => {
    await using storage = await SmartStorage.createAndStart({ ephemeral: true });
    await assert.rejects(storage.decommissionNode("n2"), (e: unknown) => (e as { code?: string }).code === "NotCluster");
    await assert.rejects(storage.decommissionNode(""), ConfigError);
  });
});
