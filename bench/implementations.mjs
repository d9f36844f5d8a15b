// The implementations the bench drives side by side with the same workload
// functions (bench/workloads.mjs), in the same process:
//
//   entity-reactor  the package (js/src): createEngine + registerCatalogEntities
//   reference       the TypeScript original it reimplements
//                   (@checkstack/automation-backend's src/entity), bundled at
//                   bench time by ../shared/reference/setup.sh into build-bench/ref
//   floor           a do-nothing engine: read prev, run apply, keep a bounded
//                   record. Nothing can be faster with this host, so it shows
//                   how much of a write is the host and the promises.
//
// Each one's setup(w) takes a fresh workload instance (its own Map host) and
// returns { handle, ingest?, sink, betweenSamples(), close() }: handle has
// mutate/remove, ingest(entries, { apply }) runs one batch, sink counts the
// change events, betweenSamples runs untimed between two samples.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { RUN_ID, SECRETS } from "./workloads.mjs";

export const KIND = "catalog-system";
const RETENTION = 16; // rows kept per entity in entity-reactor's embedded store: memory stays bounded

function countingSink() {
  return { events: 0, last: null };
}

// entity-reactor through its public API, set up as an application would:
// the catalog kinds (native derivers: each change is also derived into
// catalog.updated and its payload), a wired emitter that counts, the
// embedded transition store keeping RETENTION rows per entity.
export async function loadEntityReactor(jsDir) {
  const index = await import(pathToFileURL(path.join(jsDir, "index.js")).href);
  const catalog = await import(pathToFileURL(path.join(jsDir, "catalog.js")).href);
  return {
    name: "entity-reactor",
    async setup(w) {
      const sink = countingSink();
      const engine = await index.createEngine({
        retentionPerEntity: RETENTION,
        emit: (event) => {
          sink.events++;
          sink.last = event;
        },
      });
      const { systemEntity } = catalog.registerCatalogEntities(engine, {
        readSystems: w.host.read,
        readGroups: async () => ({}),
      });
      if (w.name === "masked") engine.secrets.register(RUN_ID, SECRETS);
      return {
        handle: systemEntity,
        ingest: (entries, opts) => engine.ingest(KIND, entries, opts),
        sink,
        betweenSamples() {},
        close: () => engine.close(),
      };
    },
  };
}

// The reference handle, wired as its own tests wire it: the fake in-memory
// transition store, a change emitter wired to an async counting sink, the
// run-secret registry and the catalog's zod schema. The fake store keeps
// every row forever, so betweenSamples empties it (untimed) to keep memory
// flat. It has no batch API: no ingest.
export async function loadReference(refDir) {
  const refFile = path.join(refDir, "ref.mjs");
  const catFile = path.join(refDir, "refcat.mjs");
  if (!existsSync(refFile) || !existsSync(catFile)) return null;
  const ref = await import(pathToFileURL(refFile).href);
  const cat = await import(pathToFileURL(catFile).href);
  return {
    name: "reference",
    async setup(w) {
      const sink = countingSink();
      const store = ref.createFakeEntityStore();
      const emitter = ref.createChangeEmitter();
      await emitter.wire(async (event) => {
        sink.events++;
        sink.last = event;
      });
      const secretRegistry = ref.createRunSecretRegistry();
      if (w.name === "masked") secretRegistry.register(RUN_ID, SECRETS);
      const handle = ref.createEntityHandle({
        kind: cat.CATALOG_SYSTEM_ENTITY_KIND,
        schema: cat.CatalogSystemStateSchema,
        store,
        emitter,
        secretRegistry,
        read: w.host.read,
      });
      return {
        handle,
        ingest: null,
        sink,
        betweenSamples() {
          store.transitions.length = 0;
        },
        close() {},
      };
    },
  };
}

const FLOOR_LOG = 1000;

// The floor: for each write, prev = (await read([id]))[id] ?? null, next =
// await apply(), then { kind, id, prev, next } goes into an array that is
// reset at 1,000 entries. No validation, no diff, no rows, no event. Its
// ingest reads all ids once, runs apply once and records every entry.
export const floor = {
  name: "floor",
  async setup(w) {
    const log = [];
    const record = (change) => {
      if (log.length >= FLOOR_LOG) log.length = 0;
      log.push(change);
      return change;
    };
    const write = async ({ id, apply }) => {
      const prev = (await w.host.read([id]))[id] ?? null;
      const next = await apply();
      record({ kind: KIND, id, prev, next });
      return next;
    };
    return {
      handle: { mutate: write, remove: write },
      async ingest(entries, { apply }) {
        const prevs = await w.host.read(entries.map((e) => e.id));
        await apply();
        const out = new Array(entries.length);
        for (let i = 0; i < entries.length; i++) {
          const { id, next } = entries[i];
          out[i] = record({ kind: KIND, id, prev: prevs[id] ?? null, next: next ?? null });
        }
        return out;
      },
      sink: null,
      betweenSamples() {},
      close() {},
    };
  },
};
