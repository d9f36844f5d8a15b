#!/usr/bin/env node
// The bench: the workloads of bench/README.md through the package's public
// API (createEngine, registerCatalogEntities, handle.mutate/remove,
// engine.ingest), the same workloads on the native core (native_bench, fed
// the JSON texts this file records), module sizes and cold createEngine
// time. Prints one table and writes bench/results.json. It reports targets;
// it never fails because one is missed.
//
//   node bench/bench.mjs --native build-bench/bench/native_bench   (scripts/bench.sh does this)
//   node bench/bench.mjs --profile update --seconds 8              (one workload, nothing else: for --cpu-prof)
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: args } = parseArgs({
  options: {
    native: { type: "string" }, // native_bench binary; omitted: no native column
    out: { type: "string", default: path.join(root, "bench/results.json") },
    "tape-dir": { type: "string", default: path.join(root, "build-bench/tapes") },
    "js-dir": { type: "string", default: path.join(root, "js/src") }, // the package's src/ (a profiling copy works too)
    only: { type: "string" }, // comma-separated workloads
    profile: { type: "string" }, // run this workload for --seconds and exit
    "tapes-only": { type: "boolean", default: false }, // write the native tapes and exit
    seconds: { type: "string", default: "6" },
    repeats: { type: "string" },
    "run-ms": { type: "string" },
    "warmup-ms": { type: "string" },
    "cold-samples": { type: "string" },
    quick: { type: "boolean", default: false },
  },
});

const QUICK = args.quick;
const REPEATS = Number(args.repeats ?? (QUICK ? 3 : 9));
const RUN_MS = Number(args["run-ms"] ?? (QUICK ? 250 : 300));
const WARMUP_MS = Number(args["warmup-ms"] ?? (QUICK ? 400 : 800));
const COLD_SAMPLES = Number(args["cold-samples"] ?? (QUICK ? 5 : 15));
const NATIVE_MIN_TIME = QUICK ? 0.15 : 0.3; // seconds per native repetition

const ENTITIES = 1000;
const INGEST_ENTRIES = 10000;
const SECRET_COUNT = 1000;
const RUN_ID = "run-bench";
const RETENTION = 16; // rows kept per entity in the embedded store: memory stays bounded
const TAPE_WRITES = 5000; // writes recorded per workload for the native side (5 per entity)
const WORKLOADS = ["update", "noop", "masked", "createRemove", "ingest"];

// The targets of issue 7 (ratios measured in the same run).
const TS_UPDATE = 46000;
const TS_NOOP = 92000;
const TS_MASKED = 3700;
const TARGET = {
  update: 3 * TS_UPDATE,
  noop: 3 * TS_NOOP,
  maskedCost: 1.5, // masked µs/op ≤ 1.5 × update µs/op
  ingest: 5, // per-entry ops/s ≥ 5 × update ops/s
  wasmNative: 2.5, // WASM update µs/op ≤ 2.5 × native
  gzipBytes: 250 * 1000, // .wasm + glue, gzip -9 (KB = 1000 bytes)
  coldMs: 25,
};

// ------------------------------------------------------------------ data

// Deterministic data: a run measures the same states every time.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeSecrets() {
  const rand = mulberry32(7);
  const hex = "0123456789abcdef";
  const out = [];
  for (let i = 0; i < SECRET_COUNT; i++) {
    let s = "sk_live_";
    for (let k = 0; k < 24; k++) s += hex[Math.floor(rand() * 16)];
    out.push(s);
  }
  return out;
}
const SECRETS = makeSecrets();

const TIERS = ["gold", "silver", "bronze"];
const REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"];
const TAGS = ["payments", "pci", "internal", "customer-facing", "batch", "critical"];

