// Headless Chromium against an auth-enabled ruststorage engine.
//
// A page served from its own origin (a local http server on another port)
// uploads a body with `fetch` to a presigned PUT URL and reads the object back
// anonymously (public-read bucket policy); the bucket's CORS rules allow the
// page's origin and expose ETag. Run with tests/browser/run.sh.
//
// A second page holds a plain HTML <form method="post" enctype="multipart/form-data">
// with the fields of a presigned POST (`@aws-sdk/s3-presigned-post`) and a file input:
// Chromium submits it (POST Object), the engine redirects (success_action_redirect)
// to a page on the page server, and the object is checked with the SDK.
//
// Environment: SMARTSTORAGE_BINARY (engine, default rust/target/release/ruststorage),
// CHROMIUM_PATH (default /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  CreateBucketCommand,
  PutBucketCorsCommand,
  PutBucketPolicyCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { chromium } from 'playwright-core';
import { BINARY, CHROMIUM, CHROMIUM_ARGS, s3Client, startEngine, stopEngine } from './support.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const ACCESS_KEY = 'AKIDBROWSERTEST';
const SECRET_KEY = 'browser/test+secret/0123456789abcdefghij';
const BUCKET = `browser-${randomBytes(6).toString('hex')}`;

const tmp = mkdtempSync(path.join(tmpdir(), 'smartstorage-browser-'));
let engine;
let endpoint;
let pageServer;
let pageOrigin;
let context;
let s3;

// The upload form the page server serves at /form (set by a test), and where the
// engine sends the browser after a POST upload (/done).
let uploadForm = '';

const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function formPage(action, fields) {
  const hidden = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('\n    ');
  return `<!doctype html><html><body>
  <form id="upload" method="post" action="${escapeHtml(action)}" enctype="multipart/form-data">
    ${hidden}
    <input type="file" name="file">
    <button type="submit">Upload</button>
  </form></body></html>`;
}

