#!/usr/bin/env node
// Edge bench: writes per second through ONE Durable Object over local HTTP,
// in workerd (the npm `workerd` binary of tests/package.json), with the
// transition log in the object's SQLite (entity-reactor/stores/durable-object)
// and with the embedded in-memory store. Every write changes a catalog
// system (one of 100, round robin) whose row lives in the object's SQLite
// table, so both rows pay for the host's own write; they differ only in
// where the transition rows go.
//
//   node bench/edge.mjs            about 40 s; prints a table
//   node bench/edge.mjs --quick    about 15 s
//   node bench/edge.mjs --json     the table as JSON on the last line (for bench/bench.mjs)
//
// Rows: "no write" (the HTTP + Durable Object round trip alone), "embedded
// store", "DO SQLite store" (a bench worker: POST → RPC → mutate), and
// "example" (examples/cloudflare-worker as deployed: PATCH
// /catalogs/:tenant/systems/:id, body validated by the module-scope engine,
// RPC to the tenant's object, DO SQLite store with retention 1,000). Each at
// 1 and 16 requests in flight; the client (Node fetch) shares the machine's
// CPUs with workerd. Needs js/wasm (scripts/build-wasm.sh) and
// `npm ci --prefix tests`.
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../tests/support/services.mjs";
import { capnpString, checkPrerequisites, packageModules, pkgDir, startWorkerd } from "../tests/workerd/harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const asJson = args.has("--json");
const SECONDS = quick ? 1 : 3;
const WARMUP_MS = quick ? 300 : 700;
const IDS = 100;
const CONCURRENCY = [1, 16];

// The bench worker: one object class per store, the same write path.
const BENCH_WORKER = `
import { DurableObject } from "cloudflare:workers";
import { createEngine } from "entity-reactor";
import { registerCatalogEntities, toCatalogSystemState } from "entity-reactor/catalog";
import { createDurableObjectTransitionStore } from "entity-reactor/stores/durable-object";

// hostSql: the systems' rows in the object's SQLite (else in a Map);
// sqliteStore: the transition log too (else the embedded store).
class Bench extends DurableObject {
  constructor(ctx, env, { hostSql, sqliteStore }) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    const rows = new Map();
    if (hostSql) sql.exec("CREATE TABLE IF NOT EXISTS systems (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, metadata TEXT NOT NULL)");
    this.get = hostSql
      ? (id) => {
          const [row] = sql.exec("SELECT * FROM systems WHERE id = ?", id).toArray();
          return row ? { ...row, metadata: JSON.parse(row.metadata) } : undefined;
        }
      : (id) => rows.get(id);
    this.put = hostSql
      ? (id, state) =>
          sql.exec(
            "INSERT INTO systems (id, name, description, metadata) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, metadata = excluded.metadata",
            id, state.name, state.description, JSON.stringify(state.metadata))
      : (id, state) => rows.set(id, state);
    const transitions = sqliteStore ? createDurableObjectTransitionStore(ctx.storage, { retentionPerEntity: 1000 }) : null;
    ctx.blockConcurrencyWhile(async () => {
      this.engine = await createEngine({ transitions, retentionPerEntity: sqliteStore ? undefined : 1000, emit: () => {} });
      const read = (ids) => {
        const out = {};
        for (const id of ids) {
          const row = this.get(id);
          if (row) out[id] = toCatalogSystemState(row);
        }
        return out;
      };
      this.systems = registerCatalogEntities(this.engine, { readSystems: read, readGroups: () => ({}) }).systemEntity;
    });
  }
  ping() {
    return 1;
  }
  async write(id, name) {
    await this.systems.mutate({
      id,
      apply: () => {
        const state = { name, description: null, metadata: { team: "core", tier: 2, owner: "platform" } };
        this.put(id, state);
        return state;
      },
    });
    return 1;
  }
}
export class SqliteStore extends Bench {
  constructor(ctx, env) { super(ctx, env, { hostSql: true, sqliteStore: true }); }
}
export class EmbeddedStore extends Bench {
  constructor(ctx, env) { super(ctx, env, { hostSql: true, sqliteStore: false }); }
}
export class MemoryOnly extends Bench {
  constructor(ctx, env) { super(ctx, env, { hostSql: false, sqliteStore: false }); }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, what, id, name] = url.pathname.split("/");
    const ns = what === "embedded" ? env.EMBEDDED : what === "memory" ? env.MEMORY : env.SQLITE;
    const stub = ns.get(ns.idFromName("one"));
    if (what === "ping") await stub.ping();
    else await stub.write(id, name);
    return new Response("ok");
  },
};
`;

