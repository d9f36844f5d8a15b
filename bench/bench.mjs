#!/usr/bin/env node
// The bench: the workloads of bench/workloads.mjs through three
// implementations in one process, samples interleaved round-robin —
// entity-reactor (the package's public API), the TypeScript reference it
// reimplements, and a do-nothing floor (bench/implementations.mjs) — plus the
// same workloads on the native core (native_bench, fed the JSON texts this
// file records), the native JSON-parse comparison, allocation and
// instruction counts, module sizes and cold start. Prints one table and
// writes bench/results.json. It reports targets; it never fails because one
// is missed.
//
//   bash scripts/bench.sh [--quick] [--no-callgrind]                (builds what is missing, then runs this)
//   node bench/bench.mjs --native build-bench/bench/native_bench --ref-dir build-bench/ref
//   node bench/bench.mjs --profile update [--impl reference] --seconds 8   (one workload, for --cpu-prof)
//   node bench/bench.mjs --tapes-only --tape-dir DIR                 (the native side's inputs)
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { floor, loadEntityReactor, loadReference } from "./implementations.mjs";
import {
  INGEST_ENTRIES,
  RUN_ID,
  SECRETS,
  WORKLOADS,
  WRITE_WORKLOADS,
  ingestApply,
  ingestEntries,
  makeWorkload,
  writeStep,
} from "./workloads.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: args } = parseArgs({
  options: {
    native: { type: "string" }, // native_bench binary; omitted: no native column
    "parse-bench": { type: "string" }, // parse_bench binary; omitted: no parse rows
    "ref-dir": { type: "string", default: path.join(root, "build-bench/ref") }, // ref.mjs + refcat.mjs; missing: no reference column
    "no-reference": { type: "boolean", default: false }, // skip the reference column
    callgrind: { type: "string" }, // JSON written by scripts/bench.sh: instructions per write
    out: { type: "string", default: path.join(root, "bench/results.json") },
    "tape-dir": { type: "string", default: path.join(root, "build-bench/tapes") },
    "js-dir": { type: "string", default: path.join(root, "js/src") }, // the package's src/ (a profiling copy works too)
    "cold-import": { type: "string", default: "entity-reactor" }, // what the cold-start row imports, resolved from js/ (./src/index.js: the unbundled sources)
    only: { type: "string" }, // comma-separated workloads
    profile: { type: "string" }, // run this workload for --seconds and exit
    impl: { type: "string", default: "entity-reactor" }, // with --profile: entity-reactor, reference or floor
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
// Many short samples rather than a few long ones: a burst of load from
// another process then spans samples of every implementation.
const REPEATS = Number(args.repeats ?? (QUICK ? 5 : 15));
const RUN_MS = Number(args["run-ms"] ?? (QUICK ? 150 : 200));
const WARMUP_MS = Number(args["warmup-ms"] ?? (QUICK ? 300 : 700));
const COLD_SAMPLES = Number(args["cold-samples"] ?? (QUICK ? 5 : 11));
const NATIVE_REPEATS = QUICK ? 3 : 9; // Google Benchmark repetitions
const NATIVE_MIN_TIME = QUICK ? 0.15 : 0.3; // seconds per native repetition
const TAPE_WRITES = 5000; // writes recorded per workload for the native side (5 per entity)
const REFERENCE_NAME = "@checkstack/automation-backend 0.11.12 (src/entity), catalog-backend 1.10.5";

// The targets of issue #12, item 5. Ratios are measured in the same run.
const TARGET = {
  vsReference: 3, // update, noop, createRemove ops/s ≥ 3 × the reference's
  maskedVsReference: 20, // masked ops/s ≥ 20 × the reference's
  maskedCost: 1.25, // masked µs/op ≤ 1.25 × update µs/op
  ingest: 5, // ingest per-entry ops/s ≥ 5 × update ops/s
  wasmNative: 2, // WASM update µs/op ≤ 2 × native
  gzipBytes: 150 * 1000, // .wasm + glue, gzip -9 (1 KB = 1000 B)
  coldMs: 25, // import of the package + first createEngine(), fresh process
  instructions: { update: 12000, noop: 6000 }, // native, callgrind, per write
  allocs: 4, // native heap allocations per write
};

// ------------------------------------------------------------------ tapes

// What js/src/engine.js sends for opts (optionsJson).
function optionsText(opts) {
  if (opts === undefined || (opts.actor === undefined && opts.runId === undefined)) return "";
  return JSON.stringify({ actor: opts.actor ?? null, runId: opts.runId ?? null });
}

// The JSON texts the JS layer hands the core for the first TAPE_WRITES writes
// of each workload (and one ingest call), for native_bench to replay. Format:
// 4 lines per record (see bench/native_bench.cpp).
function writeTapes(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "secrets.txt"), [RUN_ID, ...SECRETS].join("\n") + "\n");
  for (const name of WRITE_WORKLOADS) {
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
  // parse_bench's input: one state as JS sends it (entity sys-1's initial state).
  writeFileSync(path.join(dir, "state.json"), JSON.stringify(makeWorkload("update").host.map.get("sys-1")) + "\n");
}