function startPageServer() {
  const html = readFileSync(path.join(here, 'page.html'));
  return new Promise((resolve) => {
    const srv = createServer((req, res) => {
      if (req.url === '/' || req.url === '/index.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(html);
      } else if (req.url === '/form') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(uploadForm);
      } else if (req.url.startsWith('/done?')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><p id="done">uploaded</p>');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

before(async () => {
  assert.ok(existsSync(BINARY), `engine binary ${BINARY} is missing (build it or set SMARTSTORAGE_BINARY)`);
  ({ proc: engine, endpoint } = await startEngine({
    directory: path.join(tmp, 'storage'),
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    expect: { endpoint: /^ruststorage listening on (http:\/\/127\.0\.0\.1:\d+)/ },
  }));
  pageServer = await startPageServer();
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  assert.notEqual(new URL(pageOrigin).port, new URL(endpoint).port);

  s3 = s3Client(endpoint, ACCESS_KEY, SECRET_KEY);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await s3.send(new PutBucketCorsCommand({
    Bucket: BUCKET,
    CORSConfiguration: {
      CORSRules: [{
        AllowedOrigins: [pageOrigin],
        AllowedMethods: ['GET', 'PUT', 'HEAD'],
        AllowedHeaders: ['*'],
        ExposeHeaders: ['ETag'],
        MaxAgeSeconds: 5,
      }],
    },
  }));
  await s3.send(new PutBucketPolicyCommand({
    Bucket: BUCKET,
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'PublicRead',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${BUCKET}/*`,
      }],
    }),
  }));

  context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (pageServer) await new Promise((r) => pageServer.close(r));
  await stopEngine(engine);
  if (s3) s3.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

async function openPage() {
  const page = await context.newPage();
  const resp = await page.goto(`${pageOrigin}/index.html`);
  assert.equal(resp.status(), 200);
  return page;
}

test('page on another origin uploads via presigned PUT and reads the object anonymously', async () => {
  const key = 'uploads/hello from chromium.txt';
  const body = `hello from headless chromium ${randomBytes(8).toString('hex')}\n`;
  const md5 = createHash('md5').update(body).digest('hex');
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: BUCKET, Key: key }), { expiresIn: 300 });
  assert.match(putUrl, /X-Amz-Signature=/);
  const publicUrl = `${endpoint}/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`;

  const page = await openPage();
  try {
    const r = await page.evaluate(
      ([u, p, b]) => globalThis.uploadAndRead(u, p, b),
      [putUrl, publicUrl, body],
    );
    assert.equal(r.putStatus, 200, `presigned PUT failed: ${r.putStatus} ${r.putBody}`);
    assert.equal(r.putEtag, `"${md5}"`, 'ETag of the PUT response (exposed via ExposeHeaders)');
    assert.equal(r.getStatus, 200);
    assert.equal(r.text, body);
    assert.equal(r.etag, `"${md5}"`, 'ETag of the anonymous GET (exposed via ExposeHeaders)');
    assert.equal(await page.textContent('#status'), 'done');
  } finally {
    await page.close();
  }

  // the signed owner sees the same bytes
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  assert.equal(await got.Body.transformToString(), body);
});

test('the browser blocks what the CORS rules and the policy do not allow', async () => {
  const page = await openPage();
  try {
    // DELETE is not an allowed CORS method: the preflight fails, fetch rejects
    const del = await page.evaluate(
      (u) => globalThis.tryFetch(u, { method: 'DELETE' }),
      `${endpoint}/${BUCKET}/uploads/anything.txt`,
    );
    assert.equal(del.ok, false, `cross-origin DELETE should be blocked by CORS: ${JSON.stringify(del)}`);

    // an unsigned PUT passes the preflight but the policy only grants GetObject:
    // 403 (or a rejected fetch, if the error response carries no CORS headers)
    const put = await page.evaluate(
      (u) => globalThis.tryFetch(u, { method: 'PUT', body: 'anonymous', headers: { 'Content-Type': 'text/plain' } }),
      `${endpoint}/${BUCKET}/uploads/anonymous.txt`,
    );
    assert.ok(!put.ok || put.status === 403, `anonymous PUT must be denied: ${JSON.stringify(put)}`);
  } finally {
    await page.close();
  }
  await assert.rejects(
    s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'uploads/anonymous.txt' })),
    (e) => e.$metadata?.httpStatusCode === 404,
  );
});

test('a plain HTML form posts a file (POST Object) and the browser lands on success_action_redirect', async () => {
  const done = `${pageOrigin}/done`;
  const { url, fields } = await createPresignedPost(s3, {
    Bucket: BUCKET,
    Key: 'forms/${filename}',
    Conditions: [
      ['starts-with', '$key', 'forms/'],
      ['content-length-range', 1, 1024 * 1024],
      ['starts-with', '$Content-Type', 'text/'],
      { success_action_redirect: done },
    ],
    Fields: { success_action_redirect: done, 'Content-Type': 'text/plain' },
    Expires: 300,
  });
  uploadForm = formPage(url, fields);
  const body = `form upload from chromium ${randomBytes(8).toString('hex')}\n`;
  const md5 = createHash('md5').update(body).digest('hex');

  const page = await context.newPage();
  try {
    assert.equal((await page.goto(`${pageOrigin}/form`)).status(), 200);
    await page.setInputFiles('input[type=file]', {
      name: 'note from the browser.txt', mimeType: 'text/plain', buffer: Buffer.from(body),
    });
    await Promise.all([page.waitForURL(/\/done\?/), page.click('button[type=submit]')]);
    const landed = new URL(page.url());
    assert.equal(landed.origin + landed.pathname, done);
    assert.equal(landed.searchParams.get('bucket'), BUCKET);
    assert.equal(landed.searchParams.get('key'), 'forms/note from the browser.txt');
    assert.equal(landed.searchParams.get('etag'), `"${md5}"`);
    assert.equal(await page.textContent('#done'), 'uploaded');
  } finally {
    await page.close();
  }
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'forms/note from the browser.txt' }));
  assert.equal(got.ContentType, 'text/plain');
  assert.equal(await got.Body.transformToString(), body);
});
