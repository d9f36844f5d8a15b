/**
 * entity-reactor/stores/sqlite — a TransitionStore over SQLite through
 * better-sqlite3 (v12, a peer dependency: install it yourself and pass the
 * Database in; this module imports nothing from it).
 *
 *   import Database from "better-sqlite3";
 *   import { createEngine } from "entity-reactor";
 *   import { createSqliteTransitionStore } from "entity-reactor/stores/sqlite";
 *
 *   const db = new Database("app.db");
 *   const engine = await createEngine({ transitions: createSqliteTransitionStore(db) });
 *
 * Layout. Table `entity_transitions` (option `table`), created with its
 * indexes on first use (CREATE ... IF NOT EXISTS, so several stores and
 * processes may open the same file):
 *   id INTEGER PRIMARY KEY AUTOINCREMENT   append order
 *   kind, entity_id, field TEXT NOT NULL
 *   from_value TEXT (NULL on a create), to_value TEXT NOT NULL
 *   transitioned_at INTEGER NOT NULL       epoch milliseconds
 * Indexes (kind, entity_id, field, transitioned_at DESC, id DESC) — for
 * inStateSince, transitionCount and history({ field }) — and
 * (kind, entity_id, transitioned_at DESC, id DESC) for history(). "Newest
 * first" is by transitioned_at, then by append order.
 *
 * Transactions. One SQLite transaction per runInTransaction: the rows that
 * appendTransitions({ tx, ... }) receives while fn runs are collected in tx,
 * and once fn resolves they are inserted in one BEGIN ... COMMIT (better-
 * sqlite3's db.transaction). If fn rejects — a failing append included —
 * nothing is written; if an INSERT fails, the transaction is rolled back and
 * no row of it is kept. Holding a BEGIN open across fn's awaits instead would
 * be unsafe: better-sqlite3 has one synchronous connection, so every other
 * statement the application ran on it meanwhile (its own table writes from
 * other requests) would join, and roll back with, the transition
 * transaction.
 *
 * This file only moves data: rows arrive already built (values as text) from
 * the engine's core.
 */

import { transitionFromSqlRow } from "./sql-rows.js";

const DEFAULT_TABLE = "entity_transitions";
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkDb(db) {
  if (!db || typeof db.prepare !== "function" || typeof db.exec !== "function" || typeof db.transaction !== "function")
    throw new TypeError("createSqliteTransitionStore: db must be a better-sqlite3 Database");
}

const toMs = (value) => (value instanceof Date ? value.getTime() : typeof value === "number" ? value : Date.parse(value));

// transitioned_at holds epoch milliseconds.
const toRow = (r) => transitionFromSqlRow(r, new Date(r.transitioned_at));

/**
 * @param {import("better-sqlite3").Database} db
 * @param {{ table?: string }} [options]
 */
export function createSqliteTransitionStore(db, options = {}) {
  checkDb(db);
  const table = options?.table ?? DEFAULT_TABLE;
  if (typeof table !== "string" || !IDENT.test(table))
    throw new TypeError(`createSqliteTransitionStore: table must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*), received ${JSON.stringify(table)}`);
  const t = `"${table}"`;

  let sql = null; // prepared statements, once the table exists

  function ready() {
    if (sql) return sql;
    db.exec(`
      CREATE TABLE IF NOT EXISTS ${t} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        field TEXT NOT NULL,
        from_value TEXT,
        to_value TEXT NOT NULL,
        transitioned_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS "${table}_field_time_idx" ON ${t} (kind, entity_id, field, transitioned_at DESC, id DESC);
      CREATE INDEX IF NOT EXISTS "${table}_entity_time_idx" ON ${t} (kind, entity_id, transitioned_at DESC, id DESC);
    `);
    const insert = db.prepare(
      `INSERT INTO ${t} (kind, entity_id, field, from_value, to_value, transitioned_at) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const order = "ORDER BY transitioned_at DESC, id DESC";
    sql = {
      insertAll: db.transaction((rows) => {
        for (const r of rows) insert.run(r.kind, r.entityId, r.field, r.fromValue ?? null, r.toValue, toMs(r.transitionedAt));
      }),
      inStateSince: db
        .prepare(`SELECT transitioned_at FROM ${t} WHERE kind = ? AND entity_id = ? AND field = ? AND to_value = ? ${order} LIMIT 1`)
        .pluck(),
      count: db
        .prepare(`SELECT COUNT(*) FROM ${t} WHERE kind = ? AND entity_id = ? AND field = ? AND transitioned_at >= ?`)
        .pluck(),
      history: db.prepare(`SELECT * FROM ${t} WHERE kind = ? AND entity_id = ? ${order} LIMIT ?`),
      historyField: db.prepare(`SELECT * FROM ${t} WHERE kind = ? AND entity_id = ? AND field = ? ${order} LIMIT ?`),
    };
    return sql;
  }

  // Rows of one append, with the call's kind and entity id where a row lacks them.
  const stage = (kind, entityId, transitions) =>
    transitions.map((r) => ({ ...r, kind: r.kind ?? kind, entityId: r.entityId ?? entityId }));

  return {
    table,
    /** Creates the table and indexes now (otherwise done on first use). */
    async ready() {
      ready();
    },

    async runInTransaction(fn) {
      const statements = ready();
      const tx = { rows: [], open: true };
      let result;
      try {
        result = await fn(tx);
      } finally {
        tx.open = false;
      }
      // One BEGIN ... COMMIT; a failing INSERT rolls the whole batch back.
      if (tx.rows.length > 0) statements.insertAll(tx.rows);
      return result;
    },

    async appendTransitions({ tx, kind, entityId, transitions }) {
      if (!Array.isArray(transitions)) throw new TypeError("appendTransitions: transitions must be an array");
      const rows = stage(kind, entityId, transitions);
      if (tx === undefined || tx === null) {
        // Outside runInTransaction: a transaction of its own.
        ready().insertAll(rows);
        return;
      }
      if (!Array.isArray(tx.rows) || tx.open !== true)
        throw new Error("appendTransitions: tx is not an open transaction of this store");
      tx.rows.push(...rows);
    },

    async inStateSince({ kind, entityId, field, currentValue }) {
      const at = ready().inStateSince.get(kind, entityId, field, currentValue);
      return at === undefined || at === null ? null : new Date(at);
    },

    async transitionCount({ kind, entityId, field, windowMs, now }) {
      return ready().count.get(kind, entityId, field, toMs(now) - windowMs);
    },

    async history({ kind, entityId, field, limit }) {
      const s = ready();
      const n = limit ? limit : -1; // SQLite: a negative LIMIT means none
      const rows = field === undefined || field === null ? s.history.all(kind, entityId, n) : s.historyField.all(kind, entityId, field, n);
      return rows.map(toRow);
    },
  };
}
