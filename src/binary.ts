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
 * The platform key of this machine, as used in binary and package names.
 *
 * @returns `<os>-<arch>` in Node's spelling, e.g. `linux-x64`, `darwin-arm64`.
 *
 * @example
 * ```ts
 * import { platformKey } from "./binary.ts";
 * console.log(platformKey()); // "linux-x64"
 * ```
 */
export function platformKey(): string {
  return `${process.platform}-${process.arch}`;
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
 * 3. a prebuilt `bin/ruststorage-<os>-<arch>` inside this package;
 * 4. the optional per-platform npm package `@push.rocks/smartstorage-<os>-<arch>`;
 * 5. a local Cargo build: `rust/target/release/ruststorage`, then `rust/target/debug/ruststorage`.
 *
 * @param options Explicit path, environment, package root.
 * @returns Absolute path of the binary.
 * @throws {BinaryNotFoundError} Naming the platform key and every path tried.
 *
 * @example Finding the binary
 * ```ts
 * import { resolveBinary } from "./binary.ts";
 * console.log(resolveBinary());
 * ```
 */
export function resolveBinary(options: ResolveBinaryOptions = {}): string {
  const key = platformKey();
  const exe = process.platform === "win32" ? ".exe" : "";
  const env = options.env ?? process.env;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const root = options.packageRoot ?? packageRoot();
  const tried: string[] = [];

  // 1. Explicit option: the caller said exactly which file to run, so a missing
  //    file is an error rather than a reason to look elsewhere.
  if (options.binaryPath !== undefined) {
    const explicit = resolvePath(options.binaryPath);
    if (isFile(explicit)) return explicit;
    throw new BinaryNotFoundError(key, [`${explicit} (binaryPath option)`], "The binaryPath option points to a file that does not exist.");
  }

  // 2. Environment override, the same one users and tests get. A stale value is
  //    common (a deleted build folder), so warn and fall through.
  const fromEnv = env[BINARY_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== "") {
    const p = resolvePath(fromEnv);
    if (isFile(p)) return p;
    warn(`smartstorage: ignoring ${BINARY_ENV_VAR}=${fromEnv}: no such file`);
    tried.push(`${p} (${BINARY_ENV_VAR}, missing)`);
  }

  // 3. Prebuilt binary shipped inside this package (scripts/build-release.sh puts
  //    them into bin/ before publishing).
  if (root !== undefined) {
    const p = join(root, "bin", `ruststorage-${key}${exe}`);
    if (isFile(p)) return p;
    tried.push(p);
  }

  // 4. Optional per-platform npm package (esbuild-style), resolved from this
  //    module and from the working directory (Deno/JSR users who added it with
  //    `deno add npm:@push.rocks/smartstorage-<os>-<arch>`).
  const pkg = platformPackageName(key);
  const fromPkg = resolveFromPackage(pkg, `bin/ruststorage${exe}`);
  if (fromPkg.found) return fromPkg.path;
  tried.push(fromPkg.path);

  // 5. A local Cargo build (a git checkout): release first, then debug.
  if (root !== undefined) {
    for (const profile of ["release", "debug"]) {
      const p = join(root, "rust", "target", profile, `ruststorage${exe}`);
      if (isFile(p)) return p;
      tried.push(p);
    }
  } else {
    tried.push("(package location unknown, e.g. loaded from JSR: bundled and locally built binaries were not searched)");
  }

  // Nothing found: say so, and mention binaries built for another platform.
  const others = root !== undefined ? otherPlatformBinaries(join(root, "bin"), key) : [];
  const detail = others.length
    ? `Found binaries for other platforms only: ${others.join(", ")}.`
    : "";
  throw new BinaryNotFoundError(key, tried, detail);
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
