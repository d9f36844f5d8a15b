/**
 * entity-reactor/stores/postgres — a TransitionStore over PostgreSQL through
 * node-postgres (`pg`, a peer dependency: install it yourself and pass a
 * pg.Pool in; this module imports nothing from it).
 *
 *   import pg from "pg";
 *   import { createEngine } from "entity-reactor";
 *   import { createPostgresTransitionStore } from "entity-reactor/stores/postgres";
 *
 *   const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 *   const engine = await createEngine({ transitions: createPostgresTransitionStore(pool) });
 *
 * Layout. Table `entity_transitions` (option `table`, optionally
 * schema-qualified: "audit.entity_transitions"):
 *   id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY   append order
 *   kind, entity_id, field TEXT NOT NULL
 *   from_value TEXT (NULL on a create), to_value TEXT NOT NULL
 *   transitioned_at TIMESTAMPTZ NOT NULL
 * Indexes (kind, entity_id, field, transitioned_at DESC, id DESC) — serving
 * inStateSince, transitionCount and history({ field }) — and
 * (kind, entity_id, transitioned_at DESC, id DESC) for history(). "Newest
 * first" is by transitioned_at, then by append order.
 *
 * The table and indexes are created on first use, inside a transaction that
 * holds a transaction-scoped advisory lock on the table's name: CREATE ... IF
 * NOT EXISTS alone races when several processes start together (a duplicate
 * key in pg_type); with the lock the second process waits, then finds the
 * table. Several Node processes (each with its own engine and pool) can
 * therefore share one table; every row is written once, by the process whose
 * engine made the change, and all of them read the same log.
 *
 * Transactions. runInTransaction(fn) takes one client from the pool, runs
 * BEGIN, awaits fn({ client }), and COMMITs; if fn rejects (a failing append
 * included) it runs ROLLBACK, so no row of that transaction is kept. The
 * client is returned to the pool in every case (discarded if ROLLBACK itself
 * failed).
 *
 * This file only moves data: rows arrive already built (values as text) from
 * the engine's core.
 */

import { transitionFromSqlRow } from "./sql-rows.js";

const DEFAULT_TABLE = "entity_transitions";
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Errors of a concurrent CREATE ... IF NOT EXISTS that lost the race.
const ALREADY_EXISTS = new Set(["42P07", "23505", "42710"]);
const MAX_DATE_MS = 8.64e15;

function checkPool(pool) {
  if (!pool || typeof pool.connect !== "function" || typeof pool.query !== "function")
    throw new TypeError("createPostgresTransitionStore: pool must be a pg.Pool");
}

const toDate = (value) => (value === null || value === undefined ? null : value instanceof Date ? value : new Date(value));
const toIso = (value) => (value instanceof Date ? value : new Date(value)).toISOString();

const toRow = (r) => transitionFromSqlRow(r, toDate(r.transitioned_at));

/**
 * @param {import("pg").Pool} pool
 * @param {{ table?: string }} [options]
 */