// A catalog-system state: name, nullable description, a 10-key metadata
// record with an array (tags) and a nested object (links). With secrets,
// two metadata strings carry run secrets.
function makeState(i, base, secrets) {
  const s1 = secrets?.[i % SECRET_COUNT];
  const s2 = secrets?.[(i * 7 + 3) % SECRET_COUNT];
  return {
    name: base,
    description: i % 4 === 0 ? null : `Handles card payments for region ${REGIONS[i % 5]}; owned by the platform team.`,
    metadata: {
      owner: `team-${i % 13}`,
      tier: TIERS[i % 3],
      region: REGIONS[i % 5],
      costCenter: `CC-${1000 + (i % 97)}`,
      version: 1 + (i % 9),
      enabled: i % 5 !== 0,
      tags: ["api", TAGS[i % 6], TAGS[(i + 2) % 6]],
      links: {
        repo: `https://git.example.com/platform/${base}`,
        runbook: `https://wiki.example.com/runbooks/${base}`,
        dashboard: s1 ? `https://grafana.example.com/d/${i}?api_key=${s1}` : `https://grafana.example.com/d/${i}`,
      },
      lastDeployedAt: "2026-01-02T03:04:05.678Z",
      oncall: s2 ? `pager token ${s2} (rotate monthly)` : `oncall-${i % 11}@example.com`,
    },
  };
}

// One host write: a fresh object with one or two fields changed (what an
// immutable update in a service does). Each entity cycles through the five.
function mutate(prev, n, base) {
  switch ((n + Math.floor(n / ENTITIES)) % 5) {
    case 0: // metadata (a number inside)
      return { ...prev, metadata: { ...prev.metadata, version: prev.metadata.version + 1 } };
    case 1: // description, string <-> null
      return { ...prev, description: prev.description === null ? `Updated by deploy ${n}` : null };
    case 2: // name
      return { ...prev, name: `${base} (rev ${n})` };
    case 3: // description + metadata (the array rotates)
      return {
        ...prev,
        description: `Rotated on deploy ${n}`,
        metadata: { ...prev.metadata, tags: [...prev.metadata.tags.slice(1), prev.metadata.tags[0]] },
      };
    default: // name + metadata (a string)
      return { ...prev, name: `${base} (rev ${n})`, metadata: { ...prev.metadata, lastDeployedAt: `deploy-${n}` } };
  }
}

// The same state, keys in another order at every level: structurally equal.
function reordered(s) {
  const m = s.metadata;
  const out = { metadata: {}, description: s.description, name: s.name };
  const keys = Object.keys(m);
  for (let k = keys.length - 1; k >= 0; k--) {
    const key = keys[k];
    const v = m[key];
    out.metadata[key] = key === "links" ? { dashboard: v.dashboard, runbook: v.runbook, repo: v.repo } : v;
  }
  return out;
}
// Alternates between two key orders, so consecutive writes differ in text.
function reorderedBack(s) {
  const m = s.metadata;
  const metadata = {};
  for (const key of Object.keys(m).reverse()) {
    const v = m[key];
    metadata[key] = key === "links" ? { repo: v.repo, runbook: v.runbook, dashboard: v.dashboard } : v;
  }
  return { name: s.name, description: s.description, metadata };
}

class MapHost {
  map = new Map();
  // Batched async read over the Map (no copy: the host's own objects).
  read = async (ids) => {
    const out = {};
    for (const id of ids) {
      const s = this.map.get(id);
      if (s !== undefined) out[id] = s;
    }
    return out;
  };
}

// A workload: its population and, for write n, the id, whether it removes
// and the next state the host writes (computed from its current state).
function makeWorkload(name) {
  const host = new MapHost();
  const ids = [];
  const bases = [];
  const prefix = { update: "sys", noop: "nop", masked: "msk", createRemove: "cr", ingest: "ing" }[name];
  const count = name === "ingest" ? INGEST_ENTRIES : ENTITIES;
  const secrets = name === "masked" ? SECRETS : null;
  const states = [];
  for (let i = 0; i < count; i++) {
    ids.push(`${prefix}-${i}`);
    bases.push(`payments-api-${i}`);
    states.push(makeState(i, bases[i], secrets));
  }
  const w = { name, host, ids, bases, opts: name === "masked" ? { runId: RUN_ID } : undefined };
  w.reset = () => {
    host.map.clear();
    if (name !== "createRemove") for (let i = 0; i < count; i++) host.map.set(ids[i], states[i]);
  };
  if (name === "createRemove") {
    // write 2j creates entity j % N, write 2j + 1 removes it (a tombstone).
    w.id = (n) => ids[(n >>> 1) % count];
    w.isRemove = (n) => (n & 1) === 1;
    w.next = (n) => ((n & 1) === 1 ? null : states[(n >>> 1) % count]);
  } else if (name === "noop") {
    w.id = (n) => ids[n % count];
    w.isRemove = () => false;
    w.next = (n, prev) => (Math.floor(n / count) % 2 === 0 ? reordered(prev) : reorderedBack(prev));
  } else {
    w.id = (n) => ids[n % count];
    w.isRemove = () => false;
    w.next = (n, prev) => mutate(prev, n, bases[n % count]);
  }
  w.reset();
  return w;
}

