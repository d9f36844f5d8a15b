// A child process of the postgres adapter test: its own engine and pool on a
// shared table. Usage: node pg-writer.mjs <url> <table> <prefix> <count>
// Creates <count> entities "<prefix>-i", renames each once, then waits (bounded)
// until it can read the other writers' entities (prefixes w0, w1, ...) and
// prints { wrote, seenFromOthers } as JSON.
import pg from "pg";
import { createEngine } from "../../js/src/index.js";
import { createPostgresTransitionStore } from "../../js/src/stores/postgres.js";
import { Table, sys, systemSchema } from "../js/helpers.mjs";

const [url, tableName, prefix, countText] = process.argv.slice(2);
const count = Number(countText);
const pool = new pg.Pool({ connectionString: url, max: 4 });
pool.on("error", () => {});
const store = createPostgresTransitionStore(pool, { table: tableName });
const engine = await createEngine({ transitions: store });
const table = new Table();
const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read: table.read });

const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
await Promise.all(ids.map((id) => handle.mutate({ id, apply: table.put(id, sys(id)) })));
await Promise.all(ids.map((id) => handle.mutate({ id, apply: table.put(id, sys(`${id}-renamed`)) })));

const writers = 3;
const others = [];
for (let w = 0; w < writers; w++) if (`w${w}` !== prefix) for (let i = 0; i < count; i++) others.push(`w${w}-${i}`);
let seen = 0;
for (let attempt = 0; attempt < 200; attempt++) {
  seen = 0;
  for (const id of others) if ((await handle.history(id)).length === 3) seen++;
  if (seen === others.length) break;
  await new Promise((r) => setTimeout(r, 100));
}
engine.close();
await pool.end();
console.log(JSON.stringify({ wrote: ids.length, seenFromOthers: seen }));
