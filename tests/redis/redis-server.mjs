// Starts a private redis-server for a test file: Debian's `redis-server`
// package (installed by `bash scripts/setup.sh redis` when missing) on a free
// port of 127.0.0.1, no persistence (--save "" --appendonly no), its working
// directory a temp directory; stop() ends it by PID and removes the directory.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort, installedBinary } from "../support/services.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = (ms) => new Promise((r) => setTimeout(r, ms, null).unref());

function redisBin() {
  const find = () => {
    try {
      return execFileSync("bash", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim() || null;
    } catch {
      return null;
    }
  };
  return installedBinary(find, "redis", "redis-server");
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = "";
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      data += d;
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
  });
}

/** @returns {Promise<{ url: string, port: number, pid: number, version: string, stop(): Promise<void> }>} */
export async function startRedis() {
  const bin = redisBin();
  const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).match(/v=([\d.]+)/)?.[1] ?? "?";
  const dir = mkdtempSync(path.join(os.tmpdir(), "er-redis-"));
  const port = await freePort();
  const log = [];
  const child = spawn(
    bin,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes", "--loglevel", "warning"],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (d) => log.push(String(d)));
  child.stderr.on("data", (d) => log.push(String(d)));
  let exited = null;
  const exitedP = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );
  const cleanupOnExit = () => {
    if (exited === null) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", cleanupOnExit);
  let ok = false;
  for (let i = 0; i < 100 && exited === null; i++) {
    if (await ping(port)) {
      ok = true;
      break;
    }
    await sleep(100);
  }
  if (!ok) {
    cleanupOnExit();
    process.removeListener("exit", cleanupOnExit);
    throw new Error(`redis-server did not start (${JSON.stringify(exited)}):\n${log.join("")}`);
  }
  let stopped = false;
  return {
    port,
    pid: child.pid,
    version,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (exited === null) {
        process.kill(child.pid, "SIGTERM");
        if (!(await Promise.race([exitedP, deadline(10_000)]))) {
          process.kill(child.pid, "SIGKILL");
          await Promise.race([exitedP, deadline(5_000)]);
        }
      }
      rmSync(dir, { recursive: true, force: true });
      process.removeListener("exit", cleanupOnExit);
    },
  };
}
