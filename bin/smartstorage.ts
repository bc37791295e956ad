#!/usr/bin/env node
/**
 * `smartstorage`: starts an S3-compatible server from command-line flags and
 * runs until Ctrl-C / SIGTERM. Runs on Deno (`deno run -A bin/smartstorage.ts`),
 * Bun (`bun bin/smartstorage.ts`) and Node (`node dist/bin/smartstorage.js`).
 * Run it with `--help` for the flags.
 *
 * @module
 */

import process from "node:process";
import { runCli } from "../src/cli.ts";

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