// ingest call k: every entity gets one entry changing one or two fields.
function ingestEntries(w, k) {
  const entries = new Array(w.ids.length);
  for (let i = 0; i < w.ids.length; i++) {
    const id = w.ids[i];
    entries[i] = { id, next: mutate(w.host.map.get(id), k * INGEST_ENTRIES + i, w.bases[i]) };
  }
  return entries;
}

// What js/src/engine.js sends for opts (optionsJson).
function optionsText(opts) {
  if (opts === undefined || (opts.actor === undefined && opts.runId === undefined)) return "";
  return JSON.stringify({ actor: opts.actor ?? null, runId: opts.runId ?? null });
}

// ------------------------------------------------------------------ tapes

// The JSON texts the JS layer hands the core for the first TAPE_WRITES writes
// of each workload (and one ingest call), for native_bench to replay.
function writeTapes(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "secrets.txt"), [RUN_ID, ...SECRETS].join("\n") + "\n");
  for (const name of ["update", "noop", "masked", "createRemove"]) {
    const w = makeWorkload(name);
    const opts = optionsText(w.opts);
    const lines = [];
    for (let n = 0; n < TAPE_WRITES; n++) {
      const id = w.id(n);
      const prev = w.host.map.get(id);
      const next = w.next(n, prev);
      lines.push(id, opts, prev === undefined ? "" : JSON.stringify(prev), next === null ? "" : JSON.stringify(next));
      if (next === null) w.host.map.delete(id);
      else w.host.map.set(id, next);
    }
    writeFileSync(path.join(dir, `${name}.tape`), lines.join("\n") + "\n");
  }
  const w = makeWorkload("ingest");
  const entries = ingestEntries(w, 0);
  const ids = entries.map((e) => e.id);
  const prevs = {};
  for (const id of new Set(ids)) if (w.host.map.has(id)) prevs[id] = w.host.map.get(id);
  const payload = entries.map((e) => ({ id: e.id, next: e.next ?? null }));
  const lines = [JSON.stringify(ids), "", JSON.stringify(prevs), JSON.stringify(payload)];
  writeFileSync(path.join(dir, "ingest.tape"), lines.join("\n") + "\n");
}

// ------------------------------------------------------------------ JS runs

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function loadApi() {
  const dir = path.resolve(args["js-dir"]);
  const index = await import(pathToFileURL(path.join(dir, "index.js")).href);
  const catalog = await import(pathToFileURL(path.join(dir, "catalog.js")).href);
  return { createEngine: index.createEngine, registerCatalogEntities: catalog.registerCatalogEntities };
}

async function setupEngine(api, w) {
  const sink = { events: 0, last: null };
  const engine = await api.createEngine({
    retentionPerEntity: RETENTION,
    emit: (event) => {
      sink.events++;
      sink.last = event;
    },
  });
  const { systemEntity } = api.registerCatalogEntities(engine, {
    readSystems: w.host.read,
    readGroups: async () => ({}),
  });
  if (w.name === "masked") engine.secrets.register(RUN_ID, SECRETS);
  return { engine, handle: systemEntity, sink };
}

function writeStep(w, handle) {
  const { host, opts } = w;
  return (n) => {
    const id = w.id(n);
    const apply = async () => {
      const next = w.next(n, host.map.get(id));
      if (next === null) host.map.delete(id);
      else host.map.set(id, next);
      return next;
    };
    return w.isRemove(n) ? handle.remove({ id, opts, apply }) : handle.mutate({ id, opts, apply });
  };
}

const CHUNK = 100;
// CPU time of this process (all of Node's threads: includes GC helpers).
const cpuMs = (usage) => (usage.user + usage.system) / 1000;

