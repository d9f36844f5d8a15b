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
 * Text and NUL. PostgreSQL's text cannot hold a NUL character, which a kind,
 * an id, a field or a value may contain. Such a string — and, so that the
 * encoding stays unambiguous, one starting with U+FDD0 (a Unicode
 * noncharacter) — is stored as U+FDD0 followed by the string with "\" written
 * "\\" and NUL written "\0"; every other string is stored as itself. Queries
 * encode their arguments the same way and rows are decoded when read, so kind
 * "a" with id "b\0c" and kind "a\0b" with id "c" are two logs, and values
 * with NUL round-trip.
 *
 * Outbox (option `outbox: true`, for entity-reactor/bus/redis). Each change
 * event is written in the same transaction as its transition rows — one
 * INSERT statement for both, sent just before COMMIT — into the table
 * `<table>_outbox` (option `outboxTable`, in the table's schema by default):
 *   seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY
 *   change_id, kind, entity_id TEXT NOT NULL
 *   event TEXT NOT NULL                    the change as JSON
 *   created_at TIMESTAMPTZ NOT NULL DEFAULT now(), published_at TIMESTAMPTZ
 * with a partial index on seq WHERE published_at IS NULL. A tombstone (no
 * rows) still records its change. relayOutbox runs one relay step in one
 * transaction: pg_try_advisory_xact_lock on the outbox's name (so one relay
 * of all the processes sharing the table publishes at a time, in seq order;
 * the others find it taken and come back later — a crashed relay's lock goes
 * with its connection), SELECT the oldest unpublished changes, publish them,
 * UPDATE published_at, COMMIT. If the process or the server dies before the
 * COMMIT, those changes are published again (at least once).
 *
 * This file only moves data: rows arrive already built (values as text) from
 * the engine's core.
 */

import {
  Watchers,
  checkOutboxCall,
  checkRelayArgs,
  outboxEntries,
  publishOutboxRows,
  stageRows,
  transitionFromSqlRow,
} from "./sql-rows.js";

const DEFAULT_TABLE = "entity_transitions";
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Errors of a concurrent CREATE ... IF NOT EXISTS that lost the race.
const ALREADY_EXISTS = new Set(["42P07", "23505", "42710"]);
const MAX_DATE_MS = 8.64e15;
const MARK = "\uFDD0";

function checkPool(pool) {
  if (!pool || typeof pool.connect !== "function" || typeof pool.query !== "function")
    throw new TypeError("createPostgresTransitionStore: pool must be a pg.Pool");
}

/** A string as stored: itself, unless it holds NUL or starts with U+FDD0 (then escaped behind U+FDD0). */
function encodeText(s) {
  if (typeof s !== "string" || (s.indexOf("\0") < 0 && s.charCodeAt(0) !== 0xfdd0)) return s;
  return MARK + s.replace(/[\\\0]/g, (c) => (c === "\0" ? "\\0" : "\\\\"));
}

/** The inverse of encodeText. */
function decodeText(s) {
  if (typeof s !== "string" || s.charCodeAt(0) !== 0xfdd0) return s;
  return s.slice(1).replace(/\\([\\0])/g, (_, c) => (c === "0" ? "\0" : "\\"));
}

/**
 * A client of the pool, with an "error" listener for as long as it is out: a
 * connection cut while no query runs on it (a server restart while a
 * transaction awaits) emits "error" on the client, which with no listener
 * would end the process. done(broken) releases it, destroyed if it broke.
 */
async function checkout(pool) {
  const client = await pool.connect();
  let failed = null;
  const onError = (e) => {
    failed = e;
  };
  client.on?.("error", onError);
  client.done = (broken) => {
    client.removeListener?.("error", onError);
    client.release(broken || failed ? (failed ?? true) : undefined);
  };
  return client;
}

/**
 * Runs fn(client) on a client of the pool after BEGIN; fn ends the
 * transaction (COMMIT or ROLLBACK). If anything throws, ROLLBACK and
 * rethrow. The client goes back to the pool in every case, discarded if the
 * ROLLBACK failed too. Table creation, runInTransaction and the relay step
 * all need exactly this.
 */
async function transaction(pool, fn) {
  const client = await checkout(pool);
  let broken = false;
  try {
    await client.query("BEGIN");
    return await fn(client);
  } catch (e) {
    try {
      await client.query("ROLLBACK");
    } catch {
      broken = true;
    }
    throw e;
  } finally {
    client.done(broken);
  }
}

const toDate = (value) =>
  value === null || value === undefined ? null : value instanceof Date ? value : new Date(value);
const toIso = (value) => (value instanceof Date ? value : new Date(value)).toISOString();

