/**
 * Named error classes. Every error thrown by smartstorage is a
 * {@linkcode SmartStorageError} (or a subclass) that carries a `code`: the S3 /
 * protocol error code the engine answered with, or one of the host-side codes
 * listed on each subclass.
 *
 * @module
 */

/** Options accepted by every smartstorage error. */
export interface SmartStorageErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * Base class of every error smartstorage throws.
 *
 * @example Telling engine errors apart
 * ```ts
 * import { SmartStorageError } from "./errors.ts";
 * const err = new SmartStorageError("BucketAlreadyOwnedByYou", "bucket exists");
 * console.log(err.code); // "BucketAlreadyOwnedByYou"
 * ```
 */
export class SmartStorageError extends Error {
  /** Machine-readable error code (engine code such as `InvalidBucketName`, or a host code). */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param code Machine-readable error code.
   * @param message Human-readable message.
   * @param options `cause` of the error.
   */
  constructor(code: string, message: string, options?: SmartStorageErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SmartStorageError";
    this.code = code;
  }
}

/** The configuration is invalid (code `InvalidConfig`); raised before anything is spawned. */
export class ConfigError extends SmartStorageError {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the configuration.
   * @param options `cause` of the error.
   */
  constructor(message: string, options?: SmartStorageErrorOptions) {
    super("InvalidConfig", message, options);
    this.name = "ConfigError";
  }
}

/** Options of {@linkcode BinaryNotFoundError}. */
export interface BinaryNotFoundErrorOptions extends SmartStorageErrorOptions {
  /** What to do about it, one line each (default: point to `SMARTSTORAGE_BINARY` / `binaryPath`). */
  advice?: readonly string[];
}

/**
 * No `ruststorage` binary was found (code `BinaryNotFound`). Lists every path tried
 * and what to do: install the platform package, build from source (in a checkout
 * or where no package is published), or point to a binary.
 */
export class BinaryNotFoundError extends SmartStorageError {
  /** Platform key such as `linux-x64`. */
  readonly platformKey: string;
  /** Every path that was tried, in order. */
  readonly tried: readonly string[];

  /**
   * Creates the error.
   *
   * @param platformKey Platform key such as `linux-x64`.
   * @param tried Every path that was tried, in order.
   * @param detail Extra sentence(s) appended to the first line.
   * @param options `cause` of the error and the `advice` lines.
   */
  constructor(
    platformKey: string,
    tried: readonly string[],
    detail = "",
    options?: BinaryNotFoundErrorOptions,
  ) {
    const advice = options?.advice ?? [
      "Point to a ruststorage binary with the `binaryPath` option or the SMARTSTORAGE_BINARY environment variable.",
    ];
    const lines = [
      `could not find the ruststorage binary for platform "${platformKey}".`,
      ...(detail ? [detail] : []),
      "Tried, in order:",
      ...tried.map((p) => `  - ${p}`),
      ...advice,
    ];
    super("BinaryNotFound", lines.join("\n"), options);
    this.name = "BinaryNotFoundError";
    this.platformKey = platformKey;
    this.tried = tried;
  }
}

/** The engine speaks another protocol version (code `ProtocolVersionMismatch`). */
export class ProtocolVersionError extends SmartStorageError {
  /** The version this host speaks. */
  readonly expected: number;
  /** The version the engine announced (`undefined` if it announced none). */
  readonly actual: unknown;