// A workload runner: its own engine and Map; warm() runs it for WARMUP_MS,
// sample() measures one sample of ≥ RUN_MS, finish() checks and closes.
// main() interleaves the samples of all workloads round-robin, so a burst of
// load from other processes hits every workload, not just one.
async function writeRunner(api, name) {
  const w = makeWorkload(name);
  const { engine, handle, sink } = await setupEngine(api, w);
  const step = writeStep(w, handle);
  let n = 0;
  let measuredOps = 0;
  let measuredEvents = 0;
  const samples = [];
  return {
    async warm() {
      const t0 = performance.now();
      while (performance.now() - t0 < WARMUP_MS) for (let k = 0; k < CHUNK; k++) await step(n++);
    },
    // Sequential awaited writes: each write's read/apply/commit finishes
    // before the next starts.
    async sample() {
      const events0 = sink.events;
      let ops = 0;
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      let end;
      do {
        for (let k = 0; k < CHUNK; k++) await step(n++);
        ops += CHUNK;
        end = performance.now();
      } while (end - start < RUN_MS);
      samples.push({ ops, ms: end - start, cpuMs: cpuMs(process.cpuUsage(cpu0)) });
      measuredOps += ops;
      measuredEvents += sink.events - events0;
    },
    finish() {
      const checks = { writes: measuredOps, events: measuredEvents };
      checks.ok = name === "noop" ? measuredEvents === 0 : measuredEvents === measuredOps;
      if (name === "masked") {
        const text = JSON.stringify(sink.last);
        checks.maskedInEvent = text.includes("****");
        checks.secretLeaked = SECRETS.some((secret) => text.includes(secret));
        checks.ok = checks.ok && checks.maskedInEvent && !checks.secretLeaked;
      }
      engine.close();
      return summarise(samples, 1, checks);
    },
  };
}

// ingest: one call = INGEST_ENTRIES entries. The host builds the entries
// before the call (untimed); the call itself (read, crossing, commit, the
// change events, opts.apply writing the Map) is timed.
async function ingestRunner(api) {
  const w = makeWorkload("ingest");
  const { engine } = await setupEngine(api, w);
  let k = 0;
  let changesOk = true;
  const samples = [];
  const call = async () => {
    const entries = ingestEntries(w, k++);
    const apply = async () => {
      for (const e of entries) w.host.map.set(e.id, e.next);
    };
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const changes = await engine.ingest("catalog-system", entries, { apply });
    const ms = performance.now() - start;
    const cpu = cpuMs(process.cpuUsage(cpu0));
    changesOk &&= changes.length === INGEST_ENTRIES;
    return { ms, cpu };
  };
  return {
    async warm() {
      const t0 = performance.now();
      do await call();
      while (performance.now() - t0 < WARMUP_MS);
    },
    async sample() {
      let ms = 0;
      let cpu = 0;
      let calls = 0;
      while (calls < 1 || ms < RUN_MS) {
        const c = await call();
        ms += c.ms;
        cpu += c.cpu;
        calls++;
      }
      samples.push({ ops: calls * INGEST_ENTRIES, ms, cpuMs: cpu, calls });
    },
    finish() {
      engine.close();
      return summarise(samples, INGEST_ENTRIES, { ok: changesOk, calls: k, entriesPerCall: INGEST_ENTRIES });
    },
  };
}

async function measureAll(api, names) {
  const runners = {};
  for (const name of names) {
    process.stderr.write(`bench: WASM warm-up ${name}\n`);
    runners[name] = name === "ingest" ? await ingestRunner(api) : await writeRunner(api, name);
    await runners[name].warm();
  }
  for (let r = 0; r < REPEATS; r++) {
    process.stderr.write(`bench: WASM samples, round ${r + 1}/${REPEATS}\n`);
    for (const name of names) await runners[name].sample();
  }
  const out = {};
  for (const name of names) out[name] = runners[name].finish();
  return out;
}

