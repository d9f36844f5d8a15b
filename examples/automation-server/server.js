#!/usr/bin/env node
// automation-server: a catalog service whose writes go through entity-reactor.
//
//   PORT               HTTP port on HOST (default 3000; 0 picks a free one)
//   HOST               default 127.0.0.1
//   DATABASE_URL       PostgreSQL (postgres://user@host:port/db); when unset, SQLite:
//   SQLITE_PATH        default ./data/catalog.db next to this file
//   AUTOMATIONS_FILE   default ./automations.json next to this file
//   plus the environment variables the automations file names for its secrets
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./lib/app.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;

const store = env.DATABASE_URL
  ? await (await import("./lib/db-postgres.js")).openPostgresCatalog(env.DATABASE_URL)
  : (await import("./lib/db-sqlite.js")).openSqliteCatalog(env.SQLITE_PATH || path.join(here, "data/catalog.db"));

const app = await startServer({
  port: env.PORT === undefined ? 3000 : Number(env.PORT),
  host: env.HOST || "127.0.0.1",
  store,
  automationsFile: env.AUTOMATIONS_FILE || path.join(here, "automations.json"),
  env,
});
console.log(`automation-server listening on ${app.url} (catalog: ${store.kind} ${store.where})`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log(`automation-server: ${signal}, shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    try {
      await app.close();
      process.exit(0);
    } catch (e) {
      console.error(e);
      process.exit(1);
    }
  });