// ------------------------------------------------------------------ JS runs

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const CHUNK = 100;
// CPU time of this process (all of Node's threads: includes GC helpers).
const cpuMs = (usage) => (usage.user + usage.system) / 1000;

// A runner: one implementation on one workload, with its own instance of
// the workload (own Map host). warm() runs it for WARMUP_MS, sample()
// measures one sample of ≥ RUN_MS, finish() checks and closes.
// Sequential awaited writes: each write's read/apply/commit finishes before
// the next starts.
async function writeRunner(impl, name) {
  const w = makeWorkload(name);
  const inst = await impl.setup(w);
  const step = writeStep(w, inst.handle);
  const sink = inst.sink;
  let n = 0;
  let measuredOps = 0;
  let measuredEvents = 0;
  const samples = [];
  return {
    async warm() {
      const t0 = performance.now();
      while (performance.now() - t0 < WARMUP_MS) for (let k = 0; k < CHUNK; k++) await step(n++);
      inst.betweenSamples();
    },
    async sample() {
      const events0 = sink?.events ?? 0;
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
      measuredEvents += (sink?.events ?? 0) - events0;
      inst.betweenSamples(); // untimed
    },
    finish() {
      const checks = { writes: measuredOps };
      if (sink) {
        // update, masked and createRemove: one event per write; noop: none.
        checks.events = measuredEvents;
        checks.ok = name === "noop" ? measuredEvents === 0 : measuredEvents === measuredOps;
        if (name === "masked") {
          const text = JSON.stringify(sink.last);
          checks.maskedInEvent = text.includes("****");
          checks.secretLeaked = SECRETS.some((secret) => text.includes(secret));
          checks.ok = checks.ok && checks.maskedInEvent && !checks.secretLeaked;
        }
      } else checks.ok = true; // the floor emits nothing
      inst.close();
      return summarise(samples, 1, checks);
    },
  };
}

// ingest: one call = INGEST_ENTRIES entries. The host builds the entries
// before the call (untimed); the call itself (read, crossing, commit, the
// change events, opts.apply writing the Map) is timed.
async function ingestRunner(impl) {
  const w = makeWorkload("ingest");
  const inst = await impl.setup(w);
  let k = 0;
  let changesOk = true;
  const samples = [];
  const call = async () => {
    const entries = ingestEntries(w, k++);
    const apply = ingestApply(w, entries);
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const changes = await inst.ingest(entries, { apply });
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
      inst.betweenSamples();
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
      inst.betweenSamples();
    },
    finish() {
      inst.close();
      return summarise(samples, INGEST_ENTRIES, { ok: changesOk, calls: k, entriesPerCall: INGEST_ENTRIES });
    },
  };
}