function summarise(samples, perCall, checks) {
  const rates = samples.map((s) => (s.ops / s.ms) * 1000);
  const opsPerSec = median(rates);
  return {
    opsPerSec,
    usPerOp: 1e6 / opsPerSec,
    cpuUsPerOp: median(samples.map((s) => (s.cpuMs * 1000) / s.ops)),
    minOpsPerSec: Math.min(...rates),
    maxOpsPerSec: Math.max(...rates),
    samples: samples.map((s, i) => ({ ...s, opsPerSec: Math.round(rates[i]) })),
    ...(perCall > 1 ? { msPerCall: (perCall / opsPerSec) * 1000 } : {}),
    checks,
  };
}

// ------------------------------------------------------------------ native

function runNative(binary, tapeDir) {
  const r = spawnSync(
    binary,
    [
      `--tape_dir=${tapeDir}`,
      `--benchmark_repetitions=${REPEATS}`,
      `--benchmark_min_time=${NATIVE_MIN_TIME}`,
      "--benchmark_report_aggregates_only=true",
      "--benchmark_enable_random_interleaving=true", // repetitions interleaved across benchmarks
      "--benchmark_format=json",
      ...(args.only ? [`--benchmark_filter=^(${args.only.split(",").join("|")})(/|$)`] : []),
    ],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    throw new Error(`native_bench exited with ${r.status}`);
  }
  // Google Benchmark prints NaN/inf for some aggregates (cv of a constant counter).
  const report = JSON.parse(r.stdout.replace(/:\s*-?(nan|NaN|inf|Infinity)\b/g, ": null"));
  const out = {};
  for (const b of report.benchmarks) {
    const name = b.run_name.split("/")[0]; // "update/real_time"
    if (b.error_occurred) {
      out[name] = { error: b.error_message };
      continue;
    }
    if (b.aggregate_name !== "median") continue;
    const unit = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1 }[b.time_unit];
    const perCall = b.entries_per_call ?? 1;
    const opsPerSec = b.items_per_second ?? perCall / (b.real_time * unit);
    out[name] = {
      opsPerSec,
      usPerOp: 1e6 / opsPerSec,
      cpuUsPerOp: (b.cpu_time * unit * 1e6) / perCall,
      ...(perCall > 1 ? { msPerCall: b.real_time * unit * 1e3 } : {}),
    };
  }
  return { context: report.context, results: out };
}

// ------------------------------------------------------------------ sizes, cold start

function fileSizes() {
  const out = {};
  for (const [key, file] of [["wasm", "js/wasm/entity-reactor.wasm"], ["glue", "js/wasm/entity-reactor.mjs"]]) {
    const bytes = readFileSync(path.join(root, file));
    out[key] = { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  }
  let wrapRaw = 0;
  let wrapGzip = 0;
  for (const f of ["index.js", "engine.js", "errors.js", "load.js", "generated/constants.js"]) {
    const p = path.join(root, "js/src", f);
    if (!existsSync(p)) continue;
    const bytes = readFileSync(p);
    wrapRaw += bytes.length;
    wrapGzip += gzipSync(bytes, { level: 9 }).length;
  }
  out.wrapper = { file: "js/src/{index,engine,errors,load,generated/constants}.js", raw: wrapRaw, gzip: wrapGzip };
  return out;
}

// A fresh `node -e` per sample: module import, then createEngine() (read
// the .wasm, compile, instantiate, construct the engine), timed inside the
// process. For the breakdown, separate fresh processes time
// WebAssembly.compile of the same bytes alone (V8 caches compiled modules
// within a process, so it cannot share one with createEngine).
function coldStart(samples) {
  const jsDir = path.resolve(args["js-dir"]);
  const url = pathToFileURL(path.join(jsDir, "index.js")).href;
  const wasmFile = path.join(jsDir, "../wasm/entity-reactor.wasm");
  const engineCode =
    `const t0 = performance.now(); const m = await import(${JSON.stringify(url)}); const t1 = performance.now();` +
    `const e = await m.createEngine(); const t2 = performance.now(); e.close();` +
    `process.stdout.write(JSON.stringify({ importMs: t1 - t0, createMs: t2 - t1, fromProcessStartMs: t2 }));`;
  const compileCode =
    `const { readFileSync } = await import("node:fs"); const bytes = readFileSync(${JSON.stringify(wasmFile)});` +
    `const t0 = performance.now(); await WebAssembly.compile(bytes); const t1 = performance.now();` +
    `process.stdout.write(JSON.stringify({ compileMs: t1 - t0 }));`;
  const run = (code) => {
    const start = performance.now();
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`cold start sample failed: ${r.stderr}`);
    return { ...JSON.parse(r.stdout), wallMs: performance.now() - start };
  };
  const runs = [];
  const compiles = [];
  for (let i = 0; i < samples; i++) {
    runs.push(run(engineCode));
    compiles.push(run(compileCode).compileMs);
  }
  const pick = (k) => median(runs.map((r) => r[k]));
  return {
    samples,
    createMs: pick("createMs"),
    importMs: pick("importMs"),
    fromProcessStartMs: pick("fromProcessStartMs"),
    processWallMs: pick("wallMs"),
    wasmCompileOnlyMs: median(compiles),
    runs,
    compileRuns: compiles,
  };
}

