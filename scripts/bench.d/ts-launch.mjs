// The engine started through the TypeScript module (compiled dist/mod.js), as an
// application embeds it: scripts/bench measures the engine process it spawns.
//   node ts-launch.mjs PORT DIR ACCESS_KEY SECRET_KEY ENGINE_BINARY
import { SmartStorage } from "../../dist/mod.js";

const [port, directory, accessKeyId, secretAccessKey, binaryPath] = process.argv.slice(2);
const storage = await SmartStorage.createAndStart({
  binaryPath,
  server: { address: "127.0.0.1", port: Number(port) },
  storage: { directory, fsync: false },
  auth: { enabled: true, credentials: [{ accessKeyId, secretAccessKey }] },
});
const stop = async () => {
  await storage.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
