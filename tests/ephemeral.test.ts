/**
 * The ephemeral preset: fsync off, and its folder removed even when the host dies
 * without stop() (the engine ends when its stdin closes and takes the folder along).
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { resolveConfig } from "../src/config.ts";
import { detectRuntime } from "../src/runtime.ts";
import { spawnChild } from "../src/spawn.ts";
import { describe, it } from "./harness.ts";
import { repoRoot } from "./helpers.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}

/** The first line a stream writes. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text.split("\n")[0]!;
}

describe("ephemeral preset", () => {
  it("turns fsync off unless the config says otherwise", () => {
    assert.equal(resolveConfig({ ephemeral: true }).engine.storage.fsync, false);
    assert.equal(resolveConfig({ ephemeral: true, storage: { fsync: true } }).engine.storage.fsync, true);
    assert.equal(resolveConfig({}).engine.storage.fsync, true);
  });

  it("its folder goes with the engine when the host is killed without stop()", async () => {
    const script = join(
      repoRoot,
      ...(detectRuntime() === "node"
        ? ["dist", "tests", "fixtures", "ephemeral_host.js"]
        : ["tests", "fixtures", "ephemeral_host.ts"]),
    );
    const args = detectRuntime() === "deno" ? ["run", "-A", script] : [script];
    const host = spawnChild(process.execPath, { args, cwd: repoRoot });
    const stderr = new Response(host.stderr).text();
    const line = await firstLine(host.stdout);
    const { directory, pid } = JSON.parse(line || "{}") as { directory?: string; pid?: number };
    if (!directory || !pid) {
      host.kill("SIGKILL");
      assert.fail(`the host printed ${JSON.stringify(line)}; stderr: ${await stderr}`);
    }
    assert.ok(existsSync(directory), "the folder exists while the server runs");
    assert.ok(alive(pid), "the engine runs");
    host.kill("SIGKILL");
    await host.exited;
    const deadline = Date.now() + 10_000;
    while ((existsSync(directory) || alive(pid)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(alive(pid), false, "the engine ended with its host");
    assert.equal(existsSync(directory), false, `${directory} was left behind`);
  });
});
