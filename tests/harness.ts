/**
 * A tiny test harness: `describe`/`it`/`beforeAll`/`afterAll` mapped onto each
 * runtime's own runner, so one set of test files runs unchanged on
 * Deno (`deno test -A`), Bun (`bun test`) and Node (`node --test` on the
 * compiled output).
 *
 * - Bun: `bun:test` as is.
 * - Node: `node:test` (`before`/`after` for the hooks).
 * - Deno: one `Deno.test` per `describe`, one step per `it`; `beforeAll` runs
 *   before the first step and `afterAll` always runs after the last.
 *
 * @module
 */

import { detectRuntime } from "../src/runtime.ts";

/** A test or hook body. */
export type TestFn = () => void | Promise<void>;

/** Options of {@linkcode it}. */
export interface TestOptions {
  /** Per-test timeout in ms; default {@linkcode DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Default timeout of a test or hook. */
export const DEFAULT_TIMEOUT_MS = 60_000;

interface Runner {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: TestFn, options?: TestOptions): void;
  beforeAll(fn: TestFn): void;
  afterAll(fn: TestFn): void;
}

// Module names in variables: each runtime only ever loads its own runner.
const BUN_TEST = "bun:test";
const NODE_TEST = "node:test";

async function loadRunner(): Promise<Runner> {
  switch (detectRuntime()) {
    case "bun": {
      const bun = await import(BUN_TEST);
      return {
        describe: (name, fn) => bun.describe(name, fn),
        it: (name, fn, options) => bun.it(name, fn, options?.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        beforeAll: (fn) => bun.beforeAll(fn, DEFAULT_TIMEOUT_MS),
        afterAll: (fn) => bun.afterAll(fn, DEFAULT_TIMEOUT_MS),
      };
    }
    case "node": {
      const node = await import(NODE_TEST);
      return {
        describe: (name, fn) => node.describe(name, fn),
        it: (name, fn, options) => node.it(name, { timeout: options?.timeoutMs ?? DEFAULT_TIMEOUT_MS }, fn),
        beforeAll: (fn) => node.before(fn, { timeout: DEFAULT_TIMEOUT_MS }),
        afterAll: (fn) => node.after(fn, { timeout: DEFAULT_TIMEOUT_MS }),
      };
    }
    case "deno":
      return denoRunner();
  }
}

interface DenoTestContext {
  step(definition: { name: string; fn: () => Promise<void> }): Promise<boolean>;
}
interface DenoTestApi {
  test(definition: {
    name: string;
    fn: (t: DenoTestContext) => Promise<void>;
    sanitizeOps?: boolean;
    sanitizeResources?: boolean;
  }): void;
}

function denoRunner(): Runner {
  const Deno = (globalThis as unknown as { Deno: DenoTestApi }).Deno;
  interface Suite {
    befores: TestFn[];
    afters: TestFn[];
    tests: { name: string; fn: TestFn; timeoutMs: number }[];
  }
  let current: Suite | undefined;
  const outside = (what: string) => new Error(`${what} must be called inside describe()`);
  return {
    describe(name, body) {
      const suite: Suite = { befores: [], afters: [], tests: [] };
      current = suite;
      try {
        body();
      } finally {
        current = undefined;
      }
      Deno.test({
        name,
        // Sanitizers stay on: a leaked timer, process or pipe fails the suite.
        async fn(t) {
          try {
            for (const before of suite.befores) await withTimeout("beforeAll", before, DEFAULT_TIMEOUT_MS);
            for (const test of suite.tests) {
              await t.step({ name: test.name, fn: () => withTimeout(test.name, test.fn, test.timeoutMs) });
            }
          } finally {
            for (const after of suite.afters) await withTimeout("afterAll", after, DEFAULT_TIMEOUT_MS);
          }
        },
      });
    },
    it(name, fn, options) {
      if (!current) throw outside("it()");
      current.tests.push({ name, fn, timeoutMs: options?.timeoutMs ?? DEFAULT_TIMEOUT_MS });
    },
    beforeAll(fn) {
      if (!current) throw outside("beforeAll()");
      current.befores.push(fn);
    },
    afterAll(fn) {
      if (!current) throw outside("afterAll()");
      current.afters.push(fn);
    },
  };
}

async function withTimeout(name: string, fn: TestFn, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(fn),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`"${name}" timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const runner = await loadRunner();

/**
 * Groups tests that share one setup (one server per file).
 *
 * @param name Suite name.
 * @param fn Registers the tests and hooks.
 */
export function describe(name: string, fn: () => void): void {
  runner.describe(name, fn);
}

/**
 * Registers one test.
 *
 * @param name Test name, "symbol() does X".
 * @param fn Test body.
 * @param options Timeout.
 */
export function it(name: string, fn: TestFn, options?: TestOptions): void {
  runner.it(name, fn, options);
}

/**
 * Runs `fn` once before the tests of the enclosing `describe`.
 *
 * @param fn Setup.
 */
export function beforeAll(fn: TestFn): void {
  runner.beforeAll(fn);
}

/**
 * Runs `fn` once after the tests of the enclosing `describe`, even when they fail.
 *
 * @param fn Clean-up.
 */
export function afterAll(fn: TestFn): void {
  runner.afterAll(fn);
}
