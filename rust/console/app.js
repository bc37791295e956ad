// smartstorage web console: a single-page app (hash routing) over the S3 API that the
// console port answers on its own origin. Every request is SigV4-signed in the browser
// with aws4fetch; the credentials live in sessionStorage only (never in URLs or logs).
// The page runs under a strict CSP (no inline script/style), and object names are
// attacker-controlled, so all data enters the DOM as text: never innerHTML.
import { AwsClient } from './aws4fetch.esm.js';

const CREDS_KEY = 'smartstorage.console.credentials';
const PAGE_SIZE = 100;
const PART_SIZE = 8 * 1024 * 1024; // also the single-PUT limit
const LINK_EXPIRES = 3600; // "copy link": 1 hour
const DOWNLOAD_EXPIRES = 300; // download links are used at once
const STATS_INTERVAL_MS = 2000;
const CHART_SAMPLES = 61; // 60 rates
const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const state = {
  info: null, // GET /_console/api/info
  client: null, // AwsClient once signed in
  identity: null,
  admin: false,
  gen: 0, // bumped on every route change; async work checks it before rendering
  cleanup: [], // run when leaving a view (timers)
  uploads: 0, // in flight: warn before unloading the page
};

// ---------------------------------------------------------------- DOM helpers

const $ = (sel, root = document) => root.querySelector(sel);

/** Builds an element. Strings in children become text nodes (never parsed as HTML). */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || (v === false && !(k in el))) continue;
    if (k === 'testid') el.dataset.testid = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k.startsWith('aria-') || k.startsWith('data-') || !(k in el)) el.setAttribute(k, v === true ? '' : v);
    else el[k] = v;
  }
  return append(el, children);
}

function append(parent, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    parent.append(c instanceof Node ? c : String(c));
  }
  return parent;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** Replaces the page content. */
function show(...children) {
  const main = $('#app');
  main.replaceChildren();
  append(main, children);
}

function field(label, input, hint) {
  return h('div', { class: 'field' }, h('label', { htmlFor: input.id }, label), input, hint && h('small', { class: 'muted' }, hint));
}

function button(label, onclick, props = {}) {
  return h('button', { type: 'button', onclick, ...props }, label);
}

/** A message line for one form; polite live region so screen readers hear results. */
function msgLine(id) {
  return h('p', { id, class: 'msg', testid: id, 'aria-live': 'polite' });
}

function setMsg(el, text, kind = 'ok') {
  el.textContent = text;
  el.className = `msg ${kind}`;
}

/** Global status line (top of the page). */
function say(text, kind = 'ok') {
  $('#status').textContent = text;
  $('#status').className = `status ${kind}`;
}

function tableWrap(headers, rows, props = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', props,
      h('thead', null, h('tr', null, headers.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows)));
}

function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

// ---------------------------------------------------------------- formatting

function fmtBytes(n) {
  n = Number(n);
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${units[i]}`;
}

const fmtNum = (n) => (n == null || !Number.isFinite(Number(n)) ? '—' : Number(n).toLocaleString());

function fmtDate(s) {
  if (!s) return '—';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : d.toLocaleString();
}

function fmtDuration(sec) {
  sec = Math.floor(Number(sec) || 0);
  const d = Math.floor(sec / 86400), hh = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60);
  return d ? `${d}d ${hh}h ${m}m` : hh ? `${hh}h ${m}m` : m ? `${m}m ${sec % 60}s` : `${sec % 60}s`;
}

/** Formats an unknown field by its name: *Bytes as sizes, *Ms as milliseconds. */
function fmtField(key, v) {
  if (v == null) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.every((x) => typeof x !== 'object') ? v.join(', ') || '—' : JSON.stringify(v);
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'number' && /bytes$/i.test(key)) return fmtBytes(v);
  if (typeof v === 'number' && /ms$/i.test(key)) return `${v.toFixed(v < 10 ? 2 : 0)} ms`;
  if (typeof v === 'number') return fmtNum(v);
  if (/At$/.test(key)) return fmtDate(v);
  return String(v);
}

const baseName = (key) => key.replace(/\/$/, '').split('/').pop() + (key.endsWith('/') ? '/' : '');

// ---------------------------------------------------------------- S3 access

class S3Error extends Error {
  constructor(status, code, detail) {
    super(`${code}: ${detail}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

const errText = (e) => (e instanceof S3Error ? `${e.code}: ${e.detail}` : String(e && e.message ? e.message : e));

const parseXml = (text) => new DOMParser().parseFromString(text, 'application/xml');
const kids = (node, tag) => [...node.children].filter((c) => c.localName === tag);
const childText = (node, tag) => { const c = kids(node, tag)[0]; return c ? c.textContent : null; };
const xmlText = (doc, tag) => { const n = doc.getElementsByTagNameNS('*', tag)[0]; return n ? n.textContent : null; };
const xmlEscape = (s) => String(s).replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The S3 error document (XML), the console API's {"error"}, or just the status. */
function errorFrom(status, text, statusText = '') {
  let code = status === 404 ? 'NotFound' : status === 403 ? 'AccessDenied' : `HTTP ${status}`;
  let detail = statusText || 'request failed';
  const t = (text || '').trim();
  if (t.startsWith('<')) {
    const doc = parseXml(t);
    code = xmlText(doc, 'Code') || code;
    detail = xmlText(doc, 'Message') || detail;
  } else if (t.startsWith('{')) {
    try {
      const j = JSON.parse(t);
      // {"error": "Code", "message": "..."} or just {"error": "..."}
      if (j.message) code = j.code || j.error || code;
      detail = j.message || j.error || detail;
    } catch { /* not JSON after all */ }
  }
  return new S3Error(status, code, detail);
}

/** Percent-encodes like SigV4's canonical form (RFC 3986 unreserved kept). */
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * A path-style URL. query: {name: value}; `true` gives a bare subresource (`?delete`).
 * The query string is written by hand (%20, not '+') so it is sent as signed.
 */
function s3Url(bucket, key, query = {}, origin = location.origin) {
  let path = `/${enc(bucket)}`;
  if (key != null) path += `/${key.split('/').map(enc).join('/')}`;
  const qs = Object.entries(query)
    .filter(([, v]) => v != null && v !== false)
    .map(([k, v]) => (v === true ? enc(k) : `${enc(k)}=${enc(String(v))}`))
    .join('&');
  return origin + path + (qs ? `?${qs}` : '');
}

/** The S3 endpoint (its own port), for links handed to other people/tools. */
function s3Origin() {
  const s3 = (state.info && state.info.s3) || {};
  const proto = s3.tls === true ? 'https:' : s3.tls === false ? 'http:' : location.protocol;
  return s3.port ? `${proto}//${location.hostname}:${s3.port}` : location.origin;
}

/** A signed fetch; non-2xx (unless listed in `ok`) throws an S3Error. */
async function s3(method, url, { headers = {}, body, ok = [] } = {}) {
  const res = await state.client.fetch(url, { method, headers, body, cache: 'no-store' });
  if (!res.ok && !ok.includes(res.status)) throw errorFrom(res.status, method === 'HEAD' ? '' : await res.text(), res.statusText);
  return res;
}

async function s3Xml(method, url, opts) {
  const res = await s3(method, url, opts);
  return parseXml(await res.text());
}

async function consoleApi(path) {
  const res = await state.client.fetch(location.origin + path, { cache: 'no-store' });
  if (!res.ok) throw errorFrom(res.status, await res.text(), res.statusText);
  return res.json();
}

/** DeleteObjects and config PUTs need an integrity header: SHA-256 of the body. */
async function checksumHeaders(body) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body)));
  return {
    'x-amz-checksum-sha256': btoa(String.fromCharCode(...digest)),
    'x-amz-sdk-checksum-algorithm': 'SHA256',
  };
}

