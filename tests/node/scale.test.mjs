// Issue #16, item 5: 2,000,000 distinct ids through the SQLite store (a
// temp file), and the WebAssembly heap stays within the engine's budgets
// plus a fixed overhead however many entities it has seen. Writes go in
// ingest batches (one SQLite transaction each) so the run is bounded by the
// engine, not by a disk sync per write. Prints its figures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { createEngine } from "../../js/src/index.js";
import { createSqliteTransitionStore } from "../../js/src/stores/sqlite.js";

const IDS = Number(process.env.SCALE_IDS ?? 2_000_000);
const BATCH = 2000;
const CACHE_BUDGET = 4 << 20;
// What the heap may hold beyond the cache's budget: the module's scratch
// (a batch's input and results) and the allocator's slack. It must not
// grow with the number of ids.
const FIXED_OVERHEAD = 8 << 20;

test(
  `${IDS.toLocaleString("en")} distinct ids with the SQLite store: the heap stays within budget`,
  { timeout: 20 * 60_000 },
  async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "er-scale-test-"));
    const db = new Database(path.join(dir, "scale.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = OFF"); // a throwaway file: no need to wait for the disk
    try {
      const engine = await createEngine({
        transitions: createSqliteTransitionStore(db),
        stateCacheBytes: CACHE_BUDGET,
      });
      const stored = new Set();
      engine.defineEntity({
        kind: "device",
        state: {
          type: "object",
          properties: { name: { type: "string" }, rack: { type: "integer" } },
          required: ["name"],
        },
        // Every id is new: read finds nothing (the states live in the host's
        // own table, which this test does not keep).
        read: (ids) => {
          for (const id of ids) assert.ok(!stored.has(id));
          return {};
        },
      });
      await engine.ingest("device", [{ id: "warm", next: { name: "warm" } }]);
      const base = engine.memory().wasmHeapBytes;
      const started = performance.now();
      let peak = 0;
      const samples = [];
      for (let written = 0; written < IDS;) {
        const entries = [];
        for (const end = Math.min(IDS, written + BATCH); written < end; written++)
          entries.push({ id: `device-${written}`, next: { name: `device ${written}`, rack: written % 97 } });
        const changes = await engine.ingest("device", entries);
        assert.equal(changes.length, entries.length);
        const heap = engine.memory().wasmHeapBytes - base;
        peak = Math.max(peak, heap);
        if (written % (IDS / 8) === 0 || written === IDS) samples.push([written, heap]);
      }
      const seconds = (performance.now() - started) / 1000;
      const m = engine.memory();
      const rows = db.prepare("SELECT COUNT(*) FROM entity_transitions").pluck().get();
      console.log(
        `scale: ${IDS.toLocaleString("en")} ids in ${seconds.toFixed(1)} s (${((seconds * 1e6) / IDS).toFixed(1)} µs/id), ` +
          `${rows.toLocaleString("en")} SQLite rows; heap above baseline: peak ${(peak / 1048576).toFixed(2)} MB, ` +
          `by ids ${samples.map(([n, h]) => `${n / 1000}k:${(h / 1048576).toFixed(1)}`).join(" ")} MB; ` +
          `cache ${(m.stateCacheBytes / 1048576).toFixed(2)} MB (budget ${CACHE_BUDGET / 1048576} MB) for ${m.cachedEntities} entities, ` +
          `${m.entities} entities tracked, embedded log ${m.transitionLogRows} rows`,
      );
      assert.equal(rows, 2 * IDS + 1, "every id's two fields (and the warm-up's one) reached SQLite");
      assert.ok(m.stateCacheBytes <= CACHE_BUDGET, `cache ${m.stateCacheBytes} <= ${CACHE_BUDGET}`);
      assert.equal(m.transitionLogRows, 0, "with a host store the embedded log holds nothing");
      assert.ok(m.entities <= m.cachedEntities + 1, `only cached entities are tracked (${m.entities})`);
      assert.ok(
        peak <= CACHE_BUDGET + FIXED_OVERHEAD,
        `heap above baseline ${peak} <= cache budget + ${FIXED_OVERHEAD}`,
      );
      // It does not creep: the last quarter holds no more than the first.
      const quarter = samples.filter(([n]) => n <= IDS / 4).at(-1)[1];
      assert.ok(
        samples.at(-1)[1] <= quarter + (1 << 20),
        `heap at the end ${samples.at(-1)[1]} vs at a quarter ${quarter}`,
      );
      engine.close();
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
