/**
 * Spawn adapters: the only runtime-specific code in smartstorage. One adapter per
 * runtime, each using that runtime's own process API (`Deno.Command`,
 * `Bun.spawn`, `node:child_process`), all returning the same
 * {@linkcode SpawnedChild} made of web streams. Everything above this file is
 * runtime-neutral.
 *
 * @module
 */

import { spawn as nodeSpawn } from "node:child_process";
import process from "node:process";
import type { Readable, Writable } from "node:stream";
import { detectRuntime, type Runtime } from "./runtime.ts";

/** How a child process ended. */
export interface ChildExit {
  /** Exit code, or `null` when a signal ended the process. */
  code: number | null;
  /** Name of the signal that ended the process (`"SIGKILL"`), or `null`. */
  signal: string | null;
}

/** A spawned child process, as web streams. */
export interface SpawnedChild {
  /** Process id, if known. */
  readonly pid: number | undefined;
  /** The child's stdin. */
  readonly stdin: WritableStream<Uint8Array>;
  /** The child's stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** The child's stderr. */
  readonly stderr: ReadableStream<Uint8Array>;
  /** Settles when the process has ended; rejects if it could not be started at all. */
  readonly exited: Promise<ChildExit>;
  /**
   * Sends a signal (default `SIGTERM`) to the process and to every process it started
   * (its process group, on Unix); a no-op once the process has ended.
   */
  kill(signal?: "SIGTERM" | "SIGKILL"): void;
}

/** Options for {@linkcode spawnChild}. */
export interface SpawnOptions {
  /** Arguments after the command. */
  args: readonly string[];
  /** Working directory of the child; defaults to the host's. */
  cwd?: string;
  /** Full environment of the child; defaults to the host's. */
  env?: Record<string, string>;
}

/**
 * On Unix every child leads its own process group (each runtime's `detached`: setsid),
 * so that a kill reaches whatever it started too: a killed child must not leave a
 * grandchild holding its pipes open, which would keep the host process alive. It also
 * means a Ctrl-C in the terminal reaches only the host, which then stops the child.
 */
const OWN_GROUP = process.platform !== "win32";

/** Signals the child's process group, falling back to the child alone. */
function killTree(pid: number | undefined, signal: "SIGTERM" | "SIGKILL", killChild: () => void): void {
  if (OWN_GROUP && pid !== undefined && pid > 0) {
    try {
      process.kill(-pid, signal);
      return;
    } catch {
      // No such group (already gone): try the child itself.
    }
  }
  try {
    killChild();
  } catch {
    // Already exited: nothing to do.
  }
}

/**
 * Spawns `command` with piped stdio using the current runtime's own API, as the
 * leader of its own process group on Unix.
 *
 * Throws synchronously when the runtime reports a start failure synchronously
 * (Deno, Bun); on Node a start failure rejects `exited` instead.
 *
 * @param command Path of the executable.
 * @param options Arguments, working directory, environment.
 * @param runtime Runtime to use; detected when omitted.
 * @returns The child as web streams.
 *
 * @example Running a command
 * ```ts
 * import { spawnChild } from "./spawn.ts";
 * const child = spawnChild("/bin/echo", { args: ["hi"] });
 * console.log(await new Response(child.stdout).text()); // "hi\n"
 * await child.exited;
 * ```
 */
export function spawnChild(
  command: string,
  options: SpawnOptions,
  runtime: Runtime = detectRuntime(),
): SpawnedChild {
  switch (runtime) {
    case "deno":
      return spawnDeno(command, options);
    case "bun":
      return spawnBun(command, options);
    case "node":
      return spawnNode(command, options);
  }
}

// ---------------------------------------------------------------------------
// Deno: Deno.Command. Its ChildProcess already exposes web streams.

interface DenoChildProcess {
  readonly pid: number;
  readonly stdin: WritableStream<Uint8Array>;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly status: Promise<{ success: boolean; code: number; signal: string | null }>;
  kill(signo?: string): void;
}
interface DenoNamespace {
  Command: new (
    command: string,
    options: {
      args: string[];
      cwd?: string;
      env?: Record<string, string>;
      clearEnv?: boolean;
      detached?: boolean;
      stdin: "piped";
      stdout: "piped";
      stderr: "piped";
    },
  ) => { spawn(): DenoChildProcess };
}

