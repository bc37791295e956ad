/**
 * Users, ACLs, Object Ownership and Block Public Access through @aws-sdk/client-s3 at
 * default settings, on a server whose credentials name their owners (`owner: { id,
 * displayName }`): each user lists its own buckets, another user's bucket is
 * AccessDenied, `ACL: "public-read"` makes an object readable with a plain `fetch`,
 * BucketOwnerEnforced refuses ACLs, Block Public Access hides what was public, and
 * `replaceCredentials` keeps the owners. The exhaustive cases are in
 * tests/python/test_acl.py.
 */

import assert from "node:assert/strict";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeletePublicAccessBlockCommand,
  GetBucketOwnershipControlsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListBucketsCommand,
  PutBucketOwnershipControlsCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Credential } from "../src/protocol.ts";
import type { SmartStorage } from "../src/smart_storage.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import { assertS3Error, s3ClientAt, startTestServer, uniqueName } from "./helpers.ts";

const ALICE_ID = "a1".repeat(32);
const ALICE: Credential = {
  accessKeyId: "AKIDALICE",
  secretAccessKey: "alice-secret-0123456789",
  owner: { id: ALICE_ID, displayName: "alice" },
};
const BOB: Credential = {
  accessKeyId: "AKIDBOB",
  secretAccessKey: "bob-secret-0123456789",
  owner: { displayName: "bob" },
};
const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";

describe("users and ACLs with @aws-sdk/client-s3", () => {
  let storage: SmartStorage;
  let endpoint = "";
  let region = "";
  let alice: S3Client;
  let bob: S3Client;
  const clients: S3Client[] = [];

  function clientFor(credential: Credential): S3Client {
    const c = s3ClientAt(endpoint, region, credential);
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    storage = await startTestServer({ auth: { enabled: true, credentials: [ALICE, BOB] } });
    const d = await storage.getS3Descriptor();
    endpoint = `http://${d.endpoint}:${d.port}`;
    region = d.region;
    alice = clientFor(ALICE);
    bob = clientFor(BOB);
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await storage?.stop();
  });

  it("each user lists its own buckets, under its own owner", async () => {
    const a = uniqueName("acl-a");
    const b = uniqueName("acl-b");
    await alice.send(new CreateBucketCommand({ Bucket: a }));
    await bob.send(new CreateBucketCommand({ Bucket: b }));
    try {
      const mine = await alice.send(new ListBucketsCommand({}));
      assert.deepEqual(mine.Owner, { ID: ALICE_ID, DisplayName: "alice" });
      const names = (mine.Buckets ?? []).map((x) => x.Name);
      assert.ok(names.includes(a) && !names.includes(b));
      const theirs = await bob.send(new ListBucketsCommand({}));
      assert.match(theirs.Owner?.ID ?? "", /^[0-9a-f]{64}$/);
      assert.equal(theirs.Owner?.DisplayName, "bob");
      await assertS3Error(bob.send(new PutObjectCommand({ Bucket: a, Key: "k", Body: "x" })), "AccessDenied", 403);
      await assertS3Error(bob.send(new CreateBucketCommand({ Bucket: a })), "BucketAlreadyExists", 409);
    } finally {
      await alice.send(new DeleteBucketCommand({ Bucket: a }));
      await bob.send(new DeleteBucketCommand({ Bucket: b }));
    }
  });

  it("a public-read object is readable with a plain fetch; Block Public Access hides it", async () => {
    const bucket = uniqueName("acl-pub");
    await alice.send(new CreateBucketCommand({ Bucket: bucket }));
    try {
      await alice.send(new PutObjectCommand({ Bucket: bucket, Key: "pub", Body: "for all", ACL: "public-read" }));
      await alice.send(new PutObjectCommand({ Bucket: bucket, Key: "mine", Body: "mine" }));
      const open = await fetch(`${endpoint}/${bucket}/pub`);
      assert.equal(open.status, 200);
      assert.equal(await open.text(), "for all");
      const closed = await fetch(`${endpoint}/${bucket}/mine`);
      assert.equal(closed.status, 403);
      await closed.body?.cancel();
      const acl = await alice.send(new GetObjectAclCommand({ Bucket: bucket, Key: "pub" }));
      assert.ok(acl.Grants?.some((g) => g.Grantee?.URI === ALL_USERS && g.Permission === "READ"));
      await assertS3Error(bob.send(new GetObjectCommand({ Bucket: bucket, Key: "mine" })), "AccessDenied", 403);

      await alice.send(
        new PutPublicAccessBlockCommand({
          Bucket: bucket,
          PublicAccessBlockConfiguration: { IgnorePublicAcls: true, BlockPublicAcls: true },
        }),
      );
      const hidden = await fetch(`${endpoint}/${bucket}/pub`);
      assert.equal(hidden.status, 403);
      await hidden.body?.cancel();
      await assertS3Error(
        alice.send(new PutObjectCommand({ Bucket: bucket, Key: "p2", Body: "x", ACL: "public-read" })),
        "AccessDenied",
        403,
      );
      await alice.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
    } finally {
      for (const Key of ["pub", "mine"]) await alice.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
      await alice.send(new DeleteBucketCommand({ Bucket: bucket }));
    }
  });

  it("BucketOwnerEnforced disables ACLs", async () => {
    const bucket = uniqueName("acl-enf");
    await alice.send(new CreateBucketCommand({ Bucket: bucket, ObjectOwnership: "BucketOwnerEnforced" }));
    try {
      const got = await alice.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }));
      assert.equal(got.OwnershipControls?.Rules?.[0]?.ObjectOwnership, "BucketOwnerEnforced");
      await assertS3Error(
        alice.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x", ACL: "public-read" })),
        "AccessControlListNotSupported",
        400,
      );
      await alice.send(
        new PutBucketOwnershipControlsCommand({
          Bucket: bucket,
          OwnershipControls: { Rules: [{ ObjectOwnership: "ObjectWriter" }] },
        }),
      );
      await alice.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "x", ACL: "public-read" }));
      await alice.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k" }));
    } finally {
      await alice.send(new DeleteBucketCommand({ Bucket: bucket }));
    }
  });

  it("replaceCredentials keeps the owners as given", async () => {
    const bucket = uniqueName("acl-rot");
    await bob.send(new CreateBucketCommand({ Bucket: bucket }));
    try {
      const rotated: Credential = { ...BOB, accessKeyId: "AKIDBOBROTATED", secretAccessKey: "bob-rotated-0123456789" };
      await storage.replaceCredentials([ALICE, rotated]);
      const fresh = clientFor(rotated);
      const listed = await fresh.send(new ListBucketsCommand({}));
      assert.ok((listed.Buckets ?? []).some((x) => x.Name === bucket));
      assert.equal(listed.Owner?.DisplayName, "bob");
      await assert.rejects(
        storage.replaceCredentials([{ ...ALICE, owner: { id: ALICE_ID, displayName: "mallory" } }, {
          ...BOB,
          owner: { id: ALICE_ID, displayName: "alice" },
        }]),
        /display names/,
      );
      await assert.rejects(
        storage.replaceCredentials([{ ...ALICE, owner: {} }]),
        /needs an id or a displayName/,
      );
      await fresh.send(new DeleteBucketCommand({ Bucket: bucket }));
    } finally {
      await storage.replaceCredentials([ALICE, BOB]);
    }
  });
});
