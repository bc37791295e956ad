// The web console (rust/console/) in headless Chromium against an auth-enabled
// ruststorage engine started with `--console-port 0`.
//
// One signed-in page walks the main flow in order (each test builds on the previous
// one): sign-in, create a bucket, upload 20 MiB (multipart) through the file input,
// browse into a folder, download, edit the bucket policy, delete two objects, stats.
// Separate contexts check the 375 px layout and the dark scheme, and a page on another
// origin checks that the console cannot be framed or read cross-origin.
//
// Environment: SMARTSTORAGE_BINARY (engine, default rust/target/release/ruststorage),
// CHROMIUM_PATH (default /usr/bin/chromium), SMARTSTORAGE_TEST_ARTIFACTS (screenshots,
// default .nogit/test-artifacts), UPDATE_README_SCREENSHOT=1 (copies the bucket
// browser screenshot to docs/console.png). SMARTSTORAGE_CONSOLE_ASSETS is passed on
// to the engine (serve the assets from a folder instead of the compiled-in copies).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { chromium } from 'playwright-core';
import { BINARY, CHROMIUM, CHROMIUM_ARGS, repo, s3Client, startEngine, stopEngine } from './support.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const ARTIFACTS = path.join(process.env.SMARTSTORAGE_TEST_ARTIFACTS || path.join(repo, '.nogit/test-artifacts'), 'console');
const ASSETS = path.join(repo, 'rust/console');
const ACCESS_KEY = 'AKIDCONSOLETEST';
const SECRET_KEY = 'console/test+secret/0123456789abcdefghij';
const BUCKET = `console-${randomBytes(5).toString('hex')}`;
const BIG = randomBytes(20 * 1024 * 1024); // > 8 MiB: multipart, 3 parts
const BIG_NAME = 'random 20MiB.bin';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const tmp = mkdtempSync(path.join(tmpdir(), 'smartstorage-console-'));
let engine;
let endpoint; // S3 port
let consoleUrl; // console origin
let pageServer;
let pageOrigin;
let browser;
let page; // the signed-in page of the main flow
let s3;
const problems = []; // page errors and CSP violations, asserted empty at the end

