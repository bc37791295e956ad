/**
 * Finding the `ruststorage` binary: one ordered lookup chain.
 *
 * @module
 */

import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve as resolvePath } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { BinaryNotFoundError } from "./errors.ts";
import { detectRuntime } from "./runtime.ts";
import { VERSION } from "./version.ts";

/** Name of the environment variable that overrides the binary location. */
export const BINARY_ENV_VAR = "SMARTSTORAGE_BINARY";

/** Options for {@linkcode resolveBinary}. */
export interface ResolveBinaryOptions {
  /** Explicit path (the `binaryPath` option). */
  binaryPath?: string | undefined;
  /** Environment to read `SMARTSTORAGE_BINARY` from. Default: this process's. */
  env?: Record<string, string | undefined>;
  /** Root folder of this package. Default: found from this module's location. */
  packageRoot?: string | undefined;
  /** Where warnings go. Default: `console.warn`. */
  warn?: (message: string) => void;
}

/**
 * The platforms a prebuilt engine is published for, as npm packages
 * `@push.rocks/smartstorage-<key>` (the `optionalDependencies` of the main package;
 * tests/package.test.ts checks that the two lists agree).
 */
export const PUBLISHED_PLATFORMS: readonly string[] = [
  "linux-x64",
  "linux-arm64",
  "linux-x64-musl",
  "linux-arm64-musl",
];

/**
 * Whether this is a Linux with the musl C library (Alpine) rather than glibc.
 *
 * @returns `true` on musl Linux, `false` elsewhere.
 */
export function isMuslLinux(): boolean {
  if (process.platform !== "linux") return false;
  try {
    // Node and Bun: the process report names the glibc this process runs on.
    const report = (process.report?.getReport?.() ?? {}) as { header?: { glibcVersionRuntime?: string } };
    if (report.header?.glibcVersionRuntime) return false;
  } catch {
    // No process report (some runtimes): look at the dynamic loaders instead.
  }
  const arch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch;
  // A glibc system can have musl installed beside it (Debian's musl package),
  // so musl counts only when the glibc loader is absent.
  const glibcLoaders = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"];
  return existsSync(`/lib/ld-musl-${arch}.so.1`) && !glibcLoaders.some((p) => existsSync(p));
}

/**
 * The platform key of this machine, as used in binary and package names.
 *
 * @returns `<os>-<arch>` in Node's spelling, e.g. `linux-x64`, `darwin-arm64`,
 *   with `-musl` appended on musl Linux (`linux-x64-musl`).
 *
 * @example
 * ```ts
 * import { platformKey } from "./binary.ts";
 * console.log(platformKey()); // "linux-x64"
 * ```
 */
export function platformKey(): string {
  return `${process.platform}-${process.arch}${isMuslLinux() ? "-musl" : ""}`;
}

/**
 * The platform keys whose engine runs here, best first: the key itself, and on
 * glibc Linux also the musl build (statically linked, so it runs on glibc too).
 *
 * @param key Platform key, e.g. `linux-x64`.
 * @returns Keys to look for, in order.
 */
export function candidateKeys(key: string = platformKey()): string[] {
  return key.startsWith("linux-") && !key.endsWith("-musl") ? [key, `${key}-musl`] : [key];
}

/**
 * Name of the optional npm package that carries the binary for `key`.
 *
 * @param key Platform key, e.g. `linux-x64`.
 * @returns The package name, e.g. `@push.rocks/smartstorage-linux-x64`.
 *
 * @example
 * ```ts
 * import { platformPackageName } from "./binary.ts";
 * console.log(platformPackageName("linux-x64")); // "@push.rocks/smartstorage-linux-x64"
 * ```
 */
export function platformPackageName(key: string): string {
  return `@push.rocks/smartstorage-${key}`;
}

/**
 * The root folder of this package (the folder holding `mod.ts` or `dist/`), or
 * `undefined` when this module was not loaded from the file system (e.g. from JSR).
 *
 * @returns The absolute path, or `undefined`.
 *
 * @example
 * ```ts
 * import { packageRoot } from "./binary.ts";
 * console.log(packageRoot());
 * ```
 */
