// Starts a private PostgreSQL for a test file: Debian's `postgresql` package
// (installed by `bash scripts/setup.sh postgresql` when missing), `initdb`
// into a temp directory, `postgres` on a free port of 127.0.0.1 with its unix
// socket in that directory, one database; stop() ends it by PID and removes
// the directory; restart() crashes it (an immediate shutdown) and starts it
// again on the same data. fsync is off (a process crash keeps what the OS
// has); so is synchronous_commit unless { durable: true }, which the crash
// tests need: a commit is then in the WAL before PostgreSQL answers.
// PostgreSQL refuses to run as root, so as root the server runs as the
// `postgres` system user (the temp directory is chowned to it).
import { execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, installedBinary } from "../support/services.mjs";
import pg from "pg";

const PG_ROOT = "/usr/lib/postgresql";

function findBin() {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT)
        .filter((v) => existsSync(path.join(PG_ROOT, v, "bin/initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return versions.length ? path.join(PG_ROOT, versions[0], "bin") : null;
}

function postgresBin() {
  return installedBinary(findBin, "postgresql", "PostgreSQL");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Resolves to null after ms without keeping the process alive. */
const deadline = (ms) => new Promise((r) => setTimeout(r, ms, null).unref());

/** As root: the postgres user's ids, for spawn's uid/gid. Otherwise: run as ourselves. */
function runAs() {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return {};
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/**
 * @returns {Promise<{ url: string, port: number, database: string, pid: number, connectionString(db?: string): string, restart(o?: { downMs?: number }): Promise<void>, stop(): Promise<void> }>}
 */
export async function startPostgres({ database = "entity_reactor_test", durable = false } = {}) {
  const bin = postgresBin();
  const ids = runAs();
  const dir = mkdtempSync(path.join(os.tmpdir(), "er-pg-"));
  const data = path.join(dir, "data");
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid);
  const env = { PATH: process.env.PATH, LANG: "C.UTF-8", LC_ALL: "C.UTF-8", HOME: dir };
  let child = null;
  let exited = null;
  const cleanupOnExit = () => {
    if (child && exited === null) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // If the test process is stopped by a signal, the server goes with it.
  const onSignal = (signal) => {
    cleanupOnExit();
    process.exit(128 + (os.constants.signals[signal] ?? 1));
  };
  process.once("exit", cleanupOnExit);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.once(signal, onSignal);
  const unhook = () => {
    process.removeListener("exit", cleanupOnExit);
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.removeListener(signal, onSignal);
  };
  try {
    execFileSync(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], {
      ...ids,
      env,
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 60_000,
    });
    const port = await freePort();
    const log = [];
    let exitedP = null;
    const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
    // Starts postgres on the data directory; ready once a connection succeeds (bounded: 30 s).
    const launch = async () => {
      exited = null;
      child = spawn(
        path.join(bin, "postgres"),
        [
          "-D",
          data,
          "-p",
          String(port),
          "-h",
          "127.0.0.1",
          "-k",
          dir,
          "-c",
          "fsync=off",
          "-c",
          `synchronous_commit=${durable ? "on" : "off"}`,
          "-c",
          "full_page_writes=off",
          "-c",
          "max_connections=60",
        ],
        { ...ids, env, cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
      );
      child.stderr.on("data", (d) => log.push(String(d)));
      const current = child;
      exitedP = new Promise((resolve) =>
        current.on("exit", (code, signal) => {
          if (child === current) exited = { code, signal };
          resolve({ code, signal });
        }),
      );
      let ok = false;
      for (let i = 0; i < 150 && exited === null; i++) {
        const client = new pg.Client({ connectionString: url("postgres"), connectionTimeoutMillis: 1000 });
        try {
          await client.connect();
          await client.query(`CREATE DATABASE ${database}`);
          ok = true;
          break;
        } catch (e) {
          if (e?.code === "42P04") {
            ok = true;
            break;
          }
          await sleep(200);
        } finally {
          await client.end().catch(() => {});
        }
      }
      if (!ok) throw new Error(`PostgreSQL did not start (${JSON.stringify(exited)}):\n${log.join("")}`);
    };
    await launch();

    let stopped = false;
    const server = {
      port,
      database,
      get pid() {
        return child.pid;
      },
      url: url(database),
      connectionString: (db = database) => url(db),
      /**
       * An immediate shutdown (SIGQUIT to the postmaster, by PID: every
       * connection is cut, no checkpoint), then a start on the same data
       * directory and port, which recovers from the write-ahead log.
       */
      async restart({ downMs = 0 } = {}) {
        if (stopped) throw new Error("PostgreSQL was stopped");
        if (exited === null) {
          process.kill(child.pid, "SIGQUIT");
          if (!(await Promise.race([exitedP, deadline(15_000)]))) {
            process.kill(child.pid, "SIGKILL");
            await Promise.race([exitedP, deadline(5_000)]);
          }
        }
        if (downMs) await sleep(downMs);
        await launch();
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        if (exited === null) {
          process.kill(child.pid, "SIGINT"); // fast shutdown
          const done = await Promise.race([exitedP, deadline(15_000)]);
          if (!done) {
            process.kill(child.pid, "SIGKILL");
            await Promise.race([exitedP, deadline(5_000)]);
          }
        }
        rmSync(dir, { recursive: true, force: true });
        unhook();
      },
    };
    return server;
  } catch (e) {
    cleanupOnExit();
    unhook();
    throw e;
  }
}
