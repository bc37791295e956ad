/**
 * The NDJSON bridge to `ruststorage --management` (docs/protocol.md):
 * spawns the engine, frames requests and responses, dispatches events, and
 * handles every way the engine can end. Runtime-neutral: only web streams.
 *
 * @module
 */

import {
  EngineExitedError,
  EngineVersionError,
  NotRunningError,
  ProtocolError,
  ProtocolVersionError,
  RequestTimeoutError,
  SmartStorageError,
  StartTimeoutError,
} from "./errors.ts";
import { LineSplitStream } from "./line_split_stream.ts";
import {
  type EventMessage,
  type MethodMap,
  type MethodName,
  PROTOCOL_VERSION,
  type ReadyEvent,
  type ResponseMessage,
} from "./protocol.ts";
import type { Runtime } from "./runtime.ts";
import { type ChildExit, spawnChild, type SpawnedChild } from "./spawn.ts";

/** How many stderr lines an {@linkcode EngineExitedError} carries. */
export const STDERR_TAIL_LINES = 20;

/** How long a killed engine may take to be seen exiting before we stop waiting for it. */
const KILL_GRACE_MS = 2_000;

/** Options of {@linkcode EngineBridge.launch}. */
export interface EngineBridgeOptions {
  /** Absolute path of the `ruststorage` binary. */
  binary: string;
  /** Arguments; default `["--management"]`. */
  args?: readonly string[];
  /** Working directory of the engine. */
  cwd?: string;
  /** Full environment of the engine; default: inherited. */
  env?: Record<string, string>;
  /** Default timeout of one request, in ms. */
  requestTimeoutMs: number;
  /** How long to wait for the `ready` event, in ms. */
  readyTimeoutMs: number;
  /** The engine version to require (the `ready` event's `version`); omitted: any version. */
  engineVersion?: string;
  /** Called for every event (including the first `ready`). */
  onEvent?: (event: string, data: unknown) => void;
  /** Called for every line the engine writes to stderr. */
  onStderrLine?: (line: string) => void;
  /** Runtime to spawn with; detected when omitted. */
  runtime?: Runtime;
}

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (reason: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One running engine process and the protocol spoken with it.
 *
 * @example Talking to the engine directly
 * ```ts
 * import { EngineBridge } from "./engine_bridge.ts";
 * import { resolveBinary } from "./binary.ts";
 * const bridge = await EngineBridge.launch({ binary: resolveBinary(), requestTimeoutMs: 10_000, readyTimeoutMs: 10_000 });
 * console.log(await bridge.request("getClusterHealth", {})); // { enabled: false }
 * await bridge.shutdown(5_000);
 * ```
 */
export class EngineBridge {
  /** The `ready` event data, once received. */
  ready: ReadyEvent | undefined;
  /** Resolves (never rejects) with the reason once the bridge has ended. */
  readonly closed: Promise<Error>;

  readonly #options: EngineBridgeOptions;
  readonly #child: SpawnedChild;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();
  readonly #pending = new Map<string, Pending>();
  readonly #timedOut = new Set<string>();
  readonly #stderrTail: string[] = [];
  #writeChain: Promise<void> = Promise.resolve();
  #nextId = 1;
  #closedReason: Error | undefined;
  #resolveClosed!: (reason: Error) => void;
  #readyWaiter: { resolve: (r: ReadyEvent) => void; reject: (e: Error) => void } | undefined;
  #expectExit = false;
  #exit: ChildExit | undefined;
  #stderrDone: Promise<void>;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #stdinClosed = false;

  private constructor(options: EngineBridgeOptions, child: SpawnedChild) {
    this.#options = options;
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    // A rejected close/write is reported through the request that caused it.
    this.#writer.closed.catch(() => {});
    this.closed = new Promise<Error>((resolve) => (this.#resolveClosed = resolve));
    this.#stderrDone = this.#readStderr();
    void this.#readStdout();
    child.exited.then(
      (exit) => this.#onExit(exit),
      (err: unknown) =>
        this.#end(
          new SmartStorageError("SpawnFailed", `could not start ${options.binary}: ${errorMessage(err)}`, {
            cause: err,
          }),
        ),
    );
  }

  /**
   * Spawns the engine and waits for its `ready` event.
   *
   * @param options Binary, timeouts, callbacks.
   * @returns The bridge, ready for requests.
   * @throws {ProtocolVersionError} When the engine speaks another protocol version.
   * @throws {EngineVersionError} When `engineVersion` is given and the engine reports another.
   * @throws {EngineExitedError} When the engine exits before it is ready.
   * @throws {StartTimeoutError} When no `ready` event comes within `readyTimeoutMs`; the
   *   engine and every process it started have been killed by then.
   * @throws {ProtocolError} When its first line is not a `ready` event.
   */
  static async launch(options: EngineBridgeOptions): Promise<EngineBridge> {
    let child: SpawnedChild;
    try {
      child = spawnChild(options.binary, {
        args: options.args ?? ["--management"],
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.env !== undefined ? { env: options.env } : {}),
      }, options.runtime);
    } catch (err) {
      throw new SmartStorageError("SpawnFailed", `could not start ${options.binary}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const bridge = new EngineBridge(options, child);
    try {
      await bridge.#waitForReady();
    } catch (err) {
      // Leave nothing running: the process (and all it started) is gone when this rejects.
      bridge.#child.kill("SIGKILL");
      await bridge.#waitForExit(KILL_GRACE_MS);
      throw err;
    }
    return bridge;
  }

  /** Whether the engine is up and accepting requests. */
  get running(): boolean {
    return this.#closedReason === undefined;
  }

  /** Why the bridge ended, or `undefined` while it runs. */
  get closedReason(): Error | undefined {
    return this.#closedReason;
  }

  /** The engine's exit status, once it has exited. */
  get exit(): ChildExit | undefined {
    return this.#exit;
  }

  /** Process id of the engine. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * The last lines the engine wrote to stderr.
   *
   * @returns Up to {@linkcode STDERR_TAIL_LINES} lines, oldest first.
   */
  stderrTail(): string[] {
    return [...this.#stderrTail];
  }

  /**
   * Sends one request and waits for its response.
   *
   * @param method Method name.
   * @param params Method params.
   * @param timeoutMs Timeout for this request; default from the options.
   * @returns The `result` of a successful response.
   * @throws {SmartStorageError} With the engine's error code on `success: false`.
   * @throws {RequestTimeoutError} When no response arrives in time.
   * @throws {EngineExitedError} When the engine ends while the request is pending.
   * @throws {NotRunningError} When the engine had already ended.
   */
  request<M extends MethodName>(
    method: M,
    params: MethodMap[M]["params"],
    timeoutMs: number = this.#options.requestTimeoutMs,
  ): Promise<MethodMap[M]["result"]> {
    if (this.#closedReason !== undefined) {
      return Promise.reject(this.#notRunning());
    }
    const id = String(this.#nextId++);
    return new Promise<MethodMap[M]["result"]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        // A reply may still come; remember the id so it is not a protocol error.
        this.#timedOut.add(id);
        reject(new RequestTimeoutError(`request ${method} (id ${id})`, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, {
        method,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
      });
      this.#send({ id, method, params });
    });
  }

  /**
   * Stops the engine gracefully: sends `stop`, closes stdin and waits for the exit;
   * when the process has not exited `timeoutMs` after the call (a frozen engine), it
   * is killed (SIGKILL, with every process it started). One deadline for all steps,
   * so this resolves within `timeoutMs` plus the moment a kill takes. Idempotent;
   * resolves once the process has ended.
   *
   * @param timeoutMs How long to wait for a graceful exit.
   * @returns The exit status (if the process was observed to exit).
   */
  async shutdown(timeoutMs: number): Promise<ChildExit | undefined> {
    this.#expectExit = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const graceful = (async () => {
      if (this.#closedReason === undefined) {
        try {
          await this.request("stop", {}, timeoutMs);
        } catch {
          // Timed out or already gone: the deadline ends it anyway.
        }
        await this.#closeStdin();
      }
      await this.closed;
      return "ended" as const;
    })();
    const outcome = await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.#child.kill("SIGKILL");
      await this.#waitForExit(KILL_GRACE_MS);
    }
    await this.closed;
    return this.#exit;
  }

  /**
   * Kills the engine process right away (for tests and emergencies).
   *
   * @param signal Signal to send; default `SIGKILL`.
   */
  kill(signal: "SIGTERM" | "SIGKILL" = "SIGKILL"): void {
    this.#child.kill(signal);
  }

  // -------------------------------------------------------------------------

  /** Waits (at most `ms`) until the process has exited. */
  async #waitForExit(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#child.exited.then(() => {}, () => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  }

  #waitForReady(): Promise<ReadyEvent> {
    if (this.#closedReason !== undefined) return Promise.reject(this.#closedReason);
    return new Promise<ReadyEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new StartTimeoutError(this.#options.binary, this.#options.readyTimeoutMs));
      }, this.#options.readyTimeoutMs);
      this.#readyWaiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  #send(message: unknown): void {
    const bytes = this.#encoder.encode(JSON.stringify(message) + "\n");
    this.#writeChain = this.#writeChain
      .then(() => this.#writer.write(bytes))
      .catch(() => {
        // stdin broke: the engine is ending. Pending requests are rejected once
        // its exit status is known (so the error can carry it).
        this.#armWatchdog();
      });
  }

  async #closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#writeChain;
    try {
      await this.#writer.close();
    } catch {
      // Already closed or broken.
    }
  }

  async #readStdout(): Promise<void> {
    const reader = textLines(this.#child.stdout);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#handleLine(value);
      }
    } catch {
      // A read error means the pipe is gone, like an end.
    }
    // stdout ended: the engine is exiting. Wait (bounded) for its exit status.
    this.#armWatchdog();
  }

  async #readStderr(): Promise<void> {
    const reader = textLines(this.#child.stderr);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#stderrTail.push(value.length > 2000 ? value.slice(0, 2000) + "..." : value);
        if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
        try {
          this.#options.onStderrLine?.(value);
        } catch {
          // A throwing callback must not stop the draining.
        }
      }
    } catch {
      // Pipe gone.
    }
  }

  #handleLine(line: string): void {
    if (this.#closedReason !== undefined) return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (err) {
      this.#fail(
        new ProtocolError(
          `${this.#options.binary} wrote a line that is not JSON on stdout: ${JSON.stringify(truncate(line))}` +
            (this.ready ? "" : " (is this really ruststorage --management?)"),
          { cause: err },
        ),
      );
      return;
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.#fail(new ProtocolError(`engine sent a message that is not an object: ${truncate(line)}`));
      return;
    }
    const msg = message as Partial<ResponseMessage & EventMessage>;

    // The first message must be `ready` with our protocol version.
    if (this.ready === undefined) {
      if (msg.event !== "ready") {
        this.#fail(new ProtocolError(`expected a ready event as the engine's first message, got ${truncate(line)}`));
        return;
      }
      const data = (msg.data ?? {}) as Partial<ReadyEvent>;
      if (data.protocolVersion !== PROTOCOL_VERSION) {
        this.#fail(new ProtocolVersionError(PROTOCOL_VERSION, data.protocolVersion, this.#options.binary));
        return;
      }
      const expected = this.#options.engineVersion;
      if (expected !== undefined && data.version !== expected) {
        this.#fail(new EngineVersionError(expected, data.version, this.#options.binary));
        return;
      }
      this.ready = { protocolVersion: data.protocolVersion, version: String(data.version ?? "unknown") };
      this.#dispatchEvent("ready", msg.data);
      this.#readyWaiter?.resolve(this.ready);
      this.#readyWaiter = undefined;
      return;
    }

    if (typeof msg.event === "string" && msg.id === undefined) {
      this.#dispatchEvent(msg.event, msg.data);
      return;
    }
    if (typeof msg.id !== "string") {
      this.#fail(new ProtocolError(`engine sent a message that is neither a response nor an event: ${truncate(line)}`));
      return;
    }
    const pending = this.#pending.get(msg.id);
    if (pending === undefined) {
      if (this.#timedOut.delete(msg.id)) return; // late reply to a timed-out request
      this.#fail(new ProtocolError(`engine sent a reply with unknown id ${JSON.stringify(msg.id)}: ${truncate(line)}`));
      return;
    }
    this.#pending.delete(msg.id);
    clearTimeout(pending.timer);
    if (msg.success === true) {
      pending.resolve(msg.result);
    } else if (msg.success === false) {
      const code = typeof msg.error?.code === "string" ? msg.error.code : "EngineError";
      const text = typeof msg.error?.message === "string" ? msg.error.message : "(no message)";
      pending.reject(new SmartStorageError(code, `${pending.method} failed: ${code}: ${text}`));
    } else {
      pending.reject(new ProtocolError(`reply to ${pending.method} has no boolean success field: ${truncate(line)}`));
    }
  }

  #dispatchEvent(event: string, data: unknown): void {
    try {
      this.#options.onEvent?.(event, data);
    } catch {
      // Listener errors are the listener's business (the emitter reports them).
    }
  }

  /** A protocol violation or a timeout: end the bridge with `reason` and kill the engine. */
  #fail(reason: Error): void {
    this.#end(reason);
    this.#child.kill("SIGKILL");
  }

  /** After stdout ended or stdin broke: give the process a moment to exit, then kill it. */
  #armWatchdog(): void {
    if (this.#watchdog !== undefined || this.#exit !== undefined) return;
    this.#watchdog = setTimeout(() => this.#child.kill("SIGKILL"), 2_000);
  }

  async #onExit(exit: ChildExit): Promise<void> {
    this.#exit = exit;
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    // Let stderr drain (bounded) so the error carries the engine's last words.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#stderrDone,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000))),
    ]);
    clearTimeout(timer);
    if (this.#expectExit && exit.code === 0) {
      this.#end(new SmartStorageError("Stopped", "stopped by stop()"));
    } else {
      const context = this.ready === undefined
        ? "before it was ready"
        : this.#expectExit
        ? "while stopping"
        : "unexpectedly";
      this.#end(new EngineExitedError(exit.code, exit.signal, this.stderrTail(), context));
    }
  }

  /**
   * The one place where the bridge ends, whatever the cause (exit, crash, spawn
   * failure, protocol error, ready timeout): rejects every pending request and the
   * ready waiter, releases timers and stdin, and records the reason so later calls
   * fail at once.
   */
  #end(reason: Error): void {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = reason;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(
        reason instanceof EngineExitedError
          ? new EngineExitedError(reason.exitCode, reason.signal, reason.stderrTail, `while ${pending.method} (id ${id}) was pending`)
          : reason,
      );
    }
    this.#pending.clear();
    this.#timedOut.clear();
    this.#readyWaiter?.reject(reason);
    this.#readyWaiter = undefined;
    void this.#closeStdin();
    if (this.#exit !== undefined && this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#resolveClosed(reason);
  }

  #notRunning(): NotRunningError {
    const reason = this.#closedReason!;
    return new NotRunningError(reason.message, { cause: reason });
  }
}

/** UTF-8 bytes -> lines: TextDecoderStream, then LineSplitStream. */
function textLines(bytes: ReadableStream<Uint8Array>): ReadableStreamDefaultReader<string> {
  // The cast papers over a DOM typing quirk (BufferSource vs Uint8Array variance).
  const decoder = new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>;
  return bytes.pipeThrough(decoder).pipeThrough(new LineSplitStream()).getReader();
}

function truncate(text: string, max = 200): string {
  return text.length > max ? text.slice(0, max) + "..." : text;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
