#!/usr/bin/env node
// Scale figures (issue #16): the WebAssembly heap at 10,000 and 1,000,000
// distinct ids with a host transition store (stores/sqlite on a temp file)
// and with the embedded store under its budget; update throughput when
// every write hits a different id (the cache-miss path) next to a hot set;
// bytes per cached entity. Prints a table and writes bench/scale.json. It
// reports targets; it never fails because one is missed.
//
//   node bench/scale.mjs [--quick] [--ids 1000000] [--out bench/scale.json]
//
// better-sqlite3 comes from tests/node_modules (npm ci --prefix tests).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createEngine } from "../js/src/index.js";
import { createSqliteTransitionStore } from "../js/src/stores/sqlite.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    ids: { type: "string" },
    writes: { type: "string" },
    out: { type: "string", default: path.join(root, "bench/scale.json") },
  },
});
const IDS = Number(args.ids ?? (args.quick ? 100_000 : 1_000_000));
const CHECKPOINTS = [10_000, IDS].filter((n, i, a) => n <= IDS && a.indexOf(n) === i);
const THROUGHPUT_WRITES = Number(args.writes ?? (args.quick ? 20_000 : 60_000));
const HOT_IDS = 1000;
// Targets of issue #16, item 4.
const TARGET = { fixedOverheadBytes: 8 << 20, missVsHot: 1.5 };

const schema = {
  type: "object",
  properties: {
    name: { type: "string" },
    description: { type: ["string", "null"] },
    metadata: { type: "object", additionalProperties: true },
  },
  required: ["name", "description", "metadata"],
  additionalProperties: false,
};
// About 200 bytes of JSON, as in the measurement.
const state = (i, v = 0) => ({
  name: `system-${i}`,
  description: `a catalog system of the monitoring platform, number ${i}`,
  metadata: { owner: "team-observability", tier: i % 3, region: "eu-west-1", version: v, ticket: `OPS-${i % 9973}` },
});

// A host table: read hands back the very object it stored (as an ORM's
// identity map does), apply stores the next one.
function hostTable() {
  const rows = new Map();
  return {
    rows,
    read: (ids) => {
      const out = {};
      for (const id of ids) {
        const s = rows.get(id);
        if (s !== undefined) out[id] = s;
      }
      return out;
    },
  };
}

const mb = (b) => (b / 1048576).toFixed(1);

async function scenario(name, makeTransitions) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "er-scale-"));
  const transitions = makeTransitions(dir);
  const engine = await createEngine({ transitions, logger: { warn() {}, error() {} } });
  const host = hostTable();
  const handle = engine.defineEntity({ kind: "system", state: schema, read: host.read });
  // One write first: the module's scratch buffers exist before the baseline.
  host.rows.set("warm", state(0));
  await handle.mutate({ id: "warm", apply: () => state(0, 1) });
  const base = engine.memory().wasmHeapBytes;
  const budgets = engine.memory(); // for the names only
  const points = [];
  let written = 0;
  const t0 = performance.now();
  // The fill goes in ingest batches (one store transaction each): a
  // transaction per write would time the disk, not the engine.
  const BATCH = 1000;
  for (const target of CHECKPOINTS) {
    while (written < target) {
      const entries = [];
      for (const end = Math.min(target, written + BATCH); written < end; written++) {
        const id = `e${written}`;
        entries.push({ id, next: state(written) });
      }
      // read sees the old states; apply writes the new ones.
      await engine.ingest("system", entries, { apply: () => entries.forEach((e) => host.rows.set(e.id, e.next)) });
    }
    const m = engine.memory();
    points.push({
      ids: target,
      seconds: (performance.now() - t0) / 1000,
      ...m,
      heapAboveBaseline: m.wasmHeapBytes - base,
    });
  }
  // Throughput: a hot set whose states stay cached, then writes that each
  // hit a different id the cache no longer holds (the host has its state:
  // prev crosses as text). Interleaved rounds; the median of each.
  const hotRound = async (n, v) => {
    const t = performance.now();
    for (let k = 0; k < n; k++) {
      const id = `e${k % HOT_IDS}`;
      const next = state(k % HOT_IDS, v * n + k);
      await handle.mutate({ id, apply: () => (host.rows.set(id, next), next) });
    }
    return (performance.now() - t) / n;
  };
  let cursor = HOT_IDS;
  const stride = 7919; // a prime: the walk visits ids far apart
  const missRound = async (n, v) => {
    const t = performance.now();
    for (let k = 0; k < n; k++) {
      cursor = (cursor + stride) % IDS;
      const i = cursor < HOT_IDS ? cursor + HOT_IDS : cursor;
      const id = `e${i}`;
      const next = state(i, v + 1);
      await handle.mutate({ id, apply: () => (host.rows.set(id, next), next) });
    }
    return (performance.now() - t) / n;
  };
  await hotRound(HOT_IDS * 2, 0); // warm the hot set into the cache
  const before = engine.memory();
  const hot = [];
  const miss = [];
  const rounds = 6;
  const per = Math.max(1000, Math.floor(THROUGHPUT_WRITES / rounds));
  for (let r = 0; r < rounds; r++) {
    hot.push(await hotRound(per, r + 1));
    miss.push(await missRound(per, r + 1));
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const hotUs = median(hot) * 1000;
  const missUs = median(miss) * 1000;
  const after = engine.memory();
  const final = { ...after, heapAboveBaseline: after.wasmHeapBytes - base };
  engine.close();
  transitions?.close?.();
  rmSync(dir, { recursive: true, force: true });
  return { name, baseHeap: base, points, budgets, cacheBefore: before, hotUs, missUs, final };
}

