/**
 * A `TransformStream` that splits a text stream into lines.
 *
 * @module
 */

/**
 * Splits a stream of strings into lines (on `\n`, with a trailing `\r` removed).
 * Empty lines are dropped; a last line without a newline is emitted at the end.
 *
 * @example Splitting a stream into lines
 * ```ts
 * import { LineSplitStream } from "./line_split_stream.ts";
 * const lines = ReadableStream.from(["a\nb", "c\n", "d"]).pipeThrough(new LineSplitStream());
 * for await (const line of lines) console.log(line); // "a", "bc", "d"
 * ```
 */
export class LineSplitStream extends TransformStream<string, string> {
  #buffer = "";

  /** Creates a line splitter. */
  constructor() {
    super({
      transform: (chunk, controller) => {
        const parts = (this.#buffer + chunk).split("\n");
        // The last part has no newline yet: keep it for the next chunk.
        this.#buffer = parts.pop() ?? "";
        for (const part of parts) {
          const line = stripCr(part);
          if (line.length > 0) controller.enqueue(line);
        }
      },
      flush: (controller) => {
        const line = stripCr(this.#buffer);
        this.#buffer = "";
        if (line.length > 0) controller.enqueue(line);
      },
    });
  }
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