export function packageRoot(): string | undefined {
  const here = new URL(".", import.meta.url); // .../src/ or .../dist/src/
  if (here.protocol !== "file:") return undefined;
  const parent = dirname(fileURLToPath(here)); // .../ or .../dist
  return basename(parent) === "dist" ? dirname(parent) : parent;
}

/**
 * Finds the `ruststorage` binary. The chain, in order:
 *
 * 1. the explicit `binaryPath` option (an error if the file is missing);
 * 2. the `SMARTSTORAGE_BINARY` environment variable (warned about and skipped if missing);
 * 3. a prebuilt `bin/ruststorage-<key>` inside this package (a checkout after
 *    `scripts/build-release.sh`);
 * 4. the optional per-platform npm package `@push.rocks/smartstorage-<key>`;
 * 5. in a checkout (`rust/Cargo.toml` exists): `rust/target/release/ruststorage`,
 *    then `rust/target/debug/ruststorage`.
 *
 * `<key>` is the platform key (`linux-x64`); on glibc Linux the musl build
 * (`linux-x64-musl`) is looked for after it.
 *
 * @param options Explicit path, environment, package root.
 * @returns Absolute path of the binary.
 * @throws {BinaryNotFoundError} Naming the platform key, every path tried, and what to do.
 *
 * @example Finding the binary
 * ```ts
 * import { resolveBinary } from "./binary.ts";
 * console.log(resolveBinary());
 * ```
 */
export function resolveBinary(options: ResolveBinaryOptions = {}): string {
  const found = searchBinary(options);
  if (found.path !== undefined) return found.path;
  throw notFound(found.key, found.tried, found.root);
}

/**
 * {@linkcode resolveBinary}, and then, on Deno when this module was loaded from a
 * non-file URL (JSR), the platform package through an `npm:` import of the exact
 * version of this package (`npm:@push.rocks/smartstorage-<key>@<version>`): Deno
 * fetches it like any `npm:` import, checking the registry's integrity hash (and
 * the lock file's, when there is one), and caches it.
 *
 * @param options Explicit path, environment, package root.
 * @returns Absolute path of the binary.
 * @throws {BinaryNotFoundError} Naming the platform key, every path tried, and what to do.
 */
export async function resolveBinaryAsync(options: ResolveBinaryOptions = {}): Promise<string> {
  const found = searchBinary(options);
  if (found.path !== undefined) return found.path;
  const tried = [...found.tried];
  if (found.root === undefined && detectRuntime() === "deno") {
    for (const key of candidateKeys(found.key)) {
      const specifier = `npm:${platformPackageName(key)}@${VERSION}`;
      try {
        const mod = await import(specifier) as { binaryPath?: unknown };
        if (typeof mod.binaryPath === "string" && isFile(mod.binaryPath)) return mod.binaryPath;
        tried.push(`${specifier} (has no binary)`);
      } catch (err) {
        tried.push(`${specifier} (${String(err instanceof Error ? err.message : err).split("\n")[0]})`);
      }
    }
  }
  throw notFound(found.key, tried, found.root);
}

interface SearchResult {
  path: string | undefined;
  key: string;
  tried: string[];
  root: string | undefined;
}

function searchBinary(options: ResolveBinaryOptions): SearchResult {
  const key = platformKey();
  const keys = candidateKeys(key);
  const exe = process.platform === "win32" ? ".exe" : "";
  const env = options.env ?? process.env;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const root = options.packageRoot ?? packageRoot();
  const tried: string[] = [];
  const hit = (path: string): SearchResult => ({ path, key, tried, root });

  // 1. Explicit option: the caller said exactly which file to run, so a missing
  //    file is an error rather than a reason to look elsewhere.
  if (options.binaryPath !== undefined) {
    const explicit = resolvePath(options.binaryPath);
    if (isFile(explicit)) return hit(explicit);
    throw new BinaryNotFoundError(key, [`${explicit} (binaryPath option)`], "The binaryPath option points to a file that does not exist.");
  }

  // 2. Environment override, the same one users and tests get. A stale value is
  //    common (a deleted build folder), so warn and fall through.
  const fromEnv = env[BINARY_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== "") {
    const p = resolvePath(fromEnv);
    if (isFile(p)) return hit(p);
    warn(`smartstorage: ignoring ${BINARY_ENV_VAR}=${fromEnv}: no such file`);
    tried.push(`${p} (${BINARY_ENV_VAR}, missing)`);
  }

  // 3. Prebuilt binary inside this package (scripts/build-release.sh puts them
  //    into bin/ of a checkout).
  if (root !== undefined) {
    for (const k of keys) {
      const p = join(root, "bin", `ruststorage-${k}${exe}`);
      if (isFile(p)) return hit(p);
      tried.push(p);
    }
  }

  // 4. Optional per-platform npm package (esbuild-style), resolved from this
  //    module and from the working directory (Deno users who added it with
  //    `deno add npm:@push.rocks/smartstorage-<key>` and a node_modules folder).
  for (const k of keys) {
    const fromPkg = resolveFromPackage(platformPackageName(k), `bin/ruststorage${exe}`);
    if (fromPkg.found) return hit(fromPkg.path);
    tried.push(fromPkg.path);
  }

  // 5. A local Cargo build, only in a checkout: release first, then debug.
  if (root !== undefined && isCheckout(root)) {
    for (const profile of ["release", "debug"]) {
      const p = join(root, "rust", "target", profile, `ruststorage${exe}`);
      if (isFile(p)) return hit(p);
      tried.push(p);
    }
  }
  return { path: undefined, key, tried, root };
}

