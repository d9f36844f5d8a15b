// Test worker for workerd: runs the package's workerd entry end to end.
// `entity-reactor` is mapped by the generated config (see workerd.test.mjs)
// to the file that js/package.json's "workerd" export condition names, as a
// bundler (wrangler) would resolve it.
import { createEngine, SYSTEM_ACTOR } from "entity-reactor";

const state = {
  type: "object",
  properties: {
    name: { type: "string" },
    description: { type: ["string", "null"] },
    metadata: { type: "object", additionalProperties: {}, propertyNames: { type: "string" } },
  },
  required: ["name", "description", "metadata"],
  additionalProperties: false,
};

// A plain JSON copy: events carry lazy accessors, the test compares data.
const plain = (value) => JSON.parse(JSON.stringify(value));

async function scenario() {
  const emitted = [];
  const engine = await createEngine({ emit: (event) => emitted.push(plain(event)) });
  try {
    const table = new Map(); // the host's storage
    const read = (ids) => {
      const out = {};
      for (const id of ids) if (table.has(id)) out[id] = structuredClone(table.get(id));
      return out;
    };
    const widgets = engine.defineEntity({ kind: "widget", state, read });
    // A second kind, to show kinds() and that routing is per kind.
    engine.defineEntity({ kind: "gadget", state, read: () => ({}) });

    const handled = [];
    const unsubscribe = engine.onEntityChanged({ kind: "widget", handler: (event) => handled.push(plain(event)) });

    const created = await widgets.mutate({
      id: "w1",
      apply: async () => {
        const next = { name: "alpha", description: null, metadata: { team: "core" } };
        table.set("w1", next);
        return next;
      },
    });
    const renamed = await widgets.mutate({
      id: "w1",
      apply: () => {
        const next = { ...table.get("w1"), name: "beta" };
        table.set("w1", next);
        return next;
      },
    });
    // No change: no event, no transition.
    await widgets.mutate({ id: "w1", apply: () => table.get("w1") });
    const history = (await widgets.history("w1")).map((row) => ({
      ...row,
      transitionedAt:
        row.transitionedAt instanceof Date ? row.transitionedAt.toISOString() : `not a Date: ${row.transitionedAt}`,
    }));
    await widgets.remove({ id: "w1", apply: () => void table.delete("w1") });
    // Removing an absent id is a no-op.
    await widgets.remove({ id: "w1", apply: () => void table.delete("w1") });
    const historyAfterRemove = await widgets.history("w1");
    await unsubscribe();
    // Handlers may run after a microtask; let them settle.
    await new Promise((resolve) => setTimeout(resolve, 0));

    return {
      events: handled,
      emitted,
      history,
      historyAfterRemoveLength: historyAfterRemove.length,
      kinds: engine.kinds(),
      returned: { created, renamed },
      systemActor: SYSTEM_ACTOR,
      stored: [...table.keys()],
      importMetaUrl: typeof import.meta.url,
    };
  } finally {
    engine.close();
  }
}

let runs = 0;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname !== "/run") return new Response("not found", { status: 404 });
    try {
      const result = await scenario();
      result.run = ++runs;
      return Response.json(result);
    } catch (e) {
      return Response.json({ error: String(e?.stack ?? e), code: e?.code }, { status: 500 });
    }
  },
};
