/**
 * Runtime detection: the one place that decides which JavaScript runtime we run on.
 *
 * @module
 */

/** The JavaScript runtimes smartstorage supports: a closed union. */
export type Runtime = "deno" | "bun" | "node";

/**
 * Detects the current runtime by feature checks (never by user agent strings).
 *
 * @returns `"deno"`, `"bun"` or `"node"`.
 *
 * @example Branching on the runtime
 * ```ts
 * import { detectRuntime } from "./runtime.ts";
 * console.log(`running on ${detectRuntime()}`);
 * ```
 */
export function detectRuntime(): Runtime {
  const g = globalThis as Record<string, unknown>;
  // Deno: the `Deno` namespace with a `Command` constructor. Checked first because
  // Deno also provides a Node-compatible `process` global.
  const deno = g["Deno"] as { Command?: unknown; version?: { deno?: string } } | undefined;
  if (typeof deno === "object" && deno !== null && typeof deno.Command === "function") {
    return "deno";
  }
  // Bun: the `Bun` global with `spawn`. Checked before Node because Bun also sets
  // `process.versions.node`.
  const bun = g["Bun"] as { spawn?: unknown } | undefined;
  if (typeof bun === "object" && bun !== null && typeof bun.spawn === "function") {
    return "bun";
  }
  // Node: `process.versions.node`. This is the fallback; anything else that
  // claims Node compatibility (and is neither of the above) is treated as Node.
  const proc = g["process"] as { versions?: { node?: string } } | undefined;
  if (typeof proc?.versions?.node === "string") {
    return "node";
  }
  throw new Error(
    "smartstorage supports Deno, Bun and Node only; this runtime is none of them",
  );
}