/** A presigned GET (query-string signature), usable without our credentials. */
async function presignGet(bucket, key, { expires, disposition, versionId, origin } = {}) {
  const query = { 'response-content-disposition': disposition, versionId, 'X-Amz-Expires': expires };
  const req = await state.client.sign(s3Url(bucket, key, query, origin), { method: 'GET', aws: { signQuery: true } });
  return req.url;
}

function attachmentHeader(name) {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${enc(name)}`;
}

/** Downloads via a signed link: the browser streams it to disk, no buffering in JS. */
async function download(bucket, key, versionId) {
  const name = baseName(key).replace(/\/$/, '') || 'download';
  const url = await presignGet(bucket, key, { expires: DOWNLOAD_EXPIRES, disposition: attachmentHeader(name), versionId });
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

/** PUT with XMLHttpRequest, for upload progress events fetch does not have. */
async function xhrPut(url, headers, body, onProgress) {
  const signed = await state.client.sign(url, { method: 'PUT', headers });
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', signed.url);
    signed.headers.forEach((v, k) => {
      if (k !== 'host' && k !== 'content-length') xhr.setRequestHeader(k, v);
    });
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300
      ? resolve({ etag: xhr.getResponseHeader('ETag') })
      : reject(errorFrom(xhr.status, xhr.responseText, xhr.statusText)));
    xhr.onerror = () => reject(new S3Error(0, 'NetworkError', 'the upload was interrupted'));
    xhr.send(body);
  });
}

async function uploadMultipart(bucket, key, file, onProgress) {
  const type = file.type || 'application/octet-stream';
  const created = await s3Xml('POST', s3Url(bucket, key, { uploads: true }), { headers: { 'Content-Type': type } });
  const uploadId = xmlText(created, 'UploadId');
  if (!uploadId) throw new S3Error(0, 'InvalidResponse', 'no UploadId in the CreateMultipartUpload answer');
  try {
    const parts = [];
    for (let n = 1, off = 0; off < file.size; n++, off += PART_SIZE) {
      const part = file.slice(off, off + PART_SIZE);
      const { etag } = await xhrPut(s3Url(bucket, key, { partNumber: n, uploadId }), {}, part, (loaded) => onProgress(off + loaded));
      if (!etag) throw new S3Error(0, 'InvalidResponse', `no ETag for part ${n}`);
      parts.push(`<Part><PartNumber>${n}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`);
    }
    const body = `<CompleteMultipartUpload xmlns="${S3_XMLNS}">${parts.join('')}</CompleteMultipartUpload>`;
    const res = await s3('POST', s3Url(bucket, key, { uploadId }), { body, headers: { 'Content-Type': 'application/xml' } });
    // CompleteMultipartUpload may answer 200 and still carry an <Error>
    const text = await res.text();
    if (/<Error>/.test(text)) throw errorFrom(500, text);
  } catch (e) {
    await s3('DELETE', s3Url(bucket, key, { uploadId })).catch(() => {});
    throw e;
  }
}

async function uploadFile(bucket, key, file, onProgress) {
  if (file.size <= PART_SIZE) {
    await xhrPut(s3Url(bucket, key), { 'Content-Type': file.type || 'application/octet-stream' }, file, onProgress);
  } else {
    await uploadMultipart(bucket, key, file, onProgress);
  }
}

// ---------------------------------------------------------------- session

function makeClient({ accessKeyId, secretAccessKey }) {
  const region = (state.info && state.info.region) || 'us-east-1';
  return new AwsClient({ accessKeyId, secretAccessKey, service: 's3', region, retries: 0 });
}

/** Verifies the credentials with a signed overview request; throws on refusal. */
async function startSession(creds) {
  state.client = makeClient(creds);
  try {
    const overview = await consoleApi('/_console/api/overview');
    state.identity = overview.identity || {};
    state.admin = Boolean(state.identity.admin || overview.server);
    return overview;
  } catch (e) {
    state.client = null;
    throw e;
  }
}

function loadCreds() {
  try {
    const c = JSON.parse(sessionStorage.getItem(CREDS_KEY) || 'null');
    return c && c.accessKeyId && c.secretAccessKey ? c : null;
  } catch {
    return null;
  }
}

function signOut() {
  sessionStorage.removeItem(CREDS_KEY);
  state.client = null;
  state.identity = null;
  state.admin = false;
  say('Signed out.');
  if (location.hash && location.hash !== '#/') location.hash = '#/'; // hashchange routes
  else route();
}

function updateHeader() {
  const signedIn = Boolean(state.client);
  $('#nav').hidden = !signedIn;
  $('#nav-stats').hidden = !state.admin;
  const authOn = !state.info || state.info.authEnabled !== false;
  $('#signout').hidden = !signedIn || !authOn;
  const id = state.identity || {};
  $('#whoami').textContent = signedIn ? [id.displayName, id.accessKeyId].filter(Boolean).join(' · ') : '';
  const path = location.hash.startsWith('#/stats') ? '#/stats' : '#/';
  for (const a of $('#nav').querySelectorAll('a')) {
    if (a.getAttribute('href') === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---------------------------------------------------------------- router

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const segs = path.split('/').slice(1).map((s) => { try { return decodeURIComponent(s); } catch { return s; } });
  return { segs, params };
}

const hrefBucket = (bucket, prefix) => `#/b/${enc(bucket)}${prefix ? `?prefix=${enc(prefix)}` : ''}`;
const hrefSettings = (bucket) => `#/b/${enc(bucket)}/settings`;
const hrefObject = (bucket, key) => `#/o/${enc(bucket)}/${key.split('/').map(enc).join('/')}`;

function route() {
  for (const fn of state.cleanup.splice(0)) fn();
  if ($('#confirm-dialog').open) $('#confirm-dialog').close(); // it belonged to the old view
  const gen = ++state.gen;
  const ctx = { alive: () => gen === state.gen };
  updateHeader();
  if (!state.client) return viewSignIn();
  const { segs, params } = parseHash();
  let work;
  if (segs[0] === 'b' && segs[1] && segs[2] === 'settings') work = viewSettings(ctx, segs[1]);
  else if (segs[0] === 'b' && segs[1]) work = viewBrowser(ctx, segs[1], params.get('prefix') || '');
  else if (segs[0] === 'o' && segs[1] && segs.length > 2) work = viewObject(ctx, segs[1], segs.slice(2).join('/'));
  else if (segs[0] === 'stats') work = viewStats(ctx);
  else work = viewBuckets(ctx);
  Promise.resolve(work).catch((e) => { if (ctx.alive()) say(errText(e), 'error'); });
}

/** Moves focus to the new page's heading so keyboard and screen reader users follow. */
function focusTitle() {
  const t = $('#app h1');
  if (t && document.activeElement === document.body) t.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- dialogs

function confirmDialog(text, okLabel = 'Delete') {
  const dlg = $('#confirm-dialog');
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = okLabel;
  dlg.returnValue = '';
  dlg.showModal();
  $('#confirm-cancel').focus();
  // Escape closes a modal <dialog> natively (returnValue stays '')
  return new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true }));
}

