// prepublishOnly of the repository root: the package that goes to the registry is
// the staged one in npm/@push.rocks/smartstorage/, whose package.json lists the
// per-platform engine packages as optionalDependencies. Publishing the root would
// ship a package without any engine.
import process from "node:process";

console.error(
  [
    "smartstorage: do not publish the repository root.",
    "Build the packages with: scripts/build-release.sh --npm-packages",
    "then publish each npm/@push.rocks/smartstorage-<platform>/ first and npm/@push.rocks/smartstorage/ last",
    "(README, \"Releasing\").",
  ].join("\n"),
);
process.exit(1);