/** A git checkout (or source tree) rather than an installed package: the engine's sources are there. */
function isCheckout(root: string): boolean {
  return isFile(join(root, "rust", "Cargo.toml"));
}

function notFound(key: string, tried: readonly string[], root: string | undefined): BinaryNotFoundError {
  const pkg = platformPackageName(key);
  const published = PUBLISHED_PLATFORMS.includes(key);
  const others = root !== undefined ? otherPlatformBinaries(join(root, "bin"), key) : [];
  const detail: string[] = [];
  if (others.length) detail.push(`Found binaries for other platforms only: ${others.join(", ")}.`);
  if (root === undefined) detail.push("This module was not loaded from the file system (JSR?), so no installed package could be searched.");
  const advice: string[] = [];
  if (root !== undefined && isCheckout(root)) {
    advice.push(`This is a source checkout: build the engine with: cargo build --release --manifest-path ${join(root, "rust", "Cargo.toml")}`);
  }
  if (published) {
    advice.push(
      `The engine for ${key} comes in the npm package ${pkg}@${VERSION}, an optional dependency of @push.rocks/smartstorage.`,
      "Install with optional dependencies enabled (not --omit=optional / --no-optional / --ignore-optional), on the platform that runs it",
      `(a node_modules copied from another OS or CPU lacks it), or add it yourself: npm install ${pkg}@${VERSION}`,
      `Deno: run with a node_modules folder (--node-modules-dir) that has ${pkg}, or import from JSR with network access so the engine can be fetched as npm:${pkg}@${VERSION}.`,
    );
  } else {
    advice.push(
      `No prebuilt engine is published for ${key} (there are: ${PUBLISHED_PLATFORMS.join(", ")}).`,
      `Build it from the sources of version ${VERSION} (needs Rust, https://rustup.rs):`,
      "git clone https://code.foss.global/push.rocks/smartstorage.git && cargo build --release --manifest-path smartstorage/rust/Cargo.toml",
    );
  }
  advice.push(`Or point to a ruststorage binary with the ${BINARY_ENV_VAR} environment variable or the binaryPath option.`);
  return new BinaryNotFoundError(key, tried, detail.join(" "), { advice });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function resolveFromPackage(pkg: string, file: string): { found: true; path: string } | { found: false; path: string } {
  const bases = [import.meta.url, join(process.cwd(), "noop.js")];
  for (const base of bases) {
    try {
      const manifest = createRequire(base).resolve(`${pkg}/package.json`);
      const p = join(dirname(manifest), file);
      if (isFile(p)) return { found: true, path: p };
      return { found: false, path: `${p} (npm package ${pkg} has no binary)` };
    } catch {
      // Not installed relative to this base: try the next one.
    }
  }
  return { found: false, path: `npm package ${pkg} (not installed)` };
}

function otherPlatformBinaries(binDir: string, key: string): string[] {
  if (!existsSync(binDir)) return [];
  try {
    return readdirSync(binDir)
      .filter((name) => name.startsWith("ruststorage-") && !name.startsWith(`ruststorage-${key}`))
      .map((name) => join(binDir, name));
  } catch {
    return [];
  }
}