// ---------------------------------------------------------------- views: sign-in

function viewSignIn() {
  const key = h('input', { id: 'access-key', name: 'accessKeyId', autocomplete: 'username', required: true, spellcheck: false, autocapitalize: 'off' });
  const secret = h('input', { id: 'secret-key', name: 'secretAccessKey', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { id: 'signin-error', class: 'msg error', role: 'alert', testid: 'signin-error' });
  const submit = h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { id: 'signin-form', class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', tabIndex: -1 }, 'Sign in'),
    h('p', { class: 'muted' }, 'Use an access key of this server. The secret stays in this browser tab (session storage) and signs each request; it is never sent.'),
    field('Access key ID', key), field('Secret access key', secret), err, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    const creds = { accessKeyId: key.value.trim(), secretAccessKey: secret.value };
    try {
      await startSession(creds);
      sessionStorage.setItem(CREDS_KEY, JSON.stringify(creds));
      say('');
      route();
    } catch (ex) {
      err.textContent = `Sign-in failed: ${errText(ex)}`;
      submit.disabled = false;
      secret.select();
    }
  });
  show(form);
  key.focus();
}

// ---------------------------------------------------------------- views: buckets

async function viewBuckets(ctx) {
  const name = h('input', { id: 'new-bucket-name', name: 'bucket', required: true, autocomplete: 'off', spellcheck: false, autocapitalize: 'off', placeholder: 'my-bucket' });
  const msg = msgLine('bucket-msg');
  const list = h('div', { id: 'bucket-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const form = h('form', { id: 'create-bucket-form', class: 'row wrap' },
    field('New bucket name', name), h('button', { type: 'submit', id: 'create-bucket' }, 'Create bucket'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const bucket = name.value.trim();
    const region = state.info.region || 'us-east-1';
    const body = region === 'us-east-1' ? undefined
      : `<CreateBucketConfiguration xmlns="${S3_XMLNS}"><LocationConstraint>${xmlEscape(region)}</LocationConstraint></CreateBucketConfiguration>`;
    try {
      await s3('PUT', s3Url(bucket), { body });
      setMsg(msg, `Bucket “${bucket}” created.`);
      name.value = '';
      await renderBucketList(ctx, list, msg);
    } catch (ex) {
      setMsg(msg, `Could not create “${bucket}”: ${errText(ex)}`, 'error');
    }
  });
  show(h('h1', { tabIndex: -1 }, 'Buckets'), form, msg, list);
  focusTitle();
  await renderBucketList(ctx, list, msg);
}

async function renderBucketList(ctx, host, msg) {
  const overview = await consoleApi('/_console/api/overview');
  if (!ctx.alive()) return;
  const buckets = overview.buckets || [];
  if (!buckets.length) {
    host.replaceChildren(h('p', { class: 'muted', testid: 'no-buckets' }, 'No buckets yet.'));
    return;
  }
  const rows = buckets.map((b) => h('tr', { testid: 'bucket-row', 'data-bucket': b.name },
    h('th', { scope: 'row' }, h('a', { href: hrefBucket(b.name) }, b.name)),
    h('td', { class: 'num' }, fmtNum(b.objectCount)),
    h('td', { class: 'num' }, fmtBytes(b.totalBytes)),
    h('td', { class: 'date' }, fmtDate(b.creationDate)),
    h('td', null, bucketFlags(b)),
    h('td', { class: 'actions' },
      h('a', { href: hrefSettings(b.name), class: 'button secondary', 'aria-label': `Settings of ${b.name}` }, 'Settings'),
      button('Delete', () => deleteBucket(ctx, b.name, host, msg), { class: 'danger', 'aria-label': `Delete bucket ${b.name}`, testid: 'delete-bucket' }))));
  host.replaceChildren(tableWrap(['Name', 'Objects', 'Size', 'Created', 'Configuration', 'Actions'], rows, { id: 'buckets-table' }));
}

function bucketFlags(b) {
  const flags = [];
  if (b.versioning) flags.push(badge(`versioning ${b.versioning.toLowerCase()}`, b.versioning === 'Enabled' ? 'on' : ''));
  if (b.hasPolicy) flags.push(badge('policy'));
  if (b.hasCors) flags.push(badge('CORS'));
  if (b.objectLock) flags.push(badge('object lock', 'on'));
  if (b.hasLifecycle) flags.push(badge('lifecycle'));
  return flags.length ? h('span', { class: 'badges' }, flags) : h('span', { class: 'muted' }, '—');
}

async function deleteBucket(ctx, bucket, host, msg) {
  if (!(await confirmDialog(`Delete the bucket “${bucket}”? Only an empty bucket can be deleted.`))) return;
  try {
    await s3('DELETE', s3Url(bucket));
    setMsg(msg, `Bucket “${bucket}” deleted.`);
    await renderBucketList(ctx, host, msg);
  } catch (e) {
    setMsg(msg, `Could not delete “${bucket}”: ${errText(e)}`, 'error');
  }
}

// ---------------------------------------------------------------- views: bucket browser

function breadcrumb(bucket, prefix, last) {
  const crumbs = [h('a', { href: '#/' }, 'Buckets'), h('a', { href: hrefBucket(bucket) }, bucket)];
  let acc = '';
  for (const part of prefix.split('/').filter((p, i, a) => i < a.length - 1 || p)) {
    acc += `${part}/`;
    crumbs.push(h('a', { href: hrefBucket(bucket, acc) }, part || '(empty)'));
  }
  if (last) crumbs.push(h('span', { 'aria-current': 'page' }, last));
  else crumbs[crumbs.length - 1].setAttribute('aria-current', 'page');
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb', testid: 'breadcrumb' },
    h('ol', null, crumbs.map((c) => h('li', null, c))));
}