const toRow = (r) =>
  transitionFromSqlRow(
    {
      kind: decodeText(r.kind),
      entity_id: decodeText(r.entity_id),
      field: decodeText(r.field),
      from_value: decodeText(r.from_value),
      to_value: decodeText(r.to_value),
    },
    toDate(r.transitioned_at),
  );

function parseTable(name, what) {
  const parts = typeof name === "string" ? name.split(".") : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENT.test(p)))
    throw new TypeError(
      `createPostgresTransitionStore: ${what} must be an SQL identifier, optionally schema-qualified, received ${JSON.stringify(name)}`,
    );
  return parts;
}

/**
 * @param {import("pg").Pool} pool
 * @param {{ table?: string, outbox?: boolean, outboxTable?: string }} [options]
 */
export function createPostgresTransitionStore(pool, options = {}) {
  checkPool(pool);
  const table = options?.table ?? DEFAULT_TABLE;
  const parts = parseTable(table, "table");
  const outbox = options?.outbox ?? false;
  if (typeof outbox !== "boolean") throw new TypeError("createPostgresTransitionStore: outbox must be a boolean");
  const quote = (ps) => ps.map((p) => `"${p}"`).join(".");
  const t = quote(parts);
  const base = parts.at(-1);
  const order = "ORDER BY transitioned_at DESC, id DESC";
  const outboxTable = outbox ? (options?.outboxTable ?? [...parts.slice(0, -1), `${base}_outbox`].join(".")) : null;
  const oParts = outbox ? parseTable(outboxTable, "outboxTable") : null;
  if (outbox && quote(oParts) === t)
    throw new TypeError("createPostgresTransitionStore: outboxTable must differ from table");
  const o = outbox ? quote(oParts) : null;
  const oBase = outbox ? oParts.at(-1) : null;
  const watchers = new Watchers();

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
  if (outbox)
    ddl.push(
      `CREATE TABLE IF NOT EXISTS ${o} (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        change_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        event TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        published_at TIMESTAMPTZ
      )`,
      `CREATE INDEX IF NOT EXISTS "${oBase}_unpublished_idx" ON ${o} (seq) WHERE published_at IS NULL`,
    );

  let initialised = null;

  async function create() {
    try {
      await transaction(pool, async (client) => {
        // Serialises table creation across processes (released at COMMIT).
        await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`entity-reactor:${table}`]);
        for (const statement of ddl) await client.query(statement);
        await client.query("COMMIT");
      });
    } catch (e) {
      if (!ALREADY_EXISTS.has(e?.code)) throw e;
    }
  }

  function ready() {
    initialised ??= create().catch((e) => {
      initialised = null; // try again on the next call
      throw e;
    });
    return initialised;
  }

  // Rows as the six columns of an unnest, in order.
  function columns(rows, kind, entityId) {
    const cols = [[], [], [], [], [], []];
    for (const r of rows) {
      cols[0].push(encodeText(r.kind ?? kind));
      cols[1].push(encodeText(r.entityId ?? entityId));
      cols[2].push(encodeText(r.field));
      cols[3].push(encodeText(r.fromValue ?? null));
      cols[4].push(encodeText(r.toValue));
      cols[5].push(toIso(r.transitionedAt));
    }
    return cols;
  }

  const insertRows = `INSERT INTO ${t} (kind, entity_id, field, from_value, to_value, transitioned_at)
       SELECT k, e, f, fv, tv, ta
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
            WITH ORDINALITY AS r(k, e, f, fv, tv, ta, n)
       ORDER BY n`;

  async function insert(client, kind, entityId, transitions) {
    if (!Array.isArray(transitions)) throw new TypeError("appendTransitions: transitions must be an array");
    if (transitions.length === 0) return;
    await client.query(insertRows, columns(transitions, kind, entityId));
  }

  // Outbox: the staged rows and changes of a transaction in one statement.
  const insertBoth = outbox
    ? `WITH rows AS (${insertRows} RETURNING 1)
       INSERT INTO ${o} (change_id, kind, entity_id, event)
       SELECT c, k, e, ev FROM unnest($7::text[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY AS x(c, k, e, ev, n)
       ORDER BY n`
    : null;

  async function flush(tx) {
    const { rows, changes } = tx;
    tx.rows = [];
    tx.changes = [];
    if (changes.length === 0) {
      if (rows.length) await tx.client.query(insertRows, columns(rows));
      return false;
    }
    const cols = columns(rows);
    cols.push(
      changes.map((c) => c.changeId),
      changes.map((c) => encodeText(c.kind)),
      changes.map((c) => encodeText(c.entityId)),
      changes.map((c) => c.event),
    );
    await tx.client.query(insertBoth, cols);
    return true;
  }

  const store = {
    table,
    /** True when change events are recorded in the outbox table (option outbox). */
    outbox,
    /** The outbox table, or null. */
    outboxTable,
    /** Creates the tables and indexes now (otherwise done on first use). */
    ready,

    async runInTransaction(fn) {
      await ready();
      return transaction(pool, async (client) => {
        const tx = { client, open: true, rows: [], changes: [] };
        let result;
        try {
          result = await fn(tx);
        } finally {
          tx.open = false;
        }
        const recorded = outbox && (await flush(tx));
        await client.query("COMMIT");
        if (recorded) watchers.notify();
        return result;
      });
    },

    async appendTransitions({ tx, kind, entityId, transitions }) {
      if (tx === undefined || tx === null) {
        // Outside runInTransaction: one statement, atomic on its own.
        await ready();
        await insert(pool, kind, entityId, transitions);
        return;
      }
      if (!tx.client || tx.open !== true)
        throw new Error("appendTransitions: tx is not an open transaction of this store");
      if (!outbox) return insert(tx.client, kind, entityId, transitions);
      // With an outbox, the rows go with the changes in one statement before COMMIT.
      if (!Array.isArray(transitions)) throw new TypeError("appendTransitions: transitions must be an array");
      for (const r of stageRows(kind, entityId, transitions)) tx.rows.push(r);
    },

    async inStateSince({ kind, entityId, field, currentValue }) {
      await ready();
      const { rows } = await pool.query(
        `SELECT transitioned_at FROM ${t} WHERE kind = $1 AND entity_id = $2 AND field = $3 AND to_value = $4 ${order} LIMIT 1`,
        [encodeText(kind), encodeText(entityId), encodeText(field), encodeText(currentValue)],
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
        [encodeText(kind), encodeText(entityId), encodeText(field), from],
      );
      return rows[0].n;
    },

    async history({ kind, entityId, field, limit }) {
      await ready();
      const params = [encodeText(kind), encodeText(entityId)];
      let where = "kind = $1 AND entity_id = $2";
      if (field !== undefined && field !== null) {
        params.push(encodeText(field));
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
  if (!outbox) return store;

  const lockKey = `entity-reactor:outbox:${outboxTable}`;
  return Object.assign(store, {
    /** Records change events (plain objects, in commit order) in tx: inserted with its rows, in the same transaction. */
    async appendChanges({ tx, kind, changes }) {
      checkOutboxCall("appendChanges", changes);
      if (!tx?.client || tx.open !== true || !Array.isArray(tx.changes))
        throw new Error("appendChanges: tx is not an open transaction of this store");
      tx.changes.push(...outboxEntries(kind, changes));
    },

    /**
     * One relay step, in one transaction: the outbox's advisory lock (else
     * { locked: true }), up to `limit` unpublished changes in commit order,
     * await publish(changes) — which resolves to how many of them (a prefix)
     * reached the bus; a rejection rolls back, nothing marked — then those
     * are marked published and the transaction commits. Resolves to { locked, count, published }. `owner` and
     * `leaseMs` are accepted for the common contract (the lock needs no lease).
     */
    async relayOutbox({ owner, limit = 100, leaseMs = 10_000 }, publish) {
      checkRelayArgs(owner, limit, leaseMs, publish);
      await ready();
      return transaction(pool, async (client) => {
        const { rows: lock } = await client.query("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok", [lockKey]);
        if (!lock[0].ok) {
          await client.query("ROLLBACK");
          return { locked: true, count: 0, published: 0 };
        }
        const { rows } = await client.query(
          `SELECT seq, change_id, kind, entity_id, event FROM ${o} WHERE published_at IS NULL ORDER BY seq LIMIT $1`,
          [limit],
        );
        const result = await publishOutboxRows(
          rows,
          publish,
          (seqs) => client.query(`UPDATE ${o} SET published_at = now() WHERE seq = ANY($1::bigint[])`, [seqs]),
          decodeText,
        );
        await client.query("COMMIT");
        return result;
      });
    },

    /** Nothing to give up: the relay's lock lasts one transaction. */
    async releaseOutbox() {},

    /** Deletes published changes whose published_at is before `before`; resolves to how many. */
    async pruneOutbox({ before }) {
      await ready();
      const { rowCount } = await pool.query(
        `DELETE FROM ${o} WHERE published_at IS NOT NULL AND published_at < $1::timestamptz`,
        [toIso(before)],
      );
      return rowCount;
    },

    /** How many committed changes are not yet published. */
    async outboxBacklog() {
      await ready();
      const { rows } = await pool.query(`SELECT COUNT(*)::int AS n FROM ${o} WHERE published_at IS NULL`);
      return rows[0].n;
    },

    /** Calls listener() after each commit that recorded changes in this process; returns an unsubscribe. */
    watchOutbox(listener) {
      return watchers.add(listener);
    },
  });
}