// ------------------------------------------------------------------ report

const fmtInt = (x) => Math.round(x).toLocaleString("en-US");
const fmtUs = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtRate = (r) => (r ? `${fmtInt(r.opsPerSec)}/s  ${fmtUs(r.usPerOp)} µs` : "—");
const fmtX = (x) => (x === undefined || !Number.isFinite(x) ? "—" : `${x.toFixed(2)}×`);
const kb = (b) => `${(b / 1000).toFixed(1)} KB`;
const mark = (ok) => (ok === undefined ? "" : ok ? "✓" : "✗");

function buildRows(res) {
  const js = res.js;
  const nat = res.native?.results ?? {};
  const ratio = (name) => (js[name] && nat[name]?.opsPerSec ? nat[name].opsPerSec / js[name].opsPerSec : undefined);
  // CPU time per op (this process only): less sensitive to other processes' load.
  const cpu = (name) => {
    const j = js[name]?.cpuUsPerOp;
    const n = nat[name]?.cpuUsPerOp;
    if (j === undefined) return "";
    return n ? `${fmtUs(j)} / ${fmtUs(n)} (${fmtX(j / n)})` : fmtUs(j);
  };
  const rows = [];
  const t = res.targets;
  const workload = (label, name, target, ok) =>
    rows.push([label, fmtRate(js[name]), fmtRate(nat[name]), fmtX(ratio(name)), cpu(name), target, mark(ok)]);
  const info = (label, value, target = "", ok = undefined) => rows.push([label, value, "", "", "", target, mark(ok)]);
  if (js.update)
    workload("update", "update", `≥ ${fmtInt(TARGET.update)}/s (3× TS ${fmtInt(TS_UPDATE)}); now ${(js.update.opsPerSec / TS_UPDATE).toFixed(2)}× TS`, t.update?.ok);
  if (js.update && nat.update)
    rows.push(["  update WASM/native", "", "", fmtX(ratio("update")), "", `≤ ${TARGET.wasmNative}× native (CPU: ${fmtX(t.wasmNative?.cpuValue)})`, mark(t.wasmNative?.ok)]);
  if (js.noop)
    workload("noop (keys reordered)", "noop", `≥ ${fmtInt(TARGET.noop)}/s (3× TS ${fmtInt(TS_NOOP)}); now ${(js.noop.opsPerSec / TS_NOOP).toFixed(2)}× TS`, t.noop?.ok);
  if (js.masked)
    workload("masked (1,000 secrets)", "masked",
      `cost ≤ ${TARGET.maskedCost}× update; now ${fmtX(t.maskedCost?.value)} (CPU ${fmtX(t.maskedCost?.cpuValue)}); ${(js.masked.opsPerSec / TS_MASKED).toFixed(1)}× TS ${fmtInt(TS_MASKED)}/s`, t.maskedCost?.ok);
  if (js.createRemove) workload("createRemove (per write)", "createRemove", "— (no target)", undefined);
  if (js.ingest)
    workload("ingest (per entry)", "ingest",
      `≥ ${TARGET.ingest}× update per-write; now ${fmtX(t.ingest?.value)} (CPU ${fmtX(t.ingest?.cpuValue)}); ${js.ingest.msPerCall.toFixed(0)} ms/call`, t.ingest?.ok);
  const s = res.sizes;
  info("size .wasm (raw / gzip)", `${kb(s.wasm.raw)} / ${kb(s.wasm.gzip)}`);
  info("size glue .mjs (raw / gzip)", `${kb(s.glue.raw)} / ${kb(s.glue.gzip)}`);
  info(".wasm + glue, gzip -9", kb(s.wasm.gzip + s.glue.gzip), `≤ ${kb(TARGET.gzipBytes)}`, t.size.ok);
  info("  (JS wrapper js/src, gzip; info)", kb(s.wrapper.gzip));
  if (res.cold) {
    info(`cold createEngine (median of ${res.cold.samples})`, `${res.cold.createMs.toFixed(1)} ms`, `≤ ${TARGET.coldMs} ms`, t.cold?.ok);
    info("  WebAssembly.compile alone (info)", `${res.cold.wasmCompileOnlyMs.toFixed(1)} ms`);
    info("  import+createEngine; node start→ready", `${(res.cold.importMs + res.cold.createMs).toFixed(1)} ms; ${res.cold.fromProcessStartMs.toFixed(0)} ms`);
  }
  return rows;
}