async function viewBrowser(ctx, bucket, prefix) {
  const msg = msgLine('browser-msg');
  const selected = new Set();
  const tbody = h('tbody', { id: 'objects' });
  const more = button('Load more', () => loadPage(more.dataset.token), { id: 'load-more', class: 'secondary', hidden: true });
  const delSel = button('Delete selected', () => deleteSelected(), { id: 'delete-selected', class: 'danger', disabled: true });
  const selectAll = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all objects on this page' });
  const linkOut = h('input', { id: 'link-output', readOnly: true, testid: 'link-output' });
  const linkBox = h('div', { class: 'linkbox', hidden: true }, field('Link (valid 1 hour)', linkOut));
  const uploads = h('ul', { id: 'uploads', class: 'uploads', 'aria-label': 'Uploads' });

  const refreshSelection = () => {
    delSel.disabled = selected.size === 0;
    delSel.textContent = selected.size ? `Delete selected (${selected.size})` : 'Delete selected';
    const boxes = [...tbody.querySelectorAll('input[type=checkbox]')];
    selectAll.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  };
  selectAll.addEventListener('change', () => {
    for (const box of tbody.querySelectorAll('input[type=checkbox]')) {
      box.checked = selectAll.checked;
      if (box.checked) selected.add(box.dataset.key); else selected.delete(box.dataset.key);
    }
    refreshSelection();
  });

  const objectRow = (o) => {
    const name = o.key.slice(prefix.length) || '(folder marker)';
    const box = h('input', { type: 'checkbox', 'data-key': o.key, 'aria-label': `Select ${name}`, testid: 'select-object' });
    box.addEventListener('change', () => {
      if (box.checked) selected.add(o.key); else selected.delete(o.key);
      refreshSelection();
    });
    return h('tr', { testid: 'object-row', 'data-key': o.key },
      h('td', { class: 'check' }, box),
      h('th', { scope: 'row' }, h('a', { href: hrefObject(bucket, o.key) }, name)),
      h('td', { class: 'num' }, fmtBytes(o.size)),
      h('td', { class: 'date' }, fmtDate(o.lastModified)),
      h('td', { class: 'actions' },
        button('Download', () => download(bucket, o.key).catch((e) => setMsg(msg, errText(e), 'error')),
          { class: 'secondary', 'aria-label': `Download ${name}`, testid: 'download' }),
        button('Copy link', () => copyLink(bucket, o.key, linkBox, linkOut, msg),
          { class: 'secondary', 'aria-label': `Copy link to ${name}`, testid: 'copy-link' })));
  };
  const folderRow = (p) => h('tr', { testid: 'folder-row', 'data-prefix': p },
    h('td', { class: 'check' }),
    h('th', { scope: 'row' }, h('a', { href: hrefBucket(bucket, p), class: 'folder' }, p.slice(prefix.length))),
    h('td', { class: 'num muted' }, '—'), h('td', { class: 'muted' }, 'folder'), h('td'));

  async function loadPage(token) {
    more.disabled = true;
    try {
      const doc = await s3Xml('GET', s3Url(bucket, null, {
        'list-type': 2, delimiter: '/', 'max-keys': PAGE_SIZE, prefix, 'continuation-token': token || null,
      }));
      if (!ctx.alive()) return;
      const root = doc.documentElement;
      if (!token) tbody.replaceChildren();
      for (const cp of kids(root, 'CommonPrefixes')) tbody.append(folderRow(childText(cp, 'Prefix') || ''));
      for (const c of kids(root, 'Contents')) {
        tbody.append(objectRow({ key: childText(c, 'Key') || '', size: childText(c, 'Size'), lastModified: childText(c, 'LastModified') }));
      }
      if (!tbody.children.length) tbody.append(h('tr', null, h('td', { colSpan: 5, class: 'muted empty' }, prefix ? 'This folder is empty.' : 'This bucket is empty.')));
      const next = childText(root, 'NextContinuationToken');
      more.hidden = !(childText(root, 'IsTruncated') === 'true' && next);
      more.dataset.token = next || '';
      refreshSelection();
    } catch (e) {
      if (ctx.alive()) setMsg(msg, `Listing failed: ${errText(e)}`, 'error');
    } finally {
      more.disabled = false;
    }
  }

  const reload = () => { selected.clear(); return loadPage(); };

  async function deleteSelected() {
    const keys = [...selected];
    if (!keys.length || !(await confirmDialog(`Delete ${keys.length} object${keys.length > 1 ? 's' : ''}? This cannot be undone (unless versioning keeps older versions).`))) return;
    try {
      const failed = [];
      for (let i = 0; i < keys.length; i += 1000) {
        const objects = keys.slice(i, i + 1000).map((k) => `<Object><Key>${xmlEscape(k)}</Key></Object>`).join('');
        const body = `<Delete xmlns="${S3_XMLNS}"><Quiet>true</Quiet>${objects}</Delete>`;
        const doc = await s3Xml('POST', s3Url(bucket, null, { delete: true }), { body, headers: { 'Content-Type': 'application/xml', ...(await checksumHeaders(body)) } });
        for (const err of kids(doc.documentElement, 'Error')) failed.push(`${childText(err, 'Key')}: ${childText(err, 'Code')} ${childText(err, 'Message') || ''}`);
      }
      if (failed.length) setMsg(msg, `${failed.length} not deleted: ${failed.join('; ')}`, 'error');
      else setMsg(msg, `Deleted ${keys.length} object${keys.length > 1 ? 's' : ''}.`);
    } catch (e) {
      setMsg(msg, `Delete failed: ${errText(e)}`, 'error');
    }
    await reload();
  }

  const upload = uploadPanel(bucket, prefix, uploads, msg, () => ctx.alive() && reload());

  show(
    breadcrumb(bucket, prefix),
    h('div', { class: 'row wrap between' },
      h('h1', { tabIndex: -1 }, prefix ? baseName(prefix) : bucket),
      h('div', { class: 'row wrap' },
        button('Refresh', () => reload(), { class: 'secondary', id: 'refresh' }),
        h('a', { href: hrefSettings(bucket), class: 'button secondary', id: 'bucket-settings' }, 'Bucket settings'))),
    upload, uploads, msg, linkBox,
    h('div', { class: 'row wrap' }, delSel),
    h('div', { class: 'table-wrap' }, h('table', { id: 'objects-table' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col', class: 'check' }, selectAll),
        ['Name', 'Size', 'Last modified', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)),
    h('div', { class: 'row' }, more));
  focusTitle();
  await loadPage();
}

async function copyLink(bucket, key, box, out, msg) {
  try {
    const url = await presignGet(bucket, key, { expires: LINK_EXPIRES, origin: s3Origin() });
    out.value = url;
    box.hidden = false;
    try {
      await navigator.clipboard.writeText(url);
      setMsg(msg, 'Link copied to the clipboard (valid for 1 hour).');
    } catch {
      setMsg(msg, 'Copy the link from the field below (valid for 1 hour).');
    }
    out.focus();
    out.select();
  } catch (e) {
    setMsg(msg, errText(e), 'error');
  }
}

// ---------------------------------------------------------------- components: upload

function uploadPanel(bucket, prefix, list, msg, done) {
  const input = h('input', { type: 'file', id: 'file-input', multiple: true, testid: 'file-input' });
  const zone = h('div', { class: 'dropzone', testid: 'dropzone' },
    h('p', null, `Drop files here to upload them to ${prefix ? `“${prefix}”` : 'the bucket root'}, or`),
    h('label', { htmlFor: input.id, class: 'file-label' }, 'Choose files: '), input);
  const start = async (files) => {
    files = [...files];
    if (!files.length) return;
    let ok = 0;
    for (const file of files) {
      if (await uploadOne(bucket, prefix + file.name, file, list)) ok++;
    }
    if (ok) setMsg(msg, `Uploaded ${ok} of ${files.length} file${files.length > 1 ? 's' : ''}.`, ok === files.length ? 'ok' : 'error');
    else setMsg(msg, 'Upload failed.', 'error');
    done();
  };
  input.addEventListener('change', () => { start(input.files); input.value = ''; });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    start(e.dataTransfer.files);
  });
  return zone;
}

