/**
 * HTTPS (rustls in the engine): descriptor, @aws-sdk/client-s3 trusting exactly
 * the served certificate, start errors, plain HTTP on the HTTPS port, a separate
 * HTTPS port, and certificate replacement without a restart.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { SmartStorage } from "../src/smart_storage.ts";
import { ConfigError, SmartStorageError } from "../src/errors.ts";
import { afterAll, beforeAll, describe, it } from "./harness.ts";
import {
  bodyBytes,
  generateCertificate,
  httpsStatusTrusting,
  pseudoRandomBytes,
  startTestServer,
  tlsS3ClientFor,
  uniqueName,
} from "./helpers.ts";

const MiB = 1024 * 1024;
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Resolves with how a promise settled and how long it took. */
async function settle(promise: Promise<unknown>): Promise<{ ok: boolean; value?: unknown; error?: unknown; ms: number }> {
  const t0 = Date.now();
  try {
    const value = await promise;
    return { ok: true, value, ms: Date.now() - t0 };
  } catch (error) {
    return { ok: false, error, ms: Date.now() - t0 };
  }
}

describe("TLS: HTTPS on the main port (self-signed)", () => {
  let storage: SmartStorage;
  let workDir = "";

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "smartstorage-tls-"));
    storage = await startTestServer({ server: { tls: true } });
  });

  afterAll(async () => {
    await storage?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it("getS3Descriptor() names the HTTPS endpoint and carries the served certificate", async () => {
    const info = storage.info!;
    assert.equal(info.useSsl, true);
    assert.equal(info.tlsPort, null);
    assert.match(info.certificatePem ?? "", /^-----BEGIN CERTIFICATE-----\n/);
    const d = await storage.getS3Descriptor();
    assert.equal(d.useSsl, true);
    assert.equal(d.port, info.port);
    assert.equal(d.endpoint, "127.0.0.1");
    assert.equal(d.caCertificatePem, info.certificatePem);
    assert.equal(storage.certificatePem, info.certificatePem);
    assert.equal(storage.endpointUrl, `https://127.0.0.1:${info.port}`);
  });

  it("@aws-sdk/client-s3 trusting only the certificate: PutObject, a 64 MiB Upload stream, GetObject", async () => {
    const { s3, kind, close } = await tlsS3ClientFor(storage, "native");
    try {
      const bucket = uniqueName("tls");
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "hello.txt", Body: "hello over TLS" }));
      const small = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "hello.txt" }));
      assert.equal(text(await bodyBytes(small.Body)), "hello over TLS", kind);

      // 64 MiB as a web stream of 1 MiB chunks, hashed while it is produced.
      const chunks = 64;
      const sent = createHash("sha256");
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (i === chunks) {
            controller.close();
            return;
          }
          const chunk = pseudoRandomBytes(MiB, i + 1);
          sent.update(chunk);
          controller.enqueue(chunk);
          i += 1;
        },
      });
      const upload = new Upload({
        client: s3,
        params: { Bucket: bucket, Key: "big.bin", Body: body, ContentType: "application/octet-stream" },
        partSize: 8 * MiB,
        queueSize: 4,
      });
      await upload.done();
      const sentDigest = sent.digest("hex");

      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "big.bin" }));
      assert.equal(head.ContentLength, chunks * MiB);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin" }));
      const bytes = await bodyBytes(got.Body);
      assert.equal(bytes.length, chunks * MiB);
      assert.equal(createHash("sha256").update(bytes).digest("hex"), sentDigest, `same bytes back (${kind})`);
    } finally {
      close();
    }
  }, { timeoutMs: 180_000 });

  it("NodeHttpHandler with https.Agent({ ca }) works on this runtime too", async () => {
    const { s3, close } = await tlsS3ClientFor(storage, "node-agent");
    try {
      const bucket = uniqueName("tls-agent");
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "via agent" }));
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "k" }));
      assert.equal(text(await bodyBytes(res.Body)), "via agent");
    } finally {
      close();
    }
  });

  it("a client that does not trust the certificate is refused (verification stays on)", async () => {
    const d = await storage.getS3Descriptor();
    const s3 = new S3Client({
      endpoint: storage.endpointUrl,
      region: d.region,
      forcePathStyle: true,
      credentials: { accessKeyId: d.accessKey, secretAccessKey: d.accessSecret },
      maxAttempts: 1,
    });
    try {
      const result = await settle(s3.send(new ListBucketsCommand({})));
      assert.equal(result.ok, false, "an untrusted self-signed certificate must fail verification");
      const e = result.error as { $metadata?: { httpStatusCode?: number } };
      assert.equal(e.$metadata?.httpStatusCode, undefined, `no HTTP answer got through: ${String(result.error)}`);
    } finally {
      s3.destroy();
    }
  });

  it("plain HTTP to the HTTPS port fails quickly instead of hanging", async () => {
    const url = `http://127.0.0.1:${storage.info!.port}/`;
    const result = await settle(
      fetch(url, { signal: AbortSignal.timeout(10_000) }).then(async (res) => {
        const body = await res.arrayBuffer();
        return { status: res.status, bytes: body.byteLength };
      }),
    );
    assert.ok(result.ms < 5_000, `settled after ${result.ms} ms`);
    if (result.ok) {
      // A client lenient enough to read the TLS alert as a response must still not see a success.
      const { status } = result.value as { status: number };
      assert.ok(status < 200 || status >= 300, `plain HTTP got ${status}`);
    } else {
      const name = (result.error as Error).name;
      assert.notEqual(name, "TimeoutError", "the request must fail by itself, not by our timeout");
    }
  });

  it("replaceTlsCertificate({ selfSigned: true }): new connections see the new certificate", async () => {
    const url = `${storage.endpointUrl}/`;
    const oldPem = (await storage.getS3Descriptor()).caCertificatePem!;
    assert.ok((await httpsStatusTrusting(url, oldPem)) > 0, "the old certificate verifies before the swap");

    const { certificatePem: newPem } = await storage.replaceTlsCertificate({ selfSigned: true });
    assert.match(newPem, /BEGIN CERTIFICATE/);
    assert.notEqual(newPem, oldPem);
    assert.equal((await storage.getS3Descriptor()).caCertificatePem, newPem, "the descriptor follows");
    assert.equal(storage.certificatePem, newPem);

    const withOld = await settle(httpsStatusTrusting(url, oldPem));
    assert.equal(withOld.ok, false, "the old certificate no longer verifies on a new connection");
    const withNew = await httpsStatusTrusting(url, newPem);
    assert.ok(withNew >= 200 && withNew < 500, `new certificate verifies (status ${withNew})`);

    // The S3 client built from the new descriptor works.
    const { s3, close } = await tlsS3ClientFor(storage);
    try {
      const res = await s3.send(new ListBucketsCommand({}));
      assert.ok(Array.isArray(res.Buckets));
    } finally {
      close();
    }
  });

  it("replaceTlsCertificate() with PEM text and with files; an invalid pair is refused and the old one stays", async () => {
    const url = `${storage.endpointUrl}/`;
    const fromPem = generateCertificate("from pem");
    const r1 = await storage.replaceTlsCertificate({ certPem: fromPem.certPem, keyPem: fromPem.keyPem });
    assert.equal(r1.certificatePem.trim(), fromPem.certPem.trim());
    assert.ok((await httpsStatusTrusting(url, fromPem.certPem)) > 0);

    const fromFiles = generateCertificate("from files");
    const certPath = join(workDir, "cert.pem");
    const keyPath = join(workDir, "key.pem");
    await writeFile(certPath, fromFiles.certPem);
    await writeFile(keyPath, fromFiles.keyPem);
    const r2 = await storage.replaceTlsCertificate({ certPath, keyPath });
    assert.equal(r2.certificatePem.trim(), fromFiles.certPem.trim());
    assert.ok((await httpsStatusTrusting(url, fromFiles.certPem)) > 0);

    // A certificate with somebody else's key: refused, the served one stays.
    const other = generateCertificate("other");
    await assert.rejects(
      storage.replaceTlsCertificate({ certPem: other.certPem, keyPem: fromPem.keyPem }),
      (err: unknown) => err instanceof SmartStorageError && err.code === "InvalidCertificate",
    );
    await assert.rejects(
      storage.replaceTlsCertificate({ certPath: join(workDir, "missing.pem"), keyPath }),
      (err: unknown) => err instanceof SmartStorageError && err.code === "InvalidCertificate",
    );
    assert.equal(storage.certificatePem?.trim(), fromFiles.certPem.trim());
    assert.ok((await httpsStatusTrusting(url, fromFiles.certPem)) > 0, "the old pair is still served");

    // Malformed arguments are refused before anything is sent.
    await assert.rejects(
      storage.replaceTlsCertificate({ certPem: "x" } as never),
      (err: unknown) => err instanceof ConfigError,
    );
  });
});