async function setUp(dir) {
  checkPrerequisites();
  const tmp = await mkdtemp(path.join(dir, "er-edge-bench-"));
  await mkdir(path.join(tmp, "node_modules"));
  await mkdir(path.join(tmp, "do"));
  await symlink(pkgDir, path.join(tmp, "node_modules/entity-reactor"), "dir");
  await writeFile(path.join(tmp, "bench-worker.js"), BENCH_WORKER);
  await cp(path.join(root, "examples/cloudflare-worker/src"), path.join(tmp, "example"), { recursive: true });
  const pkg = await packageModules("node_modules/entity-reactor");
  const example = (await readdir(path.join(tmp, "example")))
    .filter((f) => f.endsWith(".js"))
    .sort((a) => (a === "worker.js" ? -1 : 1));
  const port = await freePort();
  const examplePort = await freePort();
  const disk = (name) =>
    `(name = "${name}", disk = (path = ${capnpString(path.join(tmp, "do", name))}, writable = true))`;
  await mkdir(path.join(tmp, "do", "bench-disk"));
  await mkdir(path.join(tmp, "do", "example-disk"));
  await writeFile(
    path.join(tmp, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "bench", worker = .bench), (name = "example", worker = .example), ${disk("bench-disk")}, ${disk("example-disk")}],
  sockets = [
    (name = "bench", address = "127.0.0.1:${port}", http = (), service = "bench"),
    (name = "example", address = "127.0.0.1:${examplePort}", http = (), service = "example"),
  ],
);
const bench :Workerd.Worker = (
  modules = [(name = "bench-worker.js", esModule = embed "bench-worker.js"), ${pkg.join(", ")}],
  compatibilityDate = "2025-09-01",
  durableObjectNamespaces = [
    (className = "SqliteStore", uniqueKey = "edge-bench-sqlite", enableSql = true),
    (className = "EmbeddedStore", uniqueKey = "edge-bench-embedded", enableSql = true),
    (className = "MemoryOnly", uniqueKey = "edge-bench-memory", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "bench-disk"),
  bindings = [
    (name = "SQLITE", durableObjectNamespace = "SqliteStore"),
    (name = "EMBEDDED", durableObjectNamespace = "EmbeddedStore"),
    (name = "MEMORY", durableObjectNamespace = "MemoryOnly"),
  ],
);
const example :Workerd.Worker = (
  modules = [${example.map((f) => `(name = ${capnpString(f)}, esModule = embed ${capnpString(`example/${f}`)})`).join(", ")}, ${pkg.join(", ")}],
  compatibilityDate = "2025-09-01",
  durableObjectNamespaces = [(className = "Catalog", uniqueKey = "edge-bench-example", enableSql = true)],
  durableObjectStorage = (localDisk = "example-disk"),
  bindings = [(name = "CATALOG", durableObjectNamespace = "Catalog"), (name = "RETENTION_PER_ENTITY", text = "1000")],
);
`,
  );
  const workerd = await startWorkerd({ cwd: tmp, port });
  return { tmp, workerd, bench: `http://127.0.0.1:${port}`, example: `http://127.0.0.1:${examplePort}` };
}