/** Another origin: a page framing the console, and a blank page to fetch from. */
function startPageServer() {
  return new Promise((resolve) => {
    const srv = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      if (req.url === '/frame') res.end(`<!doctype html><iframe id="f" src="${consoleUrl}/_console/"></iframe>`);
      else res.end('<!doctype html><p>other origin</p>');
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

function watch(p) {
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  p.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  p.setDefaultTimeout(20000);
  return p;
}

async function newPage(options = {}) {
  const ctx = await browser.newContext({ acceptDownloads: true, ...options });
  return { ctx, page: watch(await ctx.newPage()) };
}

async function signIn(p) {
  await p.goto(`${consoleUrl}/_console/`);
  await p.fill('#access-key', ACCESS_KEY);
  await p.fill('#secret-key', SECRET_KEY);
  await p.click('#signin-submit');
  await p.waitForSelector('#create-bucket-form');
}

async function screenshot(p, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await p.screenshot({ path: file, fullPage: true });
  return file;
}

/** Polls a synchronous condition (50 ms steps) for what no event announces. */
async function until(cond, ms = 10000) {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${cond}`);
  }
}

const row = (key) => page.locator(`[data-testid=object-row][data-key="${key}"]`);

before(async () => {
  assert.ok(existsSync(BINARY), `engine binary ${BINARY} is missing (build it or set SMARTSTORAGE_BINARY)`);
  ({ proc: engine, endpoint, consoleUrl } = await startEngine({
    directory: path.join(tmp, 'storage'),
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    args: ['--console-port', '0'],
    expect: {
      endpoint: /^ruststorage listening on (http:\/\/127\.0\.0\.1:\d+)/,
      consoleUrl: /^console: open (http:\/\/127\.0\.0\.1:\d+)\/_console\//,
    },
  }));
  pageServer = await startPageServer();
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  s3 = s3Client(endpoint, ACCESS_KEY, SECRET_KEY);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  ({ page } = await newPage({ viewport: { width: 1100, height: 800 }, colorScheme: 'light' }));
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (pageServer) await new Promise((r) => pageServer.close(r));
  await stopEngine(engine);
  if (s3) s3.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

test('assets: aws4fetch is the pinned npm copy, the four files stay small', () => {
  const vendored = readFileSync(path.join(ASSETS, 'aws4fetch.esm.js'));
  const pinned = readFileSync(path.join(here, 'node_modules/aws4fetch/dist/aws4fetch.esm.mjs'));
  assert.ok(vendored.equals(pinned), 'rust/console/aws4fetch.esm.js differs from node_modules/aws4fetch');
  const total = ['index.html', 'app.js', 'style.css', 'aws4fetch.esm.js']
    .reduce((n, f) => n + statSync(path.join(ASSETS, f)).size, 0);
  assert.ok(total < 200 * 1024, `console assets are ${total} bytes`);
});

test('console port: security headers, / redirects to the console', async () => {
  const res = await fetch(`${consoleUrl}/_console/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const root = await fetch(`${consoleUrl}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/_console/');
});

test('sign-in: a wrong secret shows the error; keyboard-only sign-in reaches the buckets', async () => {
  await page.goto(`${consoleUrl}/_console/`);
  await page.fill('#access-key', ACCESS_KEY);
  await page.fill('#secret-key', 'not-the-secret');
  await page.click('#signin-submit');
  await page.waitForFunction(() => (document.querySelector('#signin-error')?.textContent ?? '').length > 0);
  assert.match(await page.textContent('#signin-error'), /SignatureDoesNotMatch|AccessDenied|403/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing stored after a refused sign-in');

  // keyboard only: focus the key field, type, Tab, type, Enter
  await page.focus('#access-key');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(ACCESS_KEY);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'secret-key');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(SECRET_KEY);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#create-bucket-form');
  assert.equal(await page.isVisible('#signout'), true);
  assert.equal(await page.isVisible('#nav-stats'), true, 'admin sees the stats link');
  // credentials live in sessionStorage only, never in the URL or localStorage
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.ok(!page.url().includes(SECRET_KEY));
});

test('buckets: create through the UI, invalid names show the S3 error', async () => {
  await page.fill('#new-bucket-name', 'Not_A_Valid_Name');
  await page.click('#create-bucket');
  await page.waitForFunction(() => /InvalidBucketName/.test(document.querySelector('#bucket-msg')?.textContent ?? ''));

  await page.fill('#new-bucket-name', BUCKET);
  await page.click('#create-bucket');
  await page.waitForSelector(`[data-testid=bucket-row][data-bucket="${BUCKET}"]`);
  assert.match(await page.textContent('#bucket-msg'), /created/);
  await screenshot(page, 'buckets');
});

test('upload: 20 MiB through the file input, with a progress bar, multipart', async () => {
  await page.click(`[data-testid=bucket-row][data-bucket="${BUCKET}"] a[href^="#/b/"]`);
  await page.waitForSelector('#file-input');
  // record every value the <progress> takes (its value property reflects an attribute)
  await page.evaluate(() => {
    globalThis.progressValues = [];
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.target.localName === 'progress') globalThis.progressValues.push(Number(r.target.value));
      }
    }).observe(document.querySelector('#uploads'), { subtree: true, attributes: true, attributeFilter: ['value'] });
  });
  await page.setInputFiles('#file-input', { name: BIG_NAME, mimeType: 'application/octet-stream', buffer: BIG });
  const bar = page.locator('[data-testid=upload-progress]');
  await bar.waitFor({ state: 'visible' });
  await page.waitForFunction(() => /done|failed/.test(document.querySelector('[data-testid=upload-state]')?.textContent ?? ''), null, { timeout: 45000 });
  assert.equal(await page.textContent('[data-testid=upload-state]'), 'done');
  assert.equal(Number(await bar.getAttribute('value')), BIG.length);
  assert.equal(Number(await bar.getAttribute('max')), BIG.length);
  assert.equal(await page.textContent('[data-testid=upload-percent]'), '100%');
  const values = await page.evaluate(() => globalThis.progressValues);
  const intermediate = values.filter((v) => v > 0 && v < BIG.length);
  // each 8 MiB part's XHR ends with an upload progress event: at least 8 and 16 MiB
  assert.ok(intermediate.length >= 2, `intermediate progress values: ${JSON.stringify(values)}`);

  await row(BIG_NAME).waitFor();
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: BIG_NAME }));
  assert.equal(sha256(Buffer.from(await got.Body.transformToByteArray())), sha256(BIG));
});

test('browse: the object is listed, a folder opens and shows its content', async () => {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'dir/inner note.txt', Body: 'inside the folder\n' }));
  await page.click('#refresh');
  const folder = page.locator('[data-testid=folder-row][data-prefix="dir/"] a');
  await folder.waitFor();
  assert.match(await row(BIG_NAME).textContent(), /20\.0 MiB/);
  await screenshot(page, 'browser');
  if (process.env.UPDATE_README_SCREENSHOT === '1') {
    copyFileSync(path.join(ARTIFACTS, 'browser.png'), path.join(repo, 'docs/console.png'));
  }
  await folder.click();
  await row('dir/inner note.txt').waitFor();
  assert.match(page.url(), /#\/b\/[^?]+\?prefix=dir%2F$/);
  assert.match(await page.textContent('[data-testid=breadcrumb]'), /dir/);
  await page.click(`[data-testid=breadcrumb] a[href="#/b/${BUCKET}"]`);
  await row(BIG_NAME).waitFor();
});

test('upload: a file dropped on the drop zone, its name full of URL-special characters', async () => {
  const name = 'dropped ü+&=?#%;.txt';
  await page.evaluate((n) => {
    const dt = new DataTransfer();
    dt.items.add(new File([`dropped ${n}`], n, { type: 'text/plain' }));
    document.querySelector('[data-testid=dropzone]').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, name);
  await row(name).waitFor();
  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: name }));
  assert.equal(head.ContentLength, Buffer.byteLength(`dropped ${name}`));
  assert.equal(head.ContentType, 'text/plain');

  // its object page (HEAD through the hash route) and its download name
  await row(name).locator('th a').click();
  await page.waitForSelector('.props');
  assert.match(await page.textContent('.props'), /text\/plain/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#object-download')]);
  assert.equal(download.suggestedFilename(), name.replace('?', '_')); // Chromium's file-name rule
  assert.equal(readFileSync(await download.path(), 'utf8'), `dropped ${name}`);
  await page.click(`[data-testid=breadcrumb] a[href="#/b/${BUCKET}"]`);
  await row(BIG_NAME).waitFor();
});

test('browse: pages of 100 keys, "Load more" fetches the rest', async () => {
  const keys = Array.from({ length: 101 }, (_, i) => `many/${String(i).padStart(3, '0')}.txt`);
  for (let i = 0; i < keys.length; i += 25) {
    await Promise.all(keys.slice(i, i + 25).map((Key) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Key }))));
  }
  await page.click('#refresh');
  await page.click('[data-testid=folder-row][data-prefix="many/"] a');
  await row('many/099.txt').waitFor();
  assert.equal(await page.locator('[data-testid=object-row]').count(), 100);
  await page.click('#load-more');
  await row('many/100.txt').waitFor();
  assert.equal(await page.locator('[data-testid=object-row]').count(), 101);
  assert.equal(await page.isVisible('#load-more'), false);
  await page.click(`[data-testid=breadcrumb] a[href="#/b/${BUCKET}"]`);
  await row(BIG_NAME).waitFor();
});

test('download: the browser saves the same bytes', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row(BIG_NAME).locator('[data-testid=download]').click(),
  ]);
  assert.equal(download.suggestedFilename(), BIG_NAME);
  const file = await download.path();
  assert.equal(sha256(readFileSync(file)), sha256(BIG));

  // "Copy link": a presigned GET on the S3 port, valid 1 hour, shown in a field too
  await row(BIG_NAME).locator('[data-testid=copy-link]').click();
  await page.waitForFunction(() => (document.querySelector('#link-output')?.value ?? '').length > 0);
  const link = await page.inputValue('#link-output');
  assert.ok(link.startsWith(`${endpoint}/${BUCKET}/`), link);
  assert.match(link, /X-Amz-Expires=3600&/);
  const res = await fetch(link); // no policy yet: only the signature lets this through
  assert.equal(res.status, 200);
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(BIG));
});

test('settings: a public-read bucket policy saved in the UI opens anonymous GETs', async () => {
  const objectUrl = `${endpoint}/${BUCKET}/dir/inner%20note.txt`;
  assert.equal((await fetch(objectUrl)).status, 403, 'anonymous GET before the policy');
  await page.click('#bucket-settings');
  await page.waitForFunction(() => /No bucket policy/.test(document.querySelector('#policy-msg')?.textContent ?? ''));
  await page.fill('#policy-text', JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${BUCKET}/*` }],
  }));
  await page.click('#policy-save');
  await page.waitForFunction(() => /saved|Not saved/.test(document.querySelector('#policy-msg')?.textContent ?? ''));
  assert.match(await page.textContent('#policy-msg'), /saved/);
  assert.doesNotMatch(await page.textContent('#policy-msg'), /Not saved/);
  const res = await fetch(objectUrl);
  assert.equal(res.status, 200, 'anonymous GET after the policy');
  assert.equal(await res.text(), 'inside the folder\n');
});

