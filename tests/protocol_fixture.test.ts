/**
 * tests/fixtures/protocol.ndjson, the example of every management message, against
 * this host's protocol types (src/protocol.ts). The engine's tests check the same
 * file against its types (rust/src/management/protocol.rs), so neither side can
 * change a method, result or event without the other noticing.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkShape,
  ERROR_SHAPE,
  EVENT_SHAPES,
  type MethodName,
  PARAMS_SHAPES,
  PROTOCOL_VERSION,
  RESULT_SHAPES,
} from "../src/protocol.ts";
import { describe, it } from "./harness.ts";
import { repoRoot } from "./helpers.ts";

type Line = { n: number; message: Record<string, unknown> };

function fixture(): Line[] {
  const text = readFileSync(join(repoRoot, "tests", "fixtures", "protocol.ndjson"), "utf8");
  return text.split("\n").flatMap((line, i) => {
    if (line.trim() === "") return [];
    const message = JSON.parse(line) as unknown;
    assert.ok(typeof message === "object" && message !== null && !Array.isArray(message), `line ${i + 1}: an object`);
    return [{ n: i + 1, message: message as Record<string, unknown> }];
  });
}

const sorted = (names: Iterable<string>) => [...names].sort();
const isMethod = (name: unknown): name is MethodName => typeof name === "string" && Object.hasOwn(RESULT_SHAPES, name);

describe("protocol fixture", () => {
  const lines = fixture();
  const requests = lines.filter((l) => "method" in l.message);
  const responses = lines.filter((l) => "success" in l.message);
  const events = lines.filter((l) => "event" in l.message);
  const methodOf = new Map(requests.map((l) => [String(l.message.id), l.message.method]));
  const failed = new Set(responses.filter((l) => l.message.success === false).map((l) => String(l.message.id)));

  it("every line is a request, a response or an event", () => {
    assert.equal(requests.length + responses.length + events.length, lines.length);
  });

  it("the methods of the fixture are exactly the methods this host knows", () => {
    const answered = requests.filter((l) => !failed.has(String(l.message.id))).map((l) => String(l.message.method));
    assert.deepEqual(sorted(new Set(answered)), sorted(Object.keys(RESULT_SHAPES)));
    assert.deepEqual(sorted(Object.keys(PARAMS_SHAPES)), sorted(Object.keys(RESULT_SHAPES)));
  });

  it("every request of a known method has the params of its TypeScript type", () => {
    for (const { n, message } of requests) {
      assert.equal(typeof message.id, "string", `line ${n}: id`);
      if (!isMethod(message.method)) {
        assert.ok(failed.has(String(message.id)), `line ${n}: unknown method ${String(message.method)} must be answered with an error`);
        continue;
      }
      if (failed.has(String(message.id))) continue; // bad params on purpose
      assert.deepEqual(checkShape(message.params, PARAMS_SHAPES[message.method], "params"), [], `line ${n}`);
    }
  });

  it("every result has the fields of its TypeScript type, every error a code and a message", () => {
    for (const { n, message } of responses) {
      const method = methodOf.get(String(message.id));
      assert.ok(method !== undefined, `line ${n}: answers no request`);
      if (message.success === true) {
        assert.deepEqual(sorted(Object.keys(message)), ["id", "result", "success"], `line ${n}`);
        assert.ok(isMethod(method), `line ${n}: result of unknown method ${String(method)}`);
        assert.deepEqual(checkShape(message.result, RESULT_SHAPES[method], "result"), [], `line ${n} (${method})`);
      } else {
        assert.equal(message.success, false, `line ${n}: success is a boolean`);
        assert.deepEqual(sorted(Object.keys(message)), ["error", "id", "success"], `line ${n}`);
        assert.deepEqual(checkShape(message.error, ERROR_SHAPE, "error"), [], `line ${n}`);
      }
    }
    assert.ok(responses.some((l) => l.message.success === false), "the fixture holds an error response");
  });

  it("every event is one this host knows, with its data, and every such event is there", () => {
    for (const { n, message } of events) {
      assert.deepEqual(sorted(Object.keys(message)), ["data", "event"], `line ${n}`);
      const name = String(message.event);
      assert.ok(Object.hasOwn(EVENT_SHAPES, name), `line ${n}: unknown event ${name}`);
      const shape = EVENT_SHAPES[name as keyof typeof EVENT_SHAPES];
      assert.deepEqual(checkShape(message.data, shape, "data"), [], `line ${n} (${name})`);
    }
    assert.deepEqual(sorted(new Set(events.map((l) => String(l.message.event)))), sorted(Object.keys(EVENT_SHAPES)));
  });

  it("the first line is ready with this host's protocol version", () => {
    const first = lines[0]!.message;
    assert.equal(first.event, "ready");
    assert.equal((first.data as { protocolVersion: unknown }).protocolVersion, PROTOCOL_VERSION);
  });

  it("docs/protocol.md documents exactly these methods and events", () => {
    const doc = readFileSync(join(repoRoot, "docs", "protocol.md"), "utf8");
    /** The backticked names in the first column of the table under `## title`. */
    const names = (title: string) => {
      const section = doc.split(/^## /m).find((s) => s.startsWith(`${title}\n`)) ?? "";
      const firstCells = section.split("\n").filter((l) => /^\| `/.test(l)).map((l) => l.split("|")[1]!);
      return sorted(firstCells.flatMap((cell) => [...cell.matchAll(/`(\w+)`/g)].map((m) => m[1]!)));
    };
    assert.deepEqual(names("Methods"), sorted(Object.keys(RESULT_SHAPES)));
    assert.deepEqual(names("Events"), sorted(Object.keys(EVENT_SHAPES)));
  });

  it("checkShape() reports a missing, an unknown and a mistyped field", () => {
    const problems = checkShape({ name: "a", totalBytes: "1", extra: true }, RESULT_SHAPES.getStorageStats.object.buckets.array);
    assert.deepEqual(problems, [
      "$.objectCount: expected a number, got nothing",
      '$.totalBytes: expected a number, got "1"',
      "$.extra: not a field of the TypeScript type",
    ]);
  });
});
