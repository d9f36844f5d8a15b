// Shared by the tests that start their own servers (PostgreSQL, Redis,
// workerd): a free loopback port, and a binary installed on demand through
// scripts/setup.sh.
import { execFileSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** find() → path or null; when null, installs `setupArg` with scripts/setup.sh and looks again. */
export function installedBinary(find, setupArg, what) {
  let bin = find();
  if (!bin) {
    execFileSync("bash", [path.join(root, "scripts/setup.sh"), setupArg], { stdio: "inherit", timeout: 600_000 });
    bin = find();
  }
  if (!bin) throw new Error(`${what} is not installed: run \`bash scripts/setup.sh ${setupArg}\``);
  return bin;
}