test('delete: two objects selected with the checkboxes are gone', async () => {
  for (const key of ['a.txt', 'b.txt']) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));
  await page.click(`[data-testid=breadcrumb] a[href="#/b/${BUCKET}"]`);
  await row('a.txt').waitFor();
  await row('a.txt').locator('input[type=checkbox]').check();
  await row('b.txt').locator('input[type=checkbox]').check();
  // Escape closes the confirmation without deleting
  await page.click('#delete-selected');
  await page.waitForSelector('#confirm-dialog[open]');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#confirm-dialog', { state: 'hidden' });
  assert.equal(await row('a.txt').count(), 1);

  await page.click('#delete-selected');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => /Deleted 2 objects/.test(document.querySelector('#browser-msg')?.textContent ?? ''));
  await row('a.txt').waitFor({ state: 'detached' });
  assert.equal(await row('b.txt').count(), 0);
  assert.equal(await row(BIG_NAME).count(), 1);
  for (const key of ['a.txt', 'b.txt']) {
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), (e) => e.$metadata?.httpStatusCode === 404);
  }
});

test('stats: the bucket and the request-rate chart', async () => {
  await page.click('#nav-stats');
  await page.waitForSelector(`[data-testid=stats-bucket-row][data-bucket="${BUCKET}"]`);
  await page.waitForSelector('#rate-chart');
  await page.waitForSelector('#rate-chart polyline', { state: 'attached', timeout: 8000 }); // after the second sample
  assert.match(await page.textContent('[data-testid=health]'), /Drives/);
  await screenshot(page, 'stats');
  await page.click('#nav-buckets');
  await page.waitForSelector('#create-bucket-form');
});