async function uploadOne(bucket, key, file, list) {
  const max = Math.max(file.size, 1);
  const bar = h('progress', { max, value: 0, testid: 'upload-progress', 'aria-label': `Upload of ${file.name}` });
  const pct = h('span', { class: 'pct', testid: 'upload-percent' }, '0%');
  const status = h('span', { class: 'muted', testid: 'upload-state' }, file.size > PART_SIZE ? 'multipart' : '');
  list.append(h('li', { testid: 'upload-item', 'data-key': key },
    h('span', { class: 'upload-name' }, file.name), h('span', { class: 'muted' }, fmtBytes(file.size)), bar, pct, status));
  const progress = (loaded) => {
    bar.value = Math.min(loaded, max);
    pct.textContent = `${Math.floor((bar.value / max) * 100)}%`;
  };
  state.uploads++;
  try {
    await uploadFile(bucket, key, file, progress);
    progress(max);
    status.textContent = 'done';
    status.className = 'ok';
    return true;
  } catch (e) {
    status.textContent = `failed: ${errText(e)}`;
    status.className = 'error';
    return false;
  } finally {
    state.uploads--;
  }
}

// ---------------------------------------------------------------- views: bucket settings

async function viewSettings(ctx, bucket) {
  const versioning = settingsVersioning(bucket);
  const policy = settingsText(bucket, {
    id: 'policy', title: 'Bucket policy', noun: 'bucket policy', sub: 'policy', empty: 'NoSuchBucketPolicy', label: 'Policy (JSON)',
    validate: (t) => { JSON.parse(t); },
    pretty: (t) => { try { return JSON.stringify(JSON.parse(t), null, 2); } catch { return t; } },
    template: () => JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }],
    }, null, 2),
    templateLabel: 'Public-read template',
  });
  const cors = settingsText(bucket, {
    id: 'cors', title: 'CORS', noun: 'CORS configuration', sub: 'cors', empty: 'NoSuchCORSConfiguration', label: 'CORS configuration (XML)',
    validate: (t) => { if (parseXml(t).getElementsByTagName('parsererror').length) throw new Error('not well-formed XML'); },
    pretty: (t) => t,
    template: () => `<CORSConfiguration xmlns="${S3_XMLNS}">\n  <CORSRule>\n    <AllowedOrigin>https://example.com</AllowedOrigin>\n    <AllowedMethod>GET</AllowedMethod>\n    <AllowedMethod>PUT</AllowedMethod>\n    <AllowedHeader>*</AllowedHeader>\n    <ExposeHeader>ETag</ExposeHeader>\n    <MaxAgeSeconds>3600</MaxAgeSeconds>\n  </CORSRule>\n</CORSConfiguration>`,
    templateLabel: 'Example rule',
  });
  show(breadcrumb(bucket, '', 'Settings'), h('h1', { tabIndex: -1 }, `Settings of ${bucket}`),
    versioning.el, policy.el, cors.el);
  focusTitle();
  await Promise.all([versioning.load(ctx), policy.load(ctx), cors.load(ctx)]);
}

