// A long run of writes keeps the WASM heap flat: nothing leaks across the boundary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createEngine } from "../../js/src/index.js";
import { loadedModule } from "../../js/src/load.js";
import { Table, sys, systemSchema, quietLogger } from "./helpers.mjs";

test("50,000 mutates/removes/ingests keep the WASM heap flat", async () => {
  const engine = await createEngine({ emit: () => {}, logger: quietLogger(), retentionPerEntity: 4 });
  const table = new Table();
  const h = engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read });
  engine.onEntityChanged({ kind: "sys", handler: () => {} });
  engine.secrets.register("run", ["secret-value"]);
  const module = loadedModule();
  const round = async (r) => {
    for (let i = 0; i < 10_000; i++) {
      const id = `s${i % 50}`;
      const opts = i % 3 === 0 ? { runId: "run" } : undefined;
      if (i % 10 === 9) await h.remove({ id, apply: table.del(id) });
      else
        await h.mutate({ id, opts, apply: table.put(id, sys(`n${r}-${i}`, { metadata: { k: "secret-value", i } })) });
      if (i % 1000 === 0) {
        await assert.rejects(h.mutate({ id, apply: async () => ({ name: 1 }) })); // errors free their temporaries too
        await engine.ingest("sys", [{ id: "batch", next: sys(`b${i}`) }]);
      }
    }
    return module.heapInUse();
  };
  const warm = await round(0);
  const sizes = [];
  for (let r = 1; r <= 4; r++) sizes.push(await round(r));
  console.log(`heap in use after warm-up ${warm} bytes, after each further 10,000 writes: ${sizes.join(", ")}`);
  // Retention caps the embedded store, so the heap must not grow with the run.
  assert.ok(Math.max(...sizes) <= warm * 1.05 + 4096, `heap grew: ${warm} -> ${sizes}`);
  engine.close();
});

test("creating and closing engines frees them", async () => {
  const first = await createEngine();
  first.close();
  const module = loadedModule();
  const churn = async () => {
    for (let i = 0; i < 200; i++) {
      const e = await createEngine({ emit: () => {} });
      const table = new Table();
      const h = e.defineEntity({ kind: "k", state: systemSchema, read: table.read });
      await h.mutate({ id: "a", apply: table.put("a", sys("a")) });
      e.close();
    }
    return module.heapInUse();
  };
  const warm = await churn();
  const after = await churn();
  console.log(`heap in use after 200 engines ${warm} bytes, after 200 more ${after}`);
  assert.ok(after <= warm + 4096, `closing engines leaks: ${warm} -> ${after}`);
});