function renderTable(rows) {
  const header = ["measure", "WASM in Node (median)", "native (median)", "WASM/native", "CPU µs/op WASM / native", "target", "✓/✗"];
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => [...r[c]].length)));
  const line = (r) => r.map((cell, c) => cell + " ".repeat(widths[c] - [...cell].length)).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function evaluateTargets(res) {
  const js = res.js;
  const nat = res.native?.results ?? {};
  const t = {};
  if (js.update) t.update = { target: `>= ${TARGET.update} ops/s`, value: js.update.opsPerSec, ok: js.update.opsPerSec >= TARGET.update };
  if (js.noop) t.noop = { target: `>= ${TARGET.noop} ops/s`, value: js.noop.opsPerSec, ok: js.noop.opsPerSec >= TARGET.noop };
  if (js.masked && js.update) {
    const v = js.masked.usPerOp / js.update.usPerOp;
    const cpu = js.masked.cpuUsPerOp / js.update.cpuUsPerOp;
    t.maskedCost = { target: `masked us/op <= ${TARGET.maskedCost} x update us/op`, value: v, cpuValue: cpu, ok: v <= TARGET.maskedCost };
  }
  if (js.ingest && js.update) {
    const v = js.ingest.opsPerSec / js.update.opsPerSec;
    const cpu = js.update.cpuUsPerOp / js.ingest.cpuUsPerOp;
    t.ingest = { target: `ingest per-entry ops/s >= ${TARGET.ingest} x update ops/s`, value: v, cpuValue: cpu, ok: v >= TARGET.ingest };
  }
  if (js.update && nat.update?.opsPerSec) {
    const v = nat.update.opsPerSec / js.update.opsPerSec;
    const cpu = nat.update.cpuUsPerOp ? js.update.cpuUsPerOp / nat.update.cpuUsPerOp : undefined;
    t.wasmNative = { target: `WASM update us/op <= ${TARGET.wasmNative} x native`, value: v, cpuValue: cpu, ok: v <= TARGET.wasmNative };
  }
  const gz = res.sizes.wasm.gzip + res.sizes.glue.gzip;
  t.size = { target: `.wasm + glue gzip <= ${TARGET.gzipBytes} bytes`, value: gz, ok: gz <= TARGET.gzipBytes };
  if (res.cold) t.cold = { target: `cold createEngine <= ${TARGET.coldMs} ms`, value: res.cold.createMs, ok: res.cold.createMs <= TARGET.coldMs };
  return t;
}

function gitInfo() {
  const git = (...a) => spawnSync("git", ["-C", root, ...a], { encoding: "utf8" }).stdout?.trim() ?? "";
  return { commit: git("rev-parse", "--short", "HEAD"), dirty: git("status", "--porcelain", "--", "src", "bindings", "js/src") !== "" };
}

function wasmInfo() {
  const file = path.join(root, "js/wasm/entity-reactor.wasm");
  return {
    sha256: createHash("sha256").update(readFileSync(file)).digest("hex").slice(0, 16),
    builtAt: statSync(file).mtime.toISOString(),
  };
}

// ------------------------------------------------------------------ main

