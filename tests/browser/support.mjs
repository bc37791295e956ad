// What the browser tests share: the engine they start (and stop), and how Chromium is
// launched. Environment: SMARTSTORAGE_BINARY (engine, default
// rust/target/release/ruststorage), CHROMIUM_PATH (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { S3Client } from '@aws-sdk/client-s3';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const BINARY = process.env.SMARTSTORAGE_BINARY || path.join(repo, 'rust/target/release/ruststorage');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** Headless, no sandbox (CI runs as root), and nothing talking to the network on its own. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Starts `ruststorage serve` on 127.0.0.1 with auth on, and resolves once every pattern
 * of `expect` has matched a stdout line: { proc, log(), <name>: first capture group }.
 */
export function startEngine({ directory, accessKey, secretKey, args = [], expect }) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BINARY, [
      'serve', '--address', '127.0.0.1', '--port', '0', '--directory', directory,
      '--access-key', accessKey, '--secret-key', secretKey, ...args,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stderr.on('data', (d) => { log += d; });
    const timer = setTimeout(() => reject(new Error(`engine did not start; log:\n${log}`)), 30000);
    proc.on('exit', (code) => reject(new Error(`engine exited with ${code}; log:\n${log}`)));
    const found = {};
    createInterface({ input: proc.stdout }).on('line', (line) => {
      log += `[stdout] ${line}\n`;
      for (const [name, pattern] of Object.entries(expect)) {
        const m = pattern.exec(line);
        if (m && found[name] === undefined) found[name] = m[1];
      }
      if (Object.keys(expect).every((name) => found[name] !== undefined)) {
        clearTimeout(timer);
        resolve({ proc, log: () => log, ...found });
      }
    });
  });
}

/** SIGTERM, and waits for the exit. */
export async function stopEngine(proc) {
  if (!proc || proc.exitCode !== null) return;
  proc.removeAllListeners('exit');
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/**
 * @aws-sdk/client-s3 for the engine, path-style, one attempt, checksums only where
 * required (presigned PUT URLs stay free of checksum parameters).
 */
export function s3Client(endpoint, accessKeyId, secretAccessKey) {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}