function spawnDeno(command: string, options: SpawnOptions): SpawnedChild {
  const Deno = (globalThis as unknown as { Deno: DenoNamespace }).Deno;
  const child = new Deno.Command(command, {
    args: [...options.args],
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    // Deno merges `env` over the parent's environment unless clearEnv is set.
    ...(options.env !== undefined ? { env: options.env, clearEnv: true } : {}),
    detached: OWN_GROUP,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let ended = false;
  const exited = child.status.then((status) => {
    ended = true;
    return { code: status.signal ? null : status.code, signal: status.signal ?? null };
  });
  return {
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill(signal = "SIGTERM") {
      if (ended) return;
      killTree(child.pid, signal, () => child.kill(signal));
    },
  };
}

// ---------------------------------------------------------------------------
// Bun: Bun.spawn. stdout/stderr are ReadableStreams; stdin is a FileSink that we
// wrap as a WritableStream.

interface BunFileSink {
  write(chunk: Uint8Array): number;
  flush(): number | Promise<number>;
  end(): number | Promise<number>;
}
interface BunSubprocess {
  readonly pid: number;
  readonly stdin: BunFileSink;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
  kill(signal?: string): void;
}
interface BunNamespace {
  spawn(
    cmd: string[],
    options: {
      cwd?: string;
      env?: Record<string, string>;
      detached?: boolean;
      stdin: "pipe";
      stdout: "pipe";
      stderr: "pipe";
    },
  ): BunSubprocess;
}

function spawnBun(command: string, options: SpawnOptions): SpawnedChild {
  const Bun = (globalThis as unknown as { Bun: BunNamespace }).Bun;
  const proc = Bun.spawn([command, ...options.args], {
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    detached: OWN_GROUP,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  let ended = false;
  const exited = proc.exited.then(() => {
    ended = true;
    return { code: proc.signalCode ? null : proc.exitCode, signal: proc.signalCode ?? null };
  });
  const stdin = new WritableStream<Uint8Array>({
    async write(chunk) {
      proc.stdin.write(chunk);
      await proc.stdin.flush();
    },
    async close() {
      await proc.stdin.end();
    },
    async abort() {
      try {
        await proc.stdin.end();
      } catch {
        // The pipe is already gone.
      }
    },
  });
  return {
    pid: proc.pid,
    stdin,
    stdout: proc.stdout,
    stderr: proc.stderr,
    exited,
    kill(signal = "SIGTERM") {
      if (ended) return;
      killTree(proc.pid, signal, () => proc.kill(signal));
    },
  };
}

// ---------------------------------------------------------------------------
// Node: node:child_process, with its Node streams wrapped as web streams. We wrap
// them by hand (rather than Readable.toWeb) to keep backpressure exact and to make
// sure no 'error' event on a pipe is ever left unhandled.

function spawnNode(command: string, options: SpawnOptions): SpawnedChild {
  const child = nodeSpawn(command, [...options.args], {
    stdio: ["pipe", "pipe", "pipe"],
    windowsHide: true,
    detached: OWN_GROUP,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  });
  let ended = false;
  const exited = new Promise<ChildExit>((resolve, reject) => {
    // 'error' without a pid means the process could not be started (ENOENT, EACCES).
    child.once("error", (err) => {
      if (child.pid === undefined) {
        ended = true;
        reject(err);
      }
    });
    // 'close' (not 'exit') so that stdio is fully flushed when we resolve.
    child.once("close", (code, signal) => {
      ended = true;
      resolve({ code, signal });
    });
  });
  return {
    pid: child.pid,
    stdin: nodeWritableToWeb(child.stdin),
    stdout: nodeReadableToWeb(child.stdout),
    stderr: nodeReadableToWeb(child.stderr),
    exited,
    kill(signal = "SIGTERM") {
      if (ended) return;
      killTree(child.pid, signal, () => child.kill(signal));
    },
  };
}

function nodeReadableToWeb(readable: Readable): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        readable.on("data", (chunk: Uint8Array) => {
          if (done) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 1) <= 0) readable.pause();
        });
        readable.once("end", () => {
          if (done) return;
          done = true;
          controller.close();
        });
        readable.once("error", (err) => {
          if (done) return;
          done = true;
          controller.error(err);
        });
        readable.once("close", () => {
          // Destroyed without 'end' (e.g. the child was killed): end the stream.
          if (done) return;
          done = true;
          controller.close();
        });
      },
      pull() {
        readable.resume();
      },
      cancel() {
        done = true;
        readable.destroy();
      },
    },
    { highWaterMark: 16 },
  );
}

function nodeWritableToWeb(writable: Writable): WritableStream<Uint8Array> {
  // Errors surface through the write callbacks; this listener only keeps an
  // EPIPE from becoming an uncaught exception when the child dies.
  writable.on("error", () => {});
  return new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        if (writable.destroyed || writable.writableEnded) {
          reject(new Error("write after the child's stdin closed"));
          return;
        }
        writable.write(chunk, (err) => (err ? reject(err) : resolve()));
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        if (writable.destroyed || writable.writableEnded) {
          resolve();
          return;
        }
        writable.end(() => resolve());
      });
    },
    abort() {
      writable.destroy();
    },
  });
}