async function main() {
  const selected = args.only ? args.only.split(",") : WORKLOADS;
  for (const name of selected) if (!WORKLOADS.includes(name)) throw new Error(`unknown workload ${name}; one of ${WORKLOADS.join(", ")}`);
  if (args["tapes-only"]) {
    writeTapes(path.resolve(args["tape-dir"]));
    console.log(`wrote tapes to ${args["tape-dir"]}`);
    return;
  }
  const api = await loadApi();

  if (args.profile) {
    // Profiling: one workload for --seconds, then exit (no native, no table).
    const name = args.profile;
    const w = makeWorkload(name);
    const { engine, handle } = await setupEngine(api, w);
    const until = performance.now() + Number(args.seconds) * 1000;
    let n = 0;
    if (name === "ingest") {
      while (performance.now() < until) {
        const entries = ingestEntries(w, n++);
        await engine.ingest("catalog-system", entries, { apply: async () => entries.forEach((e) => w.host.map.set(e.id, e.next)) });
      }
      n *= INGEST_ENTRIES;
    } else {
      const step = writeStep(w, handle);
      while (performance.now() < until) for (let k = 0; k < CHUNK; k++) await step(n++);
    }
    engine.close();
    console.log(`profiled ${name}: ${n.toLocaleString("en-US")} ops in ${args.seconds} s`);
    return;
  }

  const started = new Date();
  const loadStart = os.loadavg();
  const res = {
    meta: {
      startedAt: started.toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model,
      cpus: os.cpus().length,
      platform: `${os.platform()} ${os.release()}`,
      loadavgStart: loadStart,
      git: gitInfo(),
      wasm: wasmInfo(),
      settings: { repeats: REPEATS, runMs: RUN_MS, warmupMs: WARMUP_MS, nativeMinTimeS: NATIVE_MIN_TIME, retentionPerEntity: RETENTION,
        entities: ENTITIES, ingestEntries: INGEST_ENTRIES, secrets: SECRET_COUNT, quick: QUICK },
    },
    js: {},
  };

  if (args.native) {
    const tapeDir = path.resolve(args["tape-dir"]);
    process.stderr.write(`bench: recording tapes in ${path.relative(root, tapeDir)} ... `);
    writeTapes(tapeDir);
    process.stderr.write(`done\nbench: native (${REPEATS} repetitions each) ... `);
    res.native = runNative(path.resolve(args.native), tapeDir);
    process.stderr.write("done\n");
  }
  res.js = await measureAll(api, selected);
  for (const [name, r] of Object.entries(res.js))
    process.stderr.write(`bench: WASM ${name}: ${fmtRate(r)}${r.checks.ok ? "" : "  (CHECK FAILED)"}\n`);
  res.sizes = fileSizes();
  if (COLD_SAMPLES > 0) {
    process.stderr.write(`bench: cold createEngine x${COLD_SAMPLES} ... `);
    res.cold = coldStart(COLD_SAMPLES);
    process.stderr.write("done\n");
  }
  res.targets = evaluateTargets(res);
  res.meta.loadavgEnd = os.loadavg();
  res.meta.durationS = (Date.now() - started.getTime()) / 1000;

  const rows = buildRows(res);
  const table = renderTable(rows);
  const la = (l) => l.map((x) => x.toFixed(2)).join(" ");
  const heading =
    `entity-reactor bench  ${res.meta.startedAt}  node ${process.version}  ${res.meta.cpus} × ${res.meta.cpu}\n` +
    `load average ${la(loadStart)} (start) / ${la(res.meta.loadavgEnd)} (end); medians of ${REPEATS} runs; ` +
    `wasm ${res.meta.wasm.sha256} (${res.meta.wasm.builtAt}); git ${res.meta.git.commit}${res.meta.git.dirty ? " + local changes" : ""}`;
  const failedChecks = Object.entries(res.js).filter(([, r]) => !r.checks.ok).map(([n]) => n);
  const footer = failedChecks.length ? `\nWORKLOAD CHECK FAILED (events/masking not as expected): ${failedChecks.join(", ")}` : "";
  res.table = `${heading}\n${table}${footer}`;
  console.log(`\n${res.table}\n`);
  writeFileSync(args.out, JSON.stringify(res, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), args.out) || args.out} (${res.meta.durationS.toFixed(0)} s)`);
}

await main();
