/**
 * How long `reset()` takes after a bucket of 1,000 small objects (10 folders), the
 * between-tests cost for suites that use it. Prints five rounds; not a test.
 *
 *   SMARTSTORAGE_BINARY=rust/target/release/ruststorage deno run -A scripts/bench.d/reset.ts [--fsync]
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { SmartStorage } from "../../mod.ts";

const fsync = process.argv.includes("--fsync");
const directory = await mkdtemp(join(tmpdir(), "smartstorage-reset-bench-"));
const storage = await SmartStorage.createAndStart({ storage: { directory, fsync } });
const times: number[] = [];
try {
  for (let round = 0; round < 5; round++) {
    await storage.ensureBucket("reset-bench");
    const base = `${storage.endpointUrl}/reset-bench/`;
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          fetch(`${base}dir${(i + j) % 10}/obj${i + j}`, { method: "PUT", body: "x".repeat(1024) })
            .then((r) => r.body?.cancel())),
      );
    }
    const started = performance.now();
    await storage.reset();
    times.push(performance.now() - started);
  }
} finally {
  await storage.stop();
  await rm(directory, { recursive: true, force: true });
}
console.log(`reset() after 1,000 objects, fsync ${fsync ? "on" : "off"} (ms): ${times.map((t) => t.toFixed(1)).join(", ")}`);