test('layout: no horizontal scroll at 375 px; the dark scheme changes the palette', async () => {
  const { ctx, page: narrow } = await newPage({ viewport: { width: 375, height: 700 }, colorScheme: 'light' });
  try {
    await signIn(narrow);
    await narrow.waitForSelector(`[data-testid=bucket-row][data-bucket="${BUCKET}"]`);
    assert.ok(await narrow.evaluate(() => document.documentElement.scrollWidth) <= 375, 'buckets page fits 375 px');
    await screenshot(narrow, 'mobile-375');
    await narrow.click(`[data-testid=bucket-row][data-bucket="${BUCKET}"] a[href^="#/b/"]`);
    await narrow.waitForSelector(`[data-testid=object-row][data-key="${BIG_NAME}"]`);
    assert.ok(await narrow.evaluate(() => document.documentElement.scrollWidth) <= 375, 'bucket browser fits 375 px');

    const bg = () => narrow.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await bg();
    await narrow.emulateMedia({ colorScheme: 'dark' });
    const dark = await bg();
    assert.notEqual(dark, light);

    await narrow.click('#signout');
    await narrow.waitForSelector('#signin-form');
    assert.equal(await narrow.evaluate(() => sessionStorage.length), 0, 'sign-out clears the credentials');
  } finally {
    await ctx.close();
  }
});

test('security: the console cannot be framed nor read from another origin', async () => {
  // not watched: Chromium logs the refused frame in this page's console, as it should
  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  try {
    // (a) X-Frame-Options: DENY / frame-ancestors 'none': Chromium shows its error page
    await other.goto(`${pageOrigin}/frame`);
    await other.waitForSelector('#f');
    const frameUrl = () => other.frames().filter((f) => f !== other.mainFrame()).map((f) => f.url())[0] || '';
    await until(() => !['', 'about:blank'].includes(frameUrl()));
    assert.equal(frameUrl(), 'chrome-error://chromewebdata/', 'the framed console must not load');

    // (b) no CORS on the console port: the other origin cannot read its answers
    const results = await other.evaluate(async (base) => {
      const tryFetch = (url, init) => fetch(url, init).then((r) => `read ${r.status}`, (e) => `${e.name}`);
      return [
        await tryFetch(`${base}/_console/api/overview`),
        await tryFetch(`${base}/`, { credentials: 'include' }),
        await tryFetch(`${base}/_console/api/info`),
      ];
    }, consoleUrl);
    assert.deepEqual(results, ['TypeError', 'TypeError', 'TypeError']);
  } finally {
    await ctx.close();
  }
  assert.deepEqual(problems, [], 'no page errors or CSP violations');
});