function settingsVersioning(bucket) {
  const select = h('select', { id: 'versioning-select' },
    h('option', { value: '', disabled: true }, 'Never enabled'),
    h('option', { value: 'Enabled' }, 'Enabled'),
    h('option', { value: 'Suspended' }, 'Suspended'));
  const msg = msgLine('versioning-msg');
  const save = h('button', { type: 'submit', id: 'versioning-save' }, 'Save');
  const form = h('form', { class: 'row wrap end-items' }, field('Versioning', select), save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!select.value) return;
    const body = `<VersioningConfiguration xmlns="${S3_XMLNS}"><Status>${select.value}</Status></VersioningConfiguration>`;
    setMsg(msg, 'Saving…', 'muted');
    try {
      await s3('PUT', s3Url(bucket, null, { versioning: true }), { body, headers: { 'Content-Type': 'application/xml' } });
      setMsg(msg, `Versioning ${select.value.toLowerCase()}.`);
    } catch (ex) {
      setMsg(msg, `Could not change versioning: ${errText(ex)}`, 'error');
    }
  });
  return {
    el: h('section', { class: 'card', 'aria-labelledby': 'versioning-title' }, h('h2', { id: 'versioning-title' }, 'Versioning'), form, msg),
    async load(ctx) {
      try {
        const doc = await s3Xml('GET', s3Url(bucket, null, { versioning: true }));
        if (ctx.alive()) select.value = xmlText(doc, 'Status') || '';
      } catch (e) {
        setMsg(msg, errText(e), 'error');
      }
    },
  };
}

/** A textarea-edited subresource (policy, CORS): Get/Put/Delete, "no such" = empty. */
function settingsText(bucket, o) {
  const area = h('textarea', { id: `${o.id}-text`, rows: 12, spellcheck: false, testid: `${o.id}-text` });
  const msg = msgLine(`${o.id}-msg`);
  const url = () => s3Url(bucket, null, { [o.sub]: true });
  const save = async () => {
    const text = area.value.trim();
    if (!text) return setMsg(msg, 'Nothing to save (use Delete to remove it).', 'error');
    setMsg(msg, 'Saving…', 'muted');
    try {
      o.validate(text);
    } catch (e) {
      return setMsg(msg, `Not saved: ${e.message}`, 'error');
    }
    try {
      const type = o.id === 'policy' ? 'application/json' : 'application/xml';
      await s3('PUT', url(), { body: text, headers: { 'Content-Type': type, ...(await checksumHeaders(text)) } });
      setMsg(msg, `${o.title} saved.`);
    } catch (e) {
      setMsg(msg, `Not saved: ${errText(e)}`, 'error');
    }
  };
  const remove = async () => {
    if (!(await confirmDialog(`Delete the ${o.noun} of “${bucket}”?`))) return;
    try {
      await s3('DELETE', url());
      area.value = '';
      setMsg(msg, `${o.title} deleted.`);
    } catch (e) {
      setMsg(msg, `Not deleted: ${errText(e)}`, 'error');
    }
  };
  return {
    el: h('section', { class: 'card', 'aria-labelledby': `${o.id}-title` },
      h('h2', { id: `${o.id}-title` }, o.title), field(o.label, area),
      h('div', { class: 'row wrap' },
        button('Save', save, { id: `${o.id}-save` }),
        button('Delete', remove, { id: `${o.id}-delete`, class: 'danger' }),
        button(o.templateLabel, () => { area.value = o.template(); area.focus(); }, { id: `${o.id}-template`, class: 'secondary' })),
      msg),
    async load(ctx) {
      try {
        const res = await s3('GET', url(), { ok: [404] });
        const text = await res.text();
        if (!ctx.alive()) return;
        if (res.status === 404) {
          const err = errorFrom(404, text);
          if (err.code !== o.empty) throw err;
          area.value = '';
          setMsg(msg, `No ${o.noun} set.`, 'muted');
        } else {
          area.value = o.pretty(text);
        }
      } catch (e) {
        setMsg(msg, errText(e), 'error');
      }
    },
  };
}

// ---------------------------------------------------------------- views: object

function dl(pairs) {
  return h('dl', { class: 'props' }, pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v == null || v === '' ? '—' : v)]));
}

async function viewObject(ctx, bucket, key) {
  const parent = key.replace(/\/$/, '').split('/').slice(0, -1).join('/');
  const msg = msgLine('object-msg');
  const props = h('section', { class: 'card', 'aria-labelledby': 'props-title' }, h('h2', { id: 'props-title' }, 'Properties'), h('p', { class: 'muted' }, 'Loading…'));
  const tags = h('section', { class: 'card', 'aria-labelledby': 'tags-title' }, h('h2', { id: 'tags-title' }, 'Tags'));
  const versions = h('section', { class: 'card', 'aria-labelledby': 'versions-title' }, h('h2', { id: 'versions-title' }, 'Versions'));
  const linkOut = h('input', { id: 'link-output', readOnly: true, testid: 'link-output' });
  const linkBox = h('div', { class: 'linkbox', hidden: true }, field('Link (valid 1 hour)', linkOut));
  show(breadcrumb(bucket, parent ? `${parent}/` : '', baseName(key)),
    h('h1', { tabIndex: -1, class: 'break' }, baseName(key)),
    h('p', { class: 'muted break' }, `s3://${bucket}/${key}`),
    h('div', { class: 'row wrap' },
      button('Download', () => download(bucket, key).catch((e) => setMsg(msg, errText(e), 'error')), { id: 'object-download' }),
      button('Copy link', () => copyLink(bucket, key, linkBox, linkOut, msg), { id: 'object-copy-link', class: 'secondary' })),
    msg, linkBox, props, tags, versions);
  focusTitle();
  await Promise.all([
    loadProps(ctx, bucket, key, props),
    loadTags(ctx, bucket, key, tags),
    loadVersions(ctx, bucket, key, versions),
  ]);
}

const sectionBody = (section, ...children) => {
  section.replaceChildren(section.firstChild);
  append(section, children);
};

async function loadProps(ctx, bucket, key, section) {
  try {
    const res = await s3('HEAD', s3Url(bucket, key));
    if (!ctx.alive()) return;
    const hd = res.headers;
    const meta = [];
    hd.forEach((v, k) => { if (k.startsWith('x-amz-meta-')) meta.push([k.slice(11), v]); });
    const headerNames = ['x-amz-storage-class', 'x-amz-server-side-encryption', 'cache-control', 'content-encoding',
      'content-disposition', 'x-amz-object-lock-mode', 'x-amz-object-lock-retain-until-date', 'x-amz-object-lock-legal-hold'];
    const extra = [['Version ID', 'x-amz-version-id'], ...headerNames.map((k) => [k, k])]
      .filter(([, k]) => hd.get(k)).map(([label, k]) => [label, hd.get(k)]);
    sectionBody(section,
      dl([
        ['Size', `${fmtBytes(hd.get('content-length'))} (${fmtNum(hd.get('content-length'))} bytes)`],
        ['ETag', hd.get('etag')],
        ['Content-Type', hd.get('content-type')],
        ['Last modified', fmtDate(hd.get('last-modified'))],
        ...extra,
      ]),
      h('h3', null, 'User metadata'),
      meta.length ? dl(meta) : h('p', { class: 'muted' }, 'None.'));
  } catch (e) {
    sectionBody(section, h('p', { class: 'error' }, errText(e)));
  }
}