// All runners, warmed up, then REPEATS rounds. Within a round every workload
// takes one sample of every implementation, so a burst of load from other
// processes hits all of them; the start of both orders rotates per round, so
// no implementation always runs first or right after the same neighbour.
async function measureAll(impls, names) {
  const runners = {};
  for (const name of names) {
    runners[name] = {};
    for (const impl of impls) {
      if (name === "ingest" && !impl.hasIngest) continue;
      process.stderr.write(`bench: warm-up ${name} / ${impl.name}\n`);
      const runner = name === "ingest" ? await ingestRunner(impl) : await writeRunner(impl, name);
      await runner.warm();
      runners[name][impl.name] = runner;
    }
  }
  const rotate = (xs, r) => xs.map((_, i) => xs[(i + r) % xs.length]);
  for (let r = 0; r < REPEATS; r++) {
    process.stderr.write(`bench: samples, round ${r + 1}/${REPEATS}\n`);
    for (const name of rotate(names, r))
      for (const implName of rotate(Object.keys(runners[name]), r)) await runners[name][implName].sample();
  }
  const out = {};
  for (const impl of impls) out[impl.name] = {};
  for (const name of names)
    for (const [implName, runner] of Object.entries(runners[name])) out[implName][name] = runner.finish();
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

// A Google Benchmark binary (native_bench or parse_bench): medians of
// NATIVE_REPEATS repetitions, with their counters. A binary that fails costs
// its rows only (null), like a missing one.
function runNative(binary, extraArgs) {
  const r = spawnSync(
    binary,
    [
      ...extraArgs,
      `--benchmark_repetitions=${NATIVE_REPEATS}`,
      `--benchmark_min_time=${NATIVE_MIN_TIME}`,
      "--benchmark_report_aggregates_only=true",
      "--benchmark_enable_random_interleaving=true", // repetitions interleaved across benchmarks
      "--benchmark_format=json",
    ],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) {
    process.stderr.write(
      `\n${r.stderr}\nbench: ${path.basename(binary)} exited with ${r.status}: its rows are skipped\n`,
    );
    return null;
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
      allocsPerOp: b.allocs_per_write ?? b.allocs_per_entry ?? b.allocs_per_op,
      ...(b.alloc_bytes_per_write !== undefined ? { allocBytesPerOp: b.alloc_bytes_per_write } : {}),
      ...(b.bytes_per_second !== undefined ? { bytesPerSecond: b.bytes_per_second, inputBytes: b.input_bytes } : {}),
      ...(perCall > 1 ? { msPerCall: b.real_time * unit * 1e3 } : {}),
    };
  }
  return { context: report.context, results: out };
}

// ------------------------------------------------------------------ sizes, cold start