// node:http with keep-alive: Node's fetch (undici) adds about 10 ms per
// request against workerd here, which would hide everything else.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function send(url, { method = "GET", body } = {}) {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: hostname,
        port,
        path: pathname,
        method,
        agent,
        headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          res.statusCode < 300
            ? resolve()
            : reject(new Error(`${method} ${url}: ${res.statusCode} ${Buffer.concat(chunks)}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

// CPU seconds (user + system) workerd has used: /proc/<pid>/stat, in clock ticks.
async function cpuSeconds(pid) {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

// Runs `request(i)` from `concurrency` loops for `seconds` after a warm-up.
async function measure(request, concurrency, seconds) {
  let counter = 0;
  let warmup = 0;
  const warmEnd = Date.now() + WARMUP_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < warmEnd) {
        await request(counter++);
        warmup++;
      }
    }),
  );
  const latencies = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await request(counter++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { requests: latencies.length, warmup, perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
}

// Where workerd keeps the objects' SQLite files: on disk (what `wrangler
// dev` and workerd do locally: every commit is synced, which this machine's
// disk prices at several ms), and on tmpfs (the same SQLite work without the
// sync: closer to the CPU a write costs; on Cloudflare durability comes from
// replication instead, with its own latency).
function storages() {
  const out = [{ name: "local disk", dir: os.tmpdir() }];
  if (existsSync("/dev/shm")) out.push({ name: "tmpfs", dir: "/dev/shm" });
  return out;
}

async function main() {
  const rows = [];
  const id = (i) => `sys-${i % IDS}`;
  const workloads = [
    // [workload, transition store, touches storage, request(i) for a setup]
    ["no write (HTTP + DO round trip)", "—", false, (env) => () => send(`${env.bench}/ping`)],
    [
      "mutate, host rows in a Map",
      "embedded (in-memory)",
      false,
      (env) => (i) => send(`${env.bench}/memory/${id(i)}/n-${i}`),
    ],
    [
      "mutate, host rows in SQLite",
      "embedded (in-memory)",
      true,
      (env) => (i) => send(`${env.bench}/embedded/${id(i)}/n-${i}`),
    ],
    ["mutate, host rows in SQLite", "DO SQLite", true, (env) => (i) => send(`${env.bench}/sqlite/${id(i)}/n-${i}`)],
    [
      "example: PATCH /catalogs/:t/systems/:id",
      "DO SQLite",
      true,
      (env) => (i) =>
        send(`${env.example}/catalogs/bench/systems/${id(i)}`, {
          method: "PATCH",
          body: JSON.stringify({ name: `n-${i}` }),
        }),
    ],
  ];
  let first = true;
  for (const storage of storages()) {
    const env = await setUp(storage.dir);
    try {
      // The example's systems exist before it is measured (PATCH needs them).
      for (let i = 0; i < IDS; i++)
        await send(`${env.example}/catalogs/bench/systems`, {
          method: "POST",
          body: JSON.stringify({ id: id(i), name: "start", metadata: { team: "core", tier: 2 } }),
        });
      for (const [workload, store, storageBound, makeRequest] of workloads) {
        if (!storageBound && !first) continue; // no storage: measured once
        const request = makeRequest(env);
        for (const concurrency of CONCURRENCY) {
          const cpu0 = await cpuSeconds(env.workerd.child.pid);
          const r = await measure(request, concurrency, SECONDS);
          const cpu = (await cpuSeconds(env.workerd.child.pid)) - cpu0; // warm-up included
          rows.push({
            workload,
            store,
            objectFiles: storageBound ? storage.name : "—",
            concurrency,
            ...r,
            workerdCpuMsPerRequest: (cpu * 1000) / (r.requests + r.warmup),
          });
          if (!asJson) process.stderr.write(".");
        }
      }
    } finally {
      await env.workerd.stop();
      await rm(env.tmp, { recursive: true, force: true });
    }
    first = false;
  }
  const { version } = JSON.parse(await readFile(path.join(root, "tests/node_modules/workerd/package.json"), "utf8"));
  if (asJson) {
    console.log(
      JSON.stringify({
        workerd: version,
        seconds: SECONDS,
        cpus: os.cpus().length,
        loadAverage: os.loadavg()[0],
        rows,
      }),
    );
    return;
  }
  process.stderr.write("\n");
  const fmt = (n, d = 0) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  const lines = [
    `Edge bench: one Durable Object over local HTTP, workerd ${version}, ${os.cpus().length} CPUs (load ${os.loadavg()[0].toFixed(1)}), ` +
      `${SECONDS} s per row, the client on the same machine`,
    "",
    "| workload | transition store | object files | in flight | requests/s | p50 ms | p99 ms | workerd CPU ms/request |",
    "|---|---|---|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.workload} | ${r.store} | ${r.objectFiles} | ${r.concurrency} | ${fmt(r.perSecond)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.workerdCpuMsPerRequest, 2)} |`,
    ),
  ];
  console.log(lines.join("\n"));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