const require = createRequire(path.join(root, "tests/package.json"));
let Database = null;
try {
  Database = require("better-sqlite3");
} catch {
  console.log("better-sqlite3 is missing (npm ci --prefix tests): the SQLite rows are skipped");
}

const results = [];
if (Database) {
  results.push(
    await scenario("SQLite store", (dir) => {
      const db = new Database(path.join(dir, "scale.db"));
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      const store = createSqliteTransitionStore(db);
      store.close = () => db.close();
      return store;
    }),
  );
}
results.push(await scenario("embedded store", () => undefined));

const DEFAULT_CACHE = 16 << 20;
const DEFAULT_LOG = 64 << 20;
console.log(
  `\nScale (issue #16): ${IDS.toLocaleString("en")} distinct ids, ~200-byte states, default budgets (stateCacheBytes ${mb(DEFAULT_CACHE)} MB, transitionLogBytes ${mb(DEFAULT_LOG)} MB)`,
);
console.log(
  "store            ids        heap above   state cache       cached   log bytes   log rows    tracked   fill (ingest)",
);
console.log(
  "                            baseline MB  MB                entities MB                      entities  µs/write",
);
const out = { ids: IDS, defaults: { stateCacheBytes: DEFAULT_CACHE, transitionLogBytes: DEFAULT_LOG }, scenarios: [] };
let worstOverhead = 0;
let worstRatio = 0;
for (const r of results) {
  let prev = { ids: 0, seconds: 0 };
  for (const p of r.points) {
    const fillUs = ((p.seconds - prev.seconds) * 1e6) / (p.ids - prev.ids);
    prev = p;
    console.log(
      `${r.name.padEnd(16)} ${String(p.ids).padStart(9)}  ${mb(p.heapAboveBaseline).padStart(11)}  ${mb(p.stateCacheBytes).padStart(11)}  ${String(p.cachedEntities).padStart(11)}  ${mb(p.transitionLogBytes).padStart(9)}  ${String(p.transitionLogRows).padStart(9)}  ${String(p.entities).padStart(9)}  ${fillUs.toFixed(1).padStart(6)}`,
    );
  }
  const last = r.points.at(-1);
  // What the heap holds beyond the budgets' contents: the fixed overhead.
  const overhead = last.heapAboveBaseline - last.stateCacheBytes - last.transitionLogBytes;
  worstOverhead = Math.max(worstOverhead, overhead);
  const first = r.points[0];
  const perCached =
    first.cachedEntities > 0 ? (first.heapAboveBaseline - first.transitionLogBytes) / first.cachedEntities : 0;
  const ratio = r.missUs / r.hotUs;
  worstRatio = Math.max(worstRatio, ratio);
  console.log(
    `${"".padEnd(16)} heap beyond the budgets' contents at ${last.ids.toLocaleString("en")} ids: ${mb(overhead)} MB; ` +
      `${perCached.toFixed(0)} heap bytes per cached entity (at ${first.ids.toLocaleString("en")} ids: state ${(first.stateCacheBytes / Math.max(1, first.cachedEntities)).toFixed(0)} B + index)`,
  );
  console.log(
    `${"".padEnd(16)} update: hot set (${HOT_IDS} ids, cached) ${r.hotUs.toFixed(2)} µs/write, every write a different id (cache miss) ${r.missUs.toFixed(2)} µs/write: ${ratio.toFixed(2)}×`,
  );
  out.scenarios.push({ ...r, overheadBytes: overhead, heapBytesPerCachedEntity: perCached, missVsHot: ratio });
}
const tick = (ok) => (ok ? "✓" : "✗");
console.log(
  `targets: heap ≤ budgets + a fixed overhead at ${IDS.toLocaleString("en")} ids (worst ${mb(worstOverhead)} MB beyond the budgets' contents, ≤ ${mb(TARGET.fixedOverheadBytes)} MB) ${tick(worstOverhead <= TARGET.fixedOverheadBytes)}; ` +
    `cache miss ≤ ${TARGET.missVsHot}× hot (worst ${worstRatio.toFixed(2)}×) ${tick(worstRatio <= TARGET.missVsHot)}`,
);
out.targets = { ...TARGET, worstOverheadBytes: worstOverhead, worstMissVsHot: worstRatio };
writeFileSync(args.out, JSON.stringify(out, null, 2) + "\n");
console.log(`wrote ${path.relative(process.cwd(), args.out)}`);