function fileSizes() {
  const out = {};
  for (const [key, file] of [
    ["wasm", "js/wasm/entity-reactor.wasm"],
    ["glue", "js/wasm/entity-reactor.mjs"],
  ]) {
    const bytes = readFileSync(path.join(root, file));
    out[key] = { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  }
  return out;
}

// A fresh `node -e` per sample, timing from before `await import(package)`
// to after the first `await createEngine()` (read the .wasm, compile,
// instantiate, construct the engine). Separate processes are needed because
// V8 caches a compiled module within a process. For the breakdown, other
// fresh processes time WebAssembly.compile of the same bytes alone.
// The package is imported as a consumer imports it: by its bare name,
// resolved from js/ (a self-reference through js/package.json "exports"),
// i.e. the bundle js/dist/index.js that scripts/build-js.sh writes.
function coldStart(samples) {
  const pkgDir = path.join(root, "js");
  const specifier = args["cold-import"];
  const wasmFile = path.join(pkgDir, "wasm/entity-reactor.wasm");
  const engineCode =
    `const t0 = performance.now(); const m = await import(${JSON.stringify(specifier)}); const t1 = performance.now();` +
    `const e = await m.createEngine(); const t2 = performance.now(); e.close();` +
    `process.stdout.write(JSON.stringify({ coldMs: t2 - t0, importMs: t1 - t0, createMs: t2 - t1, fromProcessStartMs: t2,` +
    ` entry: import.meta.resolve(${JSON.stringify(specifier)}) }));`;
  const compileCode =
    `const { readFileSync } = await import("node:fs"); const bytes = readFileSync(${JSON.stringify(wasmFile)});` +
    `const t0 = performance.now(); await WebAssembly.compile(bytes); const t1 = performance.now();` +
    `process.stdout.write(JSON.stringify({ compileMs: t1 - t0 }));`;
  const run = (code) => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", cwd: pkgDir });
    if (r.status !== 0) throw new Error(`cold start sample failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
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
    entry: path.relative(root, fileURLToPath(runs[0].entry)),
    coldMs: pick("coldMs"),
    importMs: pick("importMs"),
    createMs: pick("createMs"),
    fromProcessStartMs: pick("fromProcessStartMs"),
    wasmCompileOnlyMs: median(compiles),
    runs,
    compileRuns: compiles,
  };
}

// ------------------------------------------------------------------ targets

function evaluateTargets(res) {
  const er = res.impls["entity-reactor"] ?? {};
  const ref = res.impls.reference ?? {};
  const nat = res.native?.results ?? {};
  const cg = res.callgrind ?? {};
  const t = {};
  for (const name of ["update", "noop", "createRemove"]) {
    if (er[name] && ref[name]) {
      const v = er[name].opsPerSec / ref[name].opsPerSec;
      t[`${name}VsReference`] = {
        target: `${name} ops/s >= ${TARGET.vsReference} x reference`,
        value: v,
        ok: v >= TARGET.vsReference,
      };
    }
  }
  if (er.masked && ref.masked) {
    const v = er.masked.opsPerSec / ref.masked.opsPerSec;
    t.maskedVsReference = {
      target: `masked ops/s >= ${TARGET.maskedVsReference} x reference`,
      value: v,
      ok: v >= TARGET.maskedVsReference,
    };
  }
  if (er.masked && er.update) {
    const v = er.masked.usPerOp / er.update.usPerOp;
    const cpu = er.masked.cpuUsPerOp / er.update.cpuUsPerOp;
    t.maskedCost = {
      target: `masked us/op <= ${TARGET.maskedCost} x update us/op`,
      value: v,
      cpuValue: cpu,
      ok: v <= TARGET.maskedCost,
    };
  }
  if (er.ingest && er.update) {
    const v = er.ingest.opsPerSec / er.update.opsPerSec;
    t.ingest = {
      target: `ingest per-entry ops/s >= ${TARGET.ingest} x update ops/s`,
      value: v,
      ok: v >= TARGET.ingest,
    };
  }
  if (er.update && nat.update?.opsPerSec) {
    const v = nat.update.opsPerSec / er.update.opsPerSec;
    const cpu = er.update.cpuUsPerOp / nat.update.cpuUsPerOp;
    t.wasmNative = {
      target: `WASM update us/op <= ${TARGET.wasmNative} x native`,
      value: v,
      cpuValue: cpu,
      ok: v <= TARGET.wasmNative,
    };
  }
  for (const name of ["update", "noop"]) {
    if (cg[name]?.perWrite !== undefined) {
      const v = cg[name].perWrite;
      const max = TARGET.instructions[name];
      t[`${name}Instructions`] = { target: `native ${name}: <= ${max} instructions per write`, value: v, ok: v <= max };
    }
  }
  for (const name of WRITE_WORKLOADS) {
    const v = nat[name]?.allocsPerOp;
    if (v !== undefined)
      t[`${name}Allocs`] = {
        target: `native ${name}: <= ${TARGET.allocs} allocations per write`,
        value: v,
        ok: v <= TARGET.allocs,
      };
  }
  const gz = res.sizes.wasm.gzip + res.sizes.glue.gzip;
  t.size = { target: `.wasm + glue gzip <= ${TARGET.gzipBytes} bytes`, value: gz, ok: gz <= TARGET.gzipBytes };
  if (res.cold)
    t.cold = {
      target: `import + first createEngine <= ${TARGET.coldMs} ms`,
      value: res.cold.coldMs,
      ok: res.cold.coldMs <= TARGET.coldMs,
    };
  return t;
}

// ------------------------------------------------------------------ report

const fmtInt = (x) => Math.round(x).toLocaleString("en-US");
const fmtUs = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtRate = (r) => (r?.opsPerSec ? `${fmtInt(r.opsPerSec)}/s  ${fmtUs(r.usPerOp)} µs` : r?.error ? "error" : "—");
const fmtOps = (r) => (r?.opsPerSec ? `${fmtInt(r.opsPerSec)}/s` : "—");
const fmtX = (x) => (x === undefined || !Number.isFinite(x) ? "—" : x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`);
const kb = (b) => `${(b / 1000).toFixed(1)} KB`;
const mark = (ok) => (ok === undefined ? "" : ok ? "✓" : "✗");
const check = (label, tg) => (tg ? `${label} ${mark(tg.ok)}` : "");
const joinChecks = (...xs) => xs.filter(Boolean).join(" · ");

const LABEL = {
  update: "update",
  noop: "noop (keys reordered)",
  masked: "masked (1,000 secrets)",
  createRemove: "createRemove",
  ingest: "ingest (per entry)",
};

function buildRows(res) {
  const er = res.impls["entity-reactor"] ?? {};
  const ref = res.impls.reference ?? {};
  const fl = res.impls.floor ?? {};
  const nat = res.native?.results ?? {};
  const cg = res.callgrind ?? {};
  const t = res.targets;
  const rows = [];
  const allocs = (name) => (nat[name]?.allocsPerOp !== undefined ? nat[name].allocsPerOp.toFixed(1) : "");
  const instr = (name) => (cg[name]?.perWrite !== undefined ? fmtInt(cg[name].perWrite) : "");
  const ratio = (a, b) => (a?.opsPerSec && b?.opsPerSec ? fmtX(a.opsPerSec / b.opsPerSec) : "—");
  const allocCheck = (name) => check(`≤ ${TARGET.allocs} allocs`, t[`${name}Allocs`]);
  for (const name of res.workloads) {
    if (name === "ingest") continue;
    let targets;
    if (name === "update")
      targets = joinChecks(
        check(`≥ ${TARGET.vsReference}× ref`, t.updateVsReference),
        check(`≤ ${TARGET.wasmNative}× native (${fmtX(t.wasmNative?.value)})`, t.wasmNative),
        check(`≤ ${fmtInt(TARGET.instructions.update)} instr`, t.updateInstructions),
        allocCheck(name),
      );
    else if (name === "noop")
      targets = joinChecks(
        check(`≥ ${TARGET.vsReference}× ref`, t.noopVsReference),
        check(`≤ ${fmtInt(TARGET.instructions.noop)} instr`, t.noopInstructions),
        allocCheck(name),
      );
    else if (name === "masked")
      targets = joinChecks(
        check(`≥ ${TARGET.maskedVsReference}× ref`, t.maskedVsReference),
        check(`≤ ${TARGET.maskedCost}× update time (${fmtX(t.maskedCost?.value)})`, t.maskedCost),
        allocCheck(name),
      );
    else targets = joinChecks(check(`≥ ${TARGET.vsReference}× ref`, t.createRemoveVsReference), allocCheck(name));
    rows.push([
      LABEL[name],
      fmtRate(er[name]),
      fmtOps(ref[name]),
      ratio(er[name], ref[name]),
      fmtOps(fl[name]),
      fmtRate(nat[name]),
      allocs(name),
      instr(name),
      targets,
    ]);
  }
  if (res.workloads.includes("ingest")) {
    // The reference has no batch API: its column shows its per-write update
    // rate, the ratio is entity-reactor's ingest per entry over that.
    const refCell = ref.update ? `(update) ${fmtOps(ref.update)}` : "—";
    const targets = joinChecks(
      check(`≥ ${TARGET.ingest}× update (${fmtX(t.ingest?.value)})`, t.ingest),
      er.ingest ? `${er.ingest.msPerCall.toFixed(0)} ms/call` : "",
    );
    rows.push([
      LABEL.ingest,
      fmtRate(er.ingest),
      refCell,
      ratio(er.ingest, ref.update),
      fmtOps(fl.ingest),
      fmtRate(nat.ingest),
      allocs("ingest"),
      "",
      targets,
    ]);
  }
  // Native JSON parse of one state: why src/json exists.
  const parse = res.parse?.results ?? {};
  // The write path parses into json::Doc; the ratios are to it.
  const p = parse.parse_er_doc ?? parse.parse_er_json;
  if (p?.opsPerSec) {
    const parseRow = (label, r, note) =>
      rows.push([
        label,
        "",
        "",
        "",
        "",
        r?.opsPerSec ? `${fmtInt(r.opsPerSec)}/s  ${fmtUs(r.usPerOp)} µs` : "—",
        r?.allocsPerOp !== undefined ? r.allocsPerOp.toFixed(0) : "",
        "",
        note,
      ]);
    const base = parse.parse_er_doc ? "json::Doc" : "er::json";
    parseRow(`parse ${p.inputBytes} B state: ${base}`, p, `${(p.bytesPerSecond / 1e6).toFixed(0)} MB/s (info)`);
    const others = [
      ["parse_er_json", "  er::json::parse (tree)"],
      ["parse_nlohmann_dom", "  nlohmann::json::parse"],
      ["parse_nlohmann_sax", "  nlohmann sax_parse (no-op)"],
    ];
    for (const [key, label] of others)
      if (parse[key] && parse[key] !== p)
        parseRow(label, parse[key], `${fmtX(parse[key].usPerOp / p.usPerOp)} ${base}'s time (info)`);
  }
  const s = res.sizes;
  rows.push([
    ".wasm + glue, gzip -9",
    kb(s.wasm.gzip + s.glue.gzip),
    "",
    "",
    "",
    "",
    "",
    "",
    `${check(`≤ ${kb(TARGET.gzipBytes)}`, t.size)}  (.wasm ${kb(s.wasm.gzip)}, glue ${kb(s.glue.gzip)}; raw ${kb(s.wasm.raw)} + ${kb(s.glue.raw)})`,
  ]);
  if (res.cold)
    rows.push([
      `cold start (median of ${res.cold.samples})`,
      `${res.cold.coldMs.toFixed(1)} ms`,
      "",
      "",
      "",
      "",
      "",
      "",
      `${check(`≤ ${TARGET.coldMs} ms`, t.cold)}  (import ${res.cold.importMs.toFixed(1)} + createEngine ${res.cold.createMs.toFixed(1)} ms; compile alone ${res.cold.wasmCompileOnlyMs.toFixed(1)} ms; ${res.cold.entry})`,
    ]);
  return rows;
}

function renderTable(rows) {
  const header = [
    "workload",
    "entity-reactor",
    "reference",
    "ER/ref",
    "floor",
    "native",
    "allocs/write",
    "instr/write",
    "targets ✓/✗",
  ];
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => [...r[c]].length)));
  const line = (r) =>
    r
      .map((cell, c) => cell + " ".repeat(widths[c] - [...cell].length))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function gitInfo() {
  const git = (...a) => spawnSync("git", ["-C", root, ...a], { encoding: "utf8" }).stdout?.trim() ?? "";
  const commit = git("rev-parse", "--short", "HEAD");
  if (!commit) return { commit: "(not a git checkout)", dirty: false };
  return { commit, dirty: git("status", "--porcelain", "--", "src", "bindings", "js/src") !== "" };
}