describe("TLS: configuration and failures", () => {
  let workDir = "";

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "smartstorage-tls-cfg-"));
  });

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("server.tls with certPath/keyPath files serves that certificate", async () => {
    const pair = generateCertificate("files at start");
    const certPath = join(workDir, "start-cert.pem");
    const keyPath = join(workDir, "start-key.pem");
    await writeFile(certPath, pair.certPem);
    await writeFile(keyPath, pair.keyPem);
    const storage = await startTestServer({ server: { tls: { certPath, keyPath } } });
    try {
      const d = await storage.getS3Descriptor();
      assert.equal(d.caCertificatePem?.trim(), pair.certPem.trim());
      const { s3, close } = await tlsS3ClientFor(storage);
      try {
        const bucket = uniqueName("tls-files");
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a", Body: "b" }));
      } finally {
        close();
      }
    } finally {
      await storage.stop();
    }
  });

  it("a missing certificate file fails start() at once with a message naming the path", async () => {
    const certPath = join(workDir, "does-not-exist.pem");
    const storage = new SmartStorage({ ephemeral: true, server: { tls: { certPath, keyPath: certPath } } });
    const result = await settle(storage.start());
    assert.equal(result.ok, false);
    assert.ok(result.ms < 5_000, `failed after ${result.ms} ms`);
    const err = result.error as SmartStorageError;
    assert.ok(err instanceof SmartStorageError, String(err));
    assert.equal(err.code, "InvalidConfig");
    assert.ok(err.message.includes(certPath), err.message);
    assert.equal(storage.running, false);
    await storage.stop();
  });

  it("an invalid PEM fails start() with InvalidConfig", async () => {
    const storage = new SmartStorage({ ephemeral: true, server: { tls: { certPem: "not a pem", keyPem: "nope" } } });
    await assert.rejects(
      storage.start(),
      (err: unknown) => err instanceof SmartStorageError && err.code === "InvalidConfig",
    );
    await storage.stop();
  });

  it("the config is checked before start: mixed or incomplete tls, bad tls.port", () => {
    const bad: unknown[] = [
      { certPath: "a.pem" },
      { certPem: "x", keyPem: "y", selfSigned: true },
      { selfSigned: false },
      { selfSigned: true, port: 70000 },
      { selfSigned: true, nonsense: 1 },
    ];
    for (const tls of bad) {
      assert.throws(
        () => new SmartStorage({ server: { tls: tls as never } }),
        ConfigError,
        JSON.stringify(tls),
      );
    }
  });

  it("with tls.port: plain HTTP on info.port, HTTPS on tlsPort, the descriptor gives HTTPS", async () => {
    const storage = await startTestServer({ server: { tls: { selfSigned: true, port: 0 } } });
    try {
      const info = storage.info!;
      assert.equal(info.useSsl, false);
      assert.equal(typeof info.tlsPort, "number");
      assert.notEqual(info.tlsPort, info.port);
      const d = await storage.getS3Descriptor();
      assert.equal(d.useSsl, true);
      assert.equal(d.port, info.tlsPort);
      assert.equal(storage.endpointUrl, `https://127.0.0.1:${info.tlsPort}`);

      const plain = await fetch(`http://127.0.0.1:${info.port}/`);
      await plain.body?.cancel();
      assert.ok(plain.status >= 200 && plain.status < 500, `plain HTTP answers (${plain.status})`);

      const { s3, close } = await tlsS3ClientFor(storage);
      try {
        const bucket = uniqueName("tls-port");
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        const res = await s3.send(new ListBucketsCommand({}));
        assert.ok(res.Buckets?.some((b) => b.Name === bucket));
      } finally {
        close();
      }
    } finally {
      await storage.stop();
    }
  });

  it("replaceTlsCertificate() on a server without TLS fails with TlsNotEnabled", async () => {
    const storage = await startTestServer();
    try {
      const d = await storage.getS3Descriptor();
      assert.equal(d.useSsl, false);
      assert.equal(d.caCertificatePem, undefined);
      assert.equal(storage.certificatePem, undefined);
      await assert.rejects(
        storage.replaceTlsCertificate({ selfSigned: true }),
        (err: unknown) => err instanceof SmartStorageError && err.code === "TlsNotEnabled",
      );
    } finally {
      await storage.stop();
    }
  });
});