  /**
   * Creates the error.
   *
   * @param expected The version this host speaks.
   * @param actual The version the engine announced.
   * @param binary Path of the engine binary.
   */
  constructor(expected: number, actual: unknown, binary: string) {
    super(
      "ProtocolVersionMismatch",
      `the engine at ${binary} speaks management protocol version ${JSON.stringify(actual)}, ` +
        `but this @push.rocks/smartstorage speaks version ${expected}; ` +
        `rebuild the engine (cargo build --release --manifest-path rust/Cargo.toml) or upgrade the package.`,
    );
    this.name = "ProtocolVersionError";
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The engine is another version than this package (code `EngineVersionMismatch`):
 * package and engine are released together, and only the pair is tested. For a
 * development build, set the environment variable
 * `SMARTSTORAGE_ALLOW_VERSION_MISMATCH=1` to run it anyway.
 */
export class EngineVersionError extends SmartStorageError {
  /** The version of this package. */
  readonly expected: string;
  /** The version the engine announced (`undefined` if it announced none). */
  readonly actual: unknown;

  /**
   * Creates the error.
   *
   * @param expected The version of this package.
   * @param actual The version the engine announced.
   * @param binary Path of the engine binary.
   */
  constructor(expected: string, actual: unknown, binary: string) {
    super(
      "EngineVersionMismatch",
      `the engine at ${binary} is version ${typeof actual === "string" ? actual : JSON.stringify(actual)}, ` +
        `but this @push.rocks/smartstorage is version ${expected}; use the engine of the same version ` +
        `(cargo build --release --manifest-path rust/Cargo.toml, or the matching @push.rocks/smartstorage-<os>-<arch> package), ` +
        `or set SMARTSTORAGE_ALLOW_VERSION_MISMATCH=1 to run it anyway (development builds).`,
    );
    this.name = "EngineVersionError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** The engine broke the protocol: a line that is not JSON, a reply with an unknown id, ... (code `ProtocolError`). */
export class ProtocolError extends SmartStorageError {
  /**
   * Creates the error.
   *
   * @param message What was wrong.
   * @param options `cause` of the error.
   */
  constructor(message: string, options?: SmartStorageErrorOptions) {
    super("ProtocolError", message, options);
    this.name = "ProtocolError";
  }
}

/** A request got no answer in time (code `Timeout`). */
export class RequestTimeoutError extends SmartStorageError {
  /**
   * Creates the error.
   *
   * @param what What timed out (method name or event name).
   * @param timeoutMs The timeout that elapsed.
   */
  constructor(what: string, timeoutMs: number) {
    super("Timeout", `${what} timed out after ${timeoutMs} ms`);
    this.name = "RequestTimeoutError";
  }
}

/** The engine process ended (code `EngineExited`), carrying its exit code and the tail of its stderr. */
export class EngineExitedError extends SmartStorageError {
  /** Exit code, or `null` if it was ended by a signal. */
  readonly exitCode: number | null;
  /** Signal that ended it, if any. */
  readonly signal: string | null;
  /** Last lines the engine wrote to stderr. */
  readonly stderrTail: readonly string[];

  /**
   * Creates the error.
   *
   * @param exitCode Exit code, or `null`.
   * @param signal Signal name, or `null`.
   * @param stderrTail Last stderr lines.
   * @param context Sentence describing the situation, e.g. "before it was ready".
   */
  constructor(
    exitCode: number | null,
    signal: string | null,
    stderrTail: readonly string[],
    context = "",
  ) {
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${exitCode}`;
    const tail = stderrTail.length
      ? `\n--- last ${stderrTail.length} stderr line(s) of ruststorage ---\n${stderrTail.join("\n")}`
      : " (it wrote nothing to stderr)";
    super("EngineExited", `ruststorage ${how}${context ? " " + context : ""}${tail}`);
    this.name = "EngineExitedError";
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderrTail = stderrTail;
  }
}

/**
 * A call was made after the engine ended (code `NotRunning`). The message reads
 * "... no longer running: <reason>"; `cause` is the error that ended it.
 */
export class NotRunningError extends SmartStorageError {
  /**
   * Creates the error.
   *
   * @param reason Why the engine is not running.
   * @param options `cause`: the error that ended the engine.
   */
  constructor(reason: string, options?: SmartStorageErrorOptions) {
    super("NotRunning", `the smartstorage engine is no longer running: ${reason}`, options);
    this.name = "NotRunningError";
  }
}

/**
 * The engine did not send its `ready` event within `startTimeoutMs` (code `Timeout`,
 * a {@linkcode RequestTimeoutError}). By the time this is thrown the engine has been
 * killed, with every process it started, so nothing keeps the host alive.
 */
export class StartTimeoutError extends RequestTimeoutError {
  /** Path of the binary that was started. */
  readonly binary: string;

  /**
   * Creates the error.
   *
   * @param binary Path of the binary that was started.
   * @param timeoutMs The timeout that elapsed (`startTimeoutMs`).
   */
  constructor(binary: string, timeoutMs: number) {
    super(`start of ${binary}`, timeoutMs);
    this.message = `the engine at ${binary} did not get ready within ${timeoutMs} ms (startTimeoutMs); ` +
      `it was killed, with every process it started. A slow machine needs a larger startTimeoutMs; ` +
      `a binary that is not ruststorage never gets ready.`;
    this.name = "StartTimeoutError";
    this.binary = binary;
  }
}