function wasmInfo() {
  const file = path.join(root, "js/wasm/entity-reactor.wasm");
  return {
    sha256: createHash("sha256").update(readFileSync(file)).digest("hex").slice(0, 16),
    builtAt: statSync(file).mtime.toISOString(),
  };
}

// ------------------------------------------------------------------ main

async function loadImpls() {
  const impls = [await loadEntityReactor(path.resolve(args["js-dir"]))];
  impls[0].hasIngest = true;
  const ref = args["no-reference"] ? null : await loadReference(path.resolve(args["ref-dir"]));
  if (ref) impls.push(ref);
  else if (!args["no-reference"])
    process.stderr.write(`bench: no reference bundle in ${args["ref-dir"]}: the reference column is skipped\n`);
  floor.hasIngest = true;
  impls.push(floor);
  return impls;
}

async function profile(impls) {
  // Profiling: one workload on one implementation for --seconds, then exit.
  const name = args.profile;
  const impl = impls.find((i) => i.name === args.impl);
  if (!impl) throw new Error(`--impl must be one of ${impls.map((i) => i.name).join(", ")}`);
  const w = makeWorkload(name);
  const inst = await impl.setup(w);
  const until = performance.now() + Number(args.seconds) * 1000;
  let n = 0;
  if (name === "ingest") {
    if (!inst.ingest) throw new Error(`${impl.name} has no ingest`);
    while (performance.now() < until) {
      const entries = ingestEntries(w, n++);
      await inst.ingest(entries, { apply: ingestApply(w, entries) });
    }
    n *= INGEST_ENTRIES;
  } else {
    const step = writeStep(w, inst.handle);
    while (performance.now() < until) {
      for (let k = 0; k < CHUNK; k++) await step(n++);
      if (n % 10000 === 0) inst.betweenSamples();
    }
  }
  inst.close();
  console.log(`profiled ${impl.name} ${name}: ${n.toLocaleString("en-US")} ops in ${args.seconds} s`);
}

