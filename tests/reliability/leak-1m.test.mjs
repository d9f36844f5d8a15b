// Leak check: 1,000,000 mutates keep the WASM heap and the JS heap flat.
// Run with --expose-gc (scripts/test.sh does): the JS heap is measured after
// global.gc(). The embedded store keeps 4 rows per entity (retentionPerEntity)
// over 100 cycling ids, so nothing the engine is meant to keep grows with the
// run; both heaps are sampled every 100,000 writes and printed.
// LEAK_WRITES=<n> changes the count (default 1,000,000).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createEngine } from "../../js/src/index.js";
import { loadedModule } from "../../js/src/load.js";
import { systemSchema as schema } from "../js/helpers.mjs";

const TOTAL = Number(process.env.LEAK_WRITES ?? 1_000_000);
const SAMPLE = Math.max(1, Math.floor(TOTAL / 10));
const IDS = 100;

test(
  `${TOTAL.toLocaleString("en-US")} mutates keep the WASM heap and the JS heap flat`,
  { timeout: 20 * 60_000 },
  async () => {
    assert.equal(typeof global.gc, "function", "run node with --expose-gc");
    let delivered = 0;
    const engine = await createEngine({
      emit: () => void delivered++,
      retentionPerEntity: 4,
      logger: { warn() {}, error() {} },
    });
    const rows = new Map();
    // A plain synchronous host (read/apply may return values, not promises):
    // the loop then measures the engine, not the microtask queue.
    const h = engine.defineEntity({
      kind: "sys",
      state: schema,
      read: (ids) => {
        const out = {};
        for (const id of ids) if (rows.has(id)) out[id] = rows.get(id);
        return out;
      },
    });
    let handled = 0;
    engine.onEntityChanged({ kind: "sys", handler: () => void handled++ });
    engine.secrets.register("run", ["secret-value"]);
    const module = loadedModule();
    const ids = Array.from({ length: IDS }, (_, i) => `s${i}`);

    const samples = [];
    const measure = (done) => {
      global.gc();
      global.gc();
      samples.push({ done, wasm: module.heapInUse(), js: process.memoryUsage().heapUsed });
    };
    const t0 = performance.now();
    for (let i = 0; i < TOTAL; i++) {
      const id = ids[i % IDS];
      const next = {
        name: `n${i}`,
        description: i % 7 === 0 ? null : "d",
        metadata: { tier: i % 5, tag: "secret-value" },
      };
      await h.mutate({
        id,
        opts: i % 3 === 0 ? { runId: "run" } : undefined,
        apply: () => {
          rows.set(id, next);
          return next;
        },
      });
      if ((i + 1) % SAMPLE === 0) measure(i + 1);
    }
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(delivered, TOTAL, "every write changed something and was emitted");
    assert.equal(handled, TOTAL);
    assert.equal(engine.pendingWrites, 0);
    assert.equal((await h.history("s0")).length, 4, "retention keeps 4 rows per entity");

    const mb = (b) => `${(b / 1048576).toFixed(2)} MB`;
    const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
    console.log(
      `leak check: ${TOTAL.toLocaleString("en-US")} mutates in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds).toLocaleString("en-US")}/s)`,
    );
    for (const s of samples)
      console.log(
        `  after ${s.done.toLocaleString("en-US").padStart(9)} writes: WASM heap ${kb(s.wasm).padStart(9)}, JS heap ${mb(s.js).padStart(9)}`,
      );
    // The first sample is the warm state (every id written, retention full);
    // after it neither heap may grow with the number of writes.
    const [warm, ...rest] = samples;
    const wasmMax = Math.max(...rest.map((s) => s.wasm));
    const jsMax = Math.max(...rest.map((s) => s.js));
    console.log(
      `  WASM heap: warm ${kb(warm.wasm)}, max later ${kb(wasmMax)}; JS heap: warm ${mb(warm.js)}, max later ${mb(jsMax)}`,
    );
    assert.ok(wasmMax <= warm.wasm * 1.05 + 16 * 1024, `WASM heap grew: ${samples.map((s) => s.wasm).join(", ")}`);
    assert.ok(jsMax <= warm.js * 1.25 + 2 * 1048576, `JS heap grew: ${samples.map((s) => s.js).join(", ")}`);
    engine.close();
  },
);