async function loadTags(ctx, bucket, key, section) {
  try {
    const doc = await s3Xml('GET', s3Url(bucket, key, { tagging: true }));
    if (!ctx.alive()) return;
    const tags = [...doc.getElementsByTagNameNS('*', 'Tag')].map((t) => [childText(t, 'Key'), childText(t, 'Value')]);
    sectionBody(section, tags.length ? dl(tags) : h('p', { class: 'muted' }, 'No tags.'));
  } catch (e) {
    sectionBody(section, h('p', { class: 'error' }, errText(e)));
  }
}

async function loadVersions(ctx, bucket, key, section) {
  try {
    const doc = await s3Xml('GET', s3Url(bucket, null, { versions: true, prefix: key }));
    if (!ctx.alive()) return;
    const root = doc.documentElement;
    const items = [...root.children]
      .filter((c) => (c.localName === 'Version' || c.localName === 'DeleteMarker') && childText(c, 'Key') === key);
    if (!items.length) return sectionBody(section, h('p', { class: 'muted' }, 'No versions listed.'));
    const rows = items.map((v) => {
      const marker = v.localName === 'DeleteMarker';
      const id = childText(v, 'VersionId') || 'null';
      return h('tr', { testid: 'version-row' },
        h('td', { class: 'mono break' }, id),
        h('td', null, childText(v, 'IsLatest') === 'true' ? badge('latest', 'on') : ''),
        h('td', null, marker ? badge('delete marker', 'warn') : 'version'),
        h('td', { class: 'date' }, fmtDate(childText(v, 'LastModified'))),
        h('td', { class: 'num' }, marker ? '—' : fmtBytes(childText(v, 'Size'))),
        h('td', null, marker ? '' : button('Download', () => download(bucket, key, id === 'null' ? undefined : id), { class: 'secondary', 'aria-label': `Download version ${id}` })));
    });
    sectionBody(section, tableWrap(['Version ID', '', 'Type', 'Date', 'Size', ''], rows),
      childText(root, 'IsTruncated') === 'true' ? h('p', { class: 'muted' }, 'More versions exist than are listed here.') : null);
  } catch (e) {
    sectionBody(section, h('p', { class: 'error' }, errText(e)));
  }
}

// ---------------------------------------------------------------- views: stats

async function viewStats(ctx) {
  const body = h('div', { id: 'stats-body' }, h('p', { class: 'muted' }, 'Loading…'));
  const msg = msgLine('stats-msg');
  const samples = []; // {t, total, rx, tx}
  show(h('h1', { tabIndex: -1 }, 'Server statistics'), msg, body);
  focusTitle();
  let timer = null;
  state.cleanup.push(() => clearTimeout(timer));
  const tick = async () => {
    try {
      const overview = await consoleApi('/_console/api/overview');
      if (!ctx.alive()) return;
      if (!overview.server) {
        body.replaceChildren(h('p', null, 'Server statistics are shown to admin identities only.'));
        return; // no polling for non-admins
      }
      const r = overview.server.requests || {};
      samples.push({ t: performance.now(), total: requestTotal(r), rx: Number(r.bytesReceived) || 0, tx: Number(r.bytesSent) || 0 });
      if (samples.length > CHART_SAMPLES) samples.shift();
      renderStats(body, overview.server, samples);
      setMsg(msg, '');
    } catch (e) {
      if (!ctx.alive()) return;
      setMsg(msg, `Refresh failed: ${errText(e)}`, 'error');
    }
    if (ctx.alive()) timer = setTimeout(tick, STATS_INTERVAL_MS);
  };
  await tick();
}

// the contract names the cumulative counter `total`; early engines said `requests`
const requestTotal = (r) => Number(r.total ?? r.requests) || 0;

function renderStats(host, server, samples) {
  const stats = server.stats || {};
  const health = server.health || {};
  host.replaceChildren();
  append(host,
    h('section', { class: 'cards', 'aria-label': 'Totals' },
      card('Buckets', fmtNum(stats.bucketCount)),
      card('Objects', fmtNum(stats.objectCount)),
      card('Stored', fmtBytes(stats.totalBytes)),
      card('Multipart uploads', `${fmtNum(stats.multipartUploadCount)} (${fmtBytes(stats.multipartBytes)})`),
      card('Requests', fmtNum(requestTotal(server.requests || {}))),
      card('Uptime', fmtDuration(server.uptimeSeconds)),
      card('Version', server.version || '—')),
    stats.initialScanComplete === false ? h('p', { class: 'muted' }, 'The initial scan is still running: totals are incomplete.') : null,
    stats.droppedEvents ? h('p', { class: 'error' }, `${fmtNum(stats.droppedEvents)} statistics events were dropped.`) : null,
    rateSection(samples),
    h('section', { class: 'card', 'aria-labelledby': 'loc-title' }, h('h2', { id: 'loc-title' }, 'Storage locations'), locationsTable(stats.storageLocations || [])),
    h('section', { class: 'card', 'aria-labelledby': 'sb-title' }, h('h2', { id: 'sb-title' }, 'Buckets'),
      tableWrap(['Bucket', 'Objects', 'Size'], (stats.buckets || []).map((b) => h('tr', { testid: 'stats-bucket-row', 'data-bucket': b.name },
        h('th', { scope: 'row' }, h('a', { href: hrefBucket(b.name) }, b.name)),
        h('td', { class: 'num' }, fmtNum(b.objectCount)), h('td', { class: 'num' }, fmtBytes(b.totalBytes)))), { id: 'stats-buckets' })),
    healthSection(health));
}

function card(label, value) {
  return h('div', { class: 'stat' }, h('span', { class: 'muted' }, label), h('strong', null, value));
}