async function main() {
  const selected = args.only ? args.only.split(",") : WORKLOADS;
  for (const name of selected)
    if (!WORKLOADS.includes(name)) throw new Error(`unknown workload ${name}; one of ${WORKLOADS.join(", ")}`);
  if (args["tapes-only"]) {
    writeTapes(path.resolve(args["tape-dir"]));
    console.log(`wrote tapes to ${args["tape-dir"]}`);
    return;
  }
  const impls = await loadImpls();
  if (args.profile) return profile(impls);

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
      reference: impls.some((i) => i.name === "reference")
        ? { name: REFERENCE_NAME, dir: path.resolve(args["ref-dir"]) }
        : null,
      settings: {
        repeats: REPEATS,
        runMs: RUN_MS,
        warmupMs: WARMUP_MS,
        nativeRepeats: NATIVE_REPEATS,
        nativeMinTimeS: NATIVE_MIN_TIME,
        ingestEntries: INGEST_ENTRIES,
        quick: QUICK,
        implementations: impls.map((i) => i.name),
      },
    },
    workloads: selected,
    targetDefinitions: TARGET,
    impls: {},
  };

  if (args.native) {
    const tapeDir = path.resolve(args["tape-dir"]);
    process.stderr.write(`bench: recording tapes in ${path.relative(root, tapeDir)} ... `);
    writeTapes(tapeDir);
    process.stderr.write(`done\nbench: native (${NATIVE_REPEATS} repetitions each) ... `);
    res.native = runNative(path.resolve(args.native), [
      `--tape_dir=${tapeDir}`,
      `--benchmark_filter=^(${selected.join("|")})(/|$)`,
    ]);
    process.stderr.write("done\n");
  }
  if (args["parse-bench"]) {
    const tapeDir = path.resolve(args["tape-dir"]);
    if (!existsSync(path.join(tapeDir, "state.json"))) writeTapes(tapeDir);
    process.stderr.write(`bench: native JSON parse (${NATIVE_REPEATS} repetitions each) ... `);
    res.parse = runNative(path.resolve(args["parse-bench"]), [`--state_file=${path.join(tapeDir, "state.json")}`]);
    process.stderr.write("done\n");
  }
  if (args.callgrind && existsSync(args.callgrind)) res.callgrind = JSON.parse(readFileSync(args.callgrind, "utf8"));
  res.impls = await measureAll(impls, selected);
  for (const [implName, byWorkload] of Object.entries(res.impls))
    for (const [name, r] of Object.entries(byWorkload))
      process.stderr.write(`bench: ${implName} ${name}: ${fmtRate(r)}${r.checks.ok ? "" : "  (CHECK FAILED)"}\n`);
  res.sizes = fileSizes();
  if (COLD_SAMPLES > 0) {
    process.stderr.write(`bench: cold start x${COLD_SAMPLES} ... `);
    res.cold = coldStart(COLD_SAMPLES);
    process.stderr.write("done\n");
  }
  res.targets = evaluateTargets(res);
  res.meta.loadavgEnd = os.loadavg();
  res.meta.durationS = (Date.now() - started.getTime()) / 1000;

  const table = renderTable(buildRows(res));
  const la = (l) => l.map((x) => x.toFixed(2)).join(" ");
  const heading =
    `entity-reactor bench  ${res.meta.startedAt}  node ${process.version}  ${res.meta.cpus} × ${res.meta.cpu}\n` +
    `load average ${la(loadStart)} (start) / ${la(res.meta.loadavgEnd)} (end); medians of ${REPEATS} interleaved samples; ` +
    `wasm ${res.meta.wasm.sha256} (${res.meta.wasm.builtAt}); git ${res.meta.git.commit}${res.meta.git.dirty ? " + local changes" : ""}\n` +
    `reference: ${res.meta.reference ? REFERENCE_NAME : "skipped (no bundle)"}; ER/ref = entity-reactor ops/s ÷ reference ops/s, same run; ` +
    (res.native
      ? `native, allocs/write, instr/write: the core compiled natively on the same texts${res.callgrind ? "" : " (instr/write: callgrind not run)"}`
      : "native: not run");
  // The same ratios from CPU time per op (this process's CPU, all threads):
  // a process that waits for a core loses wall time, not CPU time.
  const er = res.impls["entity-reactor"] ?? {};
  const ref = res.impls.reference ?? {};
  const cpuRatios = selected
    .filter((name) => name !== "ingest" && er[name] && ref[name])
    .map((name) => `${name} ${fmtX(ref[name].cpuUsPerOp / er[name].cpuUsPerOp)}`);
  const cpuLine = cpuRatios.length
    ? `\nER/ref from CPU time per op instead of wall time (less sensitive to other processes): ${cpuRatios.join(", ")}`
    : "";
  const failed = [];
  for (const [implName, byWorkload] of Object.entries(res.impls))
    for (const [name, r] of Object.entries(byWorkload)) if (!r.checks.ok) failed.push(`${implName} ${name}`);
  const footer = failed.length ? `\nWORKLOAD CHECK FAILED (events/masking not as expected): ${failed.join(", ")}` : "";
  res.table = `${heading}\n${table}${cpuLine}${footer}`;
  console.log(`\n${res.table}\n`);
  writeFileSync(args.out, JSON.stringify(res, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), args.out) || args.out} (${res.meta.durationS.toFixed(0)} s)`);
}

await main();
