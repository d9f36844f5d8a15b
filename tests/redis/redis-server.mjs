// Starts a private redis-server for a test file: Debian's `redis-server`
// package (installed by `bash scripts/setup.sh redis` when missing) on a free
// port of 127.0.0.1, its working directory a temp directory; stop() ends it
// by PID and removes the directory. By default without persistence
// (--save "" --appendonly no); with { persistent: true } every write is in the
// append-only file before Redis answers (appendfsync always), so kill()
// (SIGKILL by PID) then restart() (same port, same directory) loses nothing
// Redis acknowledged.
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
      // -LOADING while the append-only file is read back: not ready yet.
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
  });
}

/**
 * @param {{ persistent?: boolean }} [options]
 * @returns {Promise<{ url: string, port: number, pid: number, version: string, kill(): Promise<void>, restart(): Promise<void>, stop(): Promise<void> }>}
 */
export async function startRedis({ persistent = false } = {}) {
  const bin = redisBin();
  const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).match(/v=([\d.]+)/)?.[1] ?? "?";
  const dir = mkdtempSync(path.join(os.tmpdir(), "er-redis-"));
  const port = await freePort();
  const persistence = persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    ...persistence,
    "--dir",
    dir,
    "--protected-mode",
    "yes",
    "--loglevel",
    "warning",
  ];
  let child = null;
  let exited = null;
  let exitedP = null;
  const log = [];

  const cleanupOnExit = () => {
    if (child && exited === null) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", cleanupOnExit);

  async function launch() {
    exited = null;
    child = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d) => log.push(String(d)));
    child.stderr.on("data", (d) => log.push(String(d)));
    const current = child;
    exitedP = new Promise((resolve) =>
      current.on("exit", (code, signal) => {
        if (child === current) exited = { code, signal };
        resolve({ code, signal });
      }),
    );
    for (let i = 0; i < 150 && exited === null; i++) {
      if (await ping(port)) return;
      await sleep(100);
    }
    throw new Error(`redis-server did not start (${JSON.stringify(exited)}):\n${log.join("")}`);
  }

  try {
    await launch();
  } catch (e) {
    cleanupOnExit();
    process.removeListener("exit", cleanupOnExit);
    throw e;
  }
  let stopped = false;
  const server = {
    port,
    version,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid;
    },
    /** SIGKILL by PID; resolves once the process is gone. */
    async kill() {
      if (exited !== null) return;
      process.kill(child.pid, "SIGKILL");
      await Promise.race([exitedP, deadline(10_000)]);
    },
    /** Starts redis-server again on the same port and directory (after kill()). */
    async restart() {
      if (stopped) throw new Error("redis-server was stopped");
      if (exited === null) await server.kill();
      await launch();
    },
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
  return server;
}