function locationsTable(locs) {
  if (!locs.length) return h('p', { class: 'muted' }, 'No locations reported.');
  return tableWrap(['Path', 'Used', 'Free', 'Available'], locs.map((l) => {
    const total = Number(l.totalBytes) || 0;
    const used = Math.max(0, total - (Number(l.freeBytes) || 0));
    return h('tr', null,
      h('th', { scope: 'row', class: 'mono break' }, l.path),
      h('td', null, h('meter', { min: 0, max: total || 1, value: used, high: total * 0.9, optimum: 0, 'aria-label': `Used space of ${l.path}` }),
        ` ${fmtBytes(used)} of ${fmtBytes(total)}${total ? ` (${Math.round((used / total) * 100)}%)` : ''}`),
      h('td', { class: 'num' }, fmtBytes(l.freeBytes)),
      h('td', { class: 'num' }, fmtBytes(l.availableBytes)));
  }));
}

/** Requests/s from the deltas of the cumulative counter, as an SVG polyline. */
function rateSection(samples) {
  const rate = (i, f) => {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    return dt > 0 ? Math.max(0, (samples[i][f] - samples[i - 1][f]) / dt) : 0;
  };
  const rates = samples.slice(1).map((_, i) => rate(i + 1, 'total'));
  const W = 300, H = 80, peak = Math.max(1, ...rates);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'data-testid': 'rate-chart', id: 'rate-chart', preserveAspectRatio: 'none' });
  const title = svg('title');
  title.textContent = `Request rate over the last ${rates.length * 2} seconds; peak ${peak.toFixed(1)} requests per second`;
  chart.append(title);
  for (const y of [0.25, 0.5, 0.75]) chart.append(svg('line', { x1: 0, x2: W, y1: H * y, y2: H * y, class: 'grid' }));
  const step = W / (CHART_SAMPLES - 2);
  const x0 = W - (rates.length - 1) * step;
  const pts = rates.map((r, i) => `${(x0 + i * step).toFixed(1)},${(H - 2 - (r / peak) * (H - 4)).toFixed(1)}`);
  if (pts.length) chart.append(svg('polyline', { points: pts.join(' '), class: 'line' }));
  const n = samples.length - 1;
  const now = n > 0 ? rate(n, 'total') : null;
  return h('section', { class: 'card', 'aria-labelledby': 'rate-title' },
    h('h2', { id: 'rate-title' }, 'Request rate'),
    h('p', { class: 'muted' }, now == null ? 'Collecting samples…'
      : `now ${now.toFixed(1)} req/s · peak ${peak.toFixed(1)} req/s · in ${fmtBytes(rate(n, 'rx'))}/s · out ${fmtBytes(rate(n, 'tx'))}/s`),
    chart);
}

/** Renders rows of objects with columns from the union of their (scalar) keys. */
function autoTable(rows, id) {
  if (!rows || !rows.length) return h('p', { class: 'muted' }, 'None.');
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r || {})))];
  return tableWrap(cols, rows.map((r) => h('tr', null, cols.map((c) => {
    const v = r[c];
    const cls = typeof v === 'string' && /^(online|ok|leader|healthy)$/i.test(v) ? 'good'
      : typeof v === 'string' && /^(offline|failed|down|lost)$/i.test(v) ? 'bad' : '';
    if (c === 'error' && v) return h('td', { class: 'error' }, String(v));
    return h('td', { class: cls }, fmtField(c, v));
  }))), { id });
}

function healthSection(health) {
  const parts = [h('h2', { id: 'health-title' }, 'Health')];
  if (!health.enabled) {
    parts.push(h('p', { class: 'muted' }, 'Standalone server.'), h('h3', null, 'Drives'), autoTable(health.drives, 'health-drives'));
  } else {
    const raft = health.raft || {};
    const scalars = (o) => Object.entries(o || {}).filter(([, v]) => v == null || typeof v !== 'object' || Array.isArray(v));
    parts.push(
      dl([['Node', health.nodeId], ['QUIC port', health.quicPort], ...scalars(raft).map(([k, v]) => [`Raft ${k}`, fmtField(k, v)])]),
      h('h3', null, 'Quorum'), dl(scalars(health.quorum).map(([k, v]) => [k, fmtField(k, v)])),
      h('h3', null, 'Nodes'), autoTable(health.nodes, 'health-nodes'),
      h('h3', null, 'Drives'), autoTable(health.drives, 'health-drives'),
      h('h3', null, 'Erasure sets'), autoTable(health.sets, 'health-sets'),
      h('h3', null, 'Healing'), dl(Object.entries(health.healing || {}).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v)
        ? Object.entries(v).map(([k2, v2]) => [`${k} ${k2}`, fmtField(k2, v2)])
        : [[k, fmtField(k, v)]]))));
    if (Array.isArray(raft.replication) && raft.replication.length) parts.push(h('h3', null, 'Raft replication'), autoTable(raft.replication, 'health-replication'));
  }
  return h('section', { class: 'card', 'aria-labelledby': 'health-title', testid: 'health' }, parts);
}

// ---------------------------------------------------------------- boot

async function boot() {
  $('#signout').addEventListener('click', signOut);
  $('#confirm-ok').addEventListener('click', () => $('#confirm-dialog').close('ok'));
  $('#confirm-cancel').addEventListener('click', () => $('#confirm-dialog').close('cancel'));
  globalThis.addEventListener('beforeunload', (e) => { if (state.uploads > 0) e.preventDefault(); });
  if (!globalThis.crypto || !crypto.subtle) {
    // WebCrypto (needed to sign) exists only in secure contexts: https, or localhost
    show(h('p', { class: 'msg error', role: 'alert' }, 'This page is not a secure context (https or localhost), so the browser offers no WebCrypto to sign requests. Open the console over https or through localhost (e.g. an SSH tunnel).'));
    return;
  }
  try {
    const res = await fetch('/_console/api/info', { cache: 'no-store' });
    if (!res.ok) throw errorFrom(res.status, await res.text(), res.statusText);
    state.info = await res.json();
  } catch (e) {
    show(h('p', { class: 'msg error', role: 'alert' }, `The server did not answer: ${errText(e)}`));
    return;
  }
  const creds = state.info.authEnabled === false
    ? { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' } // auth off: signatures are ignored
    : loadCreds();
  if (creds) {
    try {
      await startSession(creds);
    } catch (e) {
      sessionStorage.removeItem(CREDS_KEY);
      say(`Please sign in again: ${errText(e)}`, 'error');
    }
  }
  globalThis.addEventListener('hashchange', route);
  route();
}

boot();