export function createPostgresTransitionStore(pool, options = {}) {
  checkPool(pool);
  const table = options?.table ?? DEFAULT_TABLE;
  const parts = typeof table === "string" ? table.split(".") : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENT.test(p)))
    throw new TypeError(
      `createPostgresTransitionStore: table must be an SQL identifier, optionally schema-qualified, received ${JSON.stringify(table)}`,
    );
  const t = parts.map((p) => `"${p}"`).join(".");
  const base = parts.at(-1);
  const order = "ORDER BY transitioned_at DESC, id DESC";

  const ddl = [
    `CREATE TABLE IF NOT EXISTS ${t} (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind TEXT NOT NULL,
      entity_id TEXT NOT NULL,
      field TEXT NOT NULL,
      from_value TEXT,
      to_value TEXT NOT NULL,
      transitioned_at TIMESTAMPTZ NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS "${base}_field_time_idx" ON ${t} (kind, entity_id, field, transitioned_at DESC, id DESC)`,
    `CREATE INDEX IF NOT EXISTS "${base}_entity_time_idx" ON ${t} (kind, entity_id, transitioned_at DESC, id DESC)`,
  ];

  let initialised = null;

  async function create() {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      // Serialises table creation across processes (released at COMMIT).
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`entity-reactor:${table}`]);
      for (const statement of ddl) await client.query(statement);
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      if (!ALREADY_EXISTS.has(e?.code)) throw e;
    } finally {
      client.release(broken || undefined);
    }
  }

  function ready() {
    initialised ??= create().catch((e) => {
      initialised = null; // try again on the next call
      throw e;
    });
    return initialised;
  }

  async function insert(client, kind, entityId, transitions) {
    if (!Array.isArray(transitions)) throw new TypeError("appendTransitions: transitions must be an array");
    if (transitions.length === 0) return;
    const cols = [[], [], [], [], [], []];
    for (const r of transitions) {
      cols[0].push(r.kind ?? kind);
      cols[1].push(r.entityId ?? entityId);
      cols[2].push(r.field);
      cols[3].push(r.fromValue ?? null);
      cols[4].push(r.toValue);
      cols[5].push(toIso(r.transitionedAt));
    }
    await client.query(
      `INSERT INTO ${t} (kind, entity_id, field, from_value, to_value, transitioned_at)
       SELECT k, e, f, fv, tv, ta
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
            WITH ORDINALITY AS r(k, e, f, fv, tv, ta, n)
       ORDER BY n`,
      cols,
    );
  }

  return {
    table,
    /** Creates the table and indexes now (otherwise done on first use). */
    ready,

    async runInTransaction(fn) {
      await ready();
      const client = await pool.connect();
      const tx = { client, open: true };
      let broken = false;
      try {
        await client.query("BEGIN");
        const result = await fn(tx);
        tx.open = false;
        await client.query("COMMIT");
        return result;
      } catch (e) {
        tx.open = false;
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true;
        }
        throw e;
      } finally {
        client.release(broken || undefined);
      }
    },

    async appendTransitions({ tx, kind, entityId, transitions }) {
      if (tx === undefined || tx === null) {
        // Outside runInTransaction: one statement, atomic on its own.
        await ready();
        await insert(pool, kind, entityId, transitions);
        return;
      }
      if (!tx.client || tx.open !== true) throw new Error("appendTransitions: tx is not an open transaction of this store");
      await insert(tx.client, kind, entityId, transitions);
    },

    async inStateSince({ kind, entityId, field, currentValue }) {
      await ready();
      const { rows } = await pool.query(
        `SELECT transitioned_at FROM ${t} WHERE kind = $1 AND entity_id = $2 AND field = $3 AND to_value = $4 ${order} LIMIT 1`,
        [kind, entityId, field, currentValue],
      );
      return rows.length ? toDate(rows[0].transitioned_at) : null;
    },

    async transitionCount({ kind, entityId, field, windowMs, now }) {
      await ready();
      const since = (now instanceof Date ? now : new Date(now)).getTime() - windowMs;
      // A window longer than a Date can express (windowMs: Infinity) starts at -infinity.
      const from = Math.abs(since) <= MAX_DATE_MS ? new Date(since).toISOString() : "-infinity";
      const { rows } = await pool.query(
        `SELECT COUNT(*)::int AS n FROM ${t} WHERE kind = $1 AND entity_id = $2 AND field = $3 AND transitioned_at >= $4::timestamptz`,
        [kind, entityId, field, from],
      );
      return rows[0].n;
    },

    async history({ kind, entityId, field, limit }) {
      await ready();
      const params = [kind, entityId];
      let where = "kind = $1 AND entity_id = $2";
      if (field !== undefined && field !== null) {
        params.push(field);
        where += ` AND field = $${params.length}`;
      }
      let tail = "";
      if (limit) {
        params.push(limit);
        tail = ` LIMIT $${params.length}`;
      }
      const { rows } = await pool.query(
        `SELECT kind, entity_id, field, from_value, to_value, transitioned_at FROM ${t} WHERE ${where} ${order}${tail}`,
        params,
      );
      return rows.map(toRow);
    },
  };
}
