// Quick start: make a Map-backed "todo" table reactive.
import { createEngine } from "entity-reactor";

const todos = new Map(); // your storage: a table, IndexedDB, a Map...

const engine = await createEngine();
engine.wire((change) => console.log("changed:", change.id, change.changedFields, change.delta));

const todo = engine.defineEntity({
  kind: "todo",
  state: {
    type: "object",
    properties: { title: { type: "string", minLength: 1 }, done: { type: "boolean", default: false } },
    required: ["title", "done"],
  },
  read: async (ids) => Object.fromEntries(ids.filter((id) => todos.has(id)).map((id) => [id, todos.get(id)])),
});

// Every write goes through mutate: prev is read, your write runs (apply returns
// the stored state), the engine validates, diffs, logs transitions and emits
// one change event.
const save = (id, state) => async () => (todos.set(id, state), state);
await todo.mutate({ id: "t1", apply: save("t1", { title: "Write docs", done: false }) });
await todo.mutate({ id: "t1", apply: save("t1", { title: "Write docs", done: true }) });

const [latest] = await todo.history("t1", { field: "done", limit: 1 });
console.log("done went", latest.fromValue, "->", latest.toValue);
console.log("done since", (await todo.inStateSince("t1", "done")).toISOString());

try {
  await todo.mutate({ id: "t2", apply: async () => ({ title: "" }) });
} catch (error) {
  console.log(error.code, error.path); // ER_SCHEMA title
}
engine.close();
