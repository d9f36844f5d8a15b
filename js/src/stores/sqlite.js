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
 * Outbox (option `outbox: true`, for entity-reactor/bus/redis). Each change
 * event is written in the same transaction as its transition rows, into the
 * table `<table>_outbox` (option `outboxTable`):
 *   seq INTEGER PRIMARY KEY AUTOINCREMENT   commit order
 *   change_id, kind, entity_id TEXT NOT NULL
 *   event TEXT NOT NULL                     the change as JSON
 *   created_at INTEGER NOT NULL, published_at INTEGER (NULL: not yet published)
 * with a partial index on seq WHERE published_at IS NULL, so finding what is
 * left to publish costs the same however many published rows are kept. A
 * tombstone (no rows) still records its change. The bus's relay reads the
 * unpublished changes in seq order (relayOutbox), publishes them and marks
 * them; published rows are deleted by pruneOutbox once older than the
 * retention the relay asks for. One relay at a time: a lease row in
 * `<table>_outbox_lease` (taken and renewed in the relay's read transaction,
 * lost when it expires), so several processes on one file never publish the
 * same change twice in the normal case nor out of order.
 *
 * Keys. kind, entity_id and field are separate TEXT columns compared as
 * whole values (SQLite's BINARY collation compares the full length, NUL bytes
 * included): kind "a" with id "b\0c" and kind "a\0b" with id "c" are two logs.
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
  stageTransaction,
  transitionFromSqlRow,
} from "./sql-rows.js";
import { sqliteOutboxDdl, sqliteOutboxSql } from "./sqlite-outbox.js";

const DEFAULT_TABLE = "entity_transitions";
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LEASE = "relay";

function checkDb(db) {
  if (!db || typeof db.prepare !== "function" || typeof db.exec !== "function" || typeof db.transaction !== "function")
    throw new TypeError("createSqliteTransitionStore: db must be a better-sqlite3 Database");
}

const toMs = (value) =>
  value instanceof Date ? value.getTime() : typeof value === "number" ? value : Date.parse(value);

// transitioned_at holds epoch milliseconds.
const toRow = (r) => transitionFromSqlRow(r, new Date(r.transitioned_at));

function checkTable(name, what) {
  if (typeof name !== "string" || !IDENT.test(name))
    throw new TypeError(
      `createSqliteTransitionStore: ${what} must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*), received ${JSON.stringify(name)}`,
    );
  return name;
}

/**
 * @param {import("better-sqlite3").Database} db
 * @param {{ table?: string, outbox?: boolean, outboxTable?: string }} [options]
 */
export function createSqliteTransitionStore(db, options = {}) {
  checkDb(db);
  const table = checkTable(options?.table ?? DEFAULT_TABLE, "table");
  const outbox = options?.outbox ?? false;
  if (typeof outbox !== "boolean") throw new TypeError("createSqliteTransitionStore: outbox must be a boolean");
  const outboxTable = outbox ? checkTable(options?.outboxTable ?? `${table}_outbox`, "outboxTable") : null;
  if (outbox && outboxTable === table)
    throw new TypeError("createSqliteTransitionStore: outboxTable must differ from table");
  const t = `"${table}"`;
  const watchers = new Watchers();

  let sql = null; // prepared statements, once the tables exist

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
    if (outbox) db.exec(sqliteOutboxDdl(outboxTable));
    const insert = db.prepare(
      `INSERT INTO ${t} (kind, entity_id, field, from_value, to_value, transitioned_at) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const insertRows = (rows) => {
      for (const r of rows)
        insert.run(r.kind, r.entityId, r.field, r.fromValue ?? null, r.toValue, toMs(r.transitionedAt));
    };
    const order = "ORDER BY transitioned_at DESC, id DESC";
    sql = {
      insertAll: db.transaction(insertRows),
      inStateSince: db
        .prepare(
          `SELECT transitioned_at FROM ${t} WHERE kind = ? AND entity_id = ? AND field = ? AND to_value = ? ${order} LIMIT 1`,
        )
        .pluck(),
      count: db
        .prepare(`SELECT COUNT(*) FROM ${t} WHERE kind = ? AND entity_id = ? AND field = ? AND transitioned_at >= ?`)
        .pluck(),
      history: db.prepare(`SELECT * FROM ${t} WHERE kind = ? AND entity_id = ? ${order} LIMIT ?`),
      historyField: db.prepare(`SELECT * FROM ${t} WHERE kind = ? AND entity_id = ? AND field = ? ${order} LIMIT ?`),
    };
    if (outbox) {
      const O = sqliteOutboxSql(outboxTable);
      const insertChange = db.prepare(O.insert);
      const unpublished = db.prepare(O.unpublished);
      const mark = db.prepare(O.mark);
      const addLease = db.prepare(O.addLease);
      const takeLease = db.prepare(O.takeLease);
      sql.insertWithChanges = db.transaction((rows, entries) => {
        insertRows(rows);
        const at = Date.now();
        for (const c of entries) insertChange.run(c.changeId, c.kind, c.entityId, c.event, at);
      });
      // Lease and read in one write transaction (BEGIN IMMEDIATE): two relays
      // never both hold the lease.
      const claim = db.transaction((owner, limit, leaseMs) => {
        const now = Date.now();
        addLease.run(LEASE, owner);
        if (takeLease.run(owner, now + leaseMs, LEASE, owner, now).changes === 0) return null;
        return unpublished.all(limit);
      });
      sql.claim = (owner, limit, leaseMs) => claim.immediate(owner, limit, leaseMs);
      sql.mark = db.transaction((seqs, at) => {
        for (const seq of seqs) mark.run(at, seq);
      });
      sql.release = db.prepare(O.release);
      sql.prune = db.prepare(O.prune);
      sql.backlog = db.prepare(O.backlog).pluck();
    }
    return sql;
  }

  const store = {
    table,
    /** True when change events are recorded in the outbox table (option outbox). */
    outbox,
    /** The outbox table, or null. */
    outboxTable,
    /** Creates the tables and indexes now (otherwise done on first use). */
    async ready() {
      ready();
    },

    async runInTransaction(fn) {
      const statements = ready();
      const { tx, result } = await stageTransaction(fn);
      // One BEGIN ... COMMIT; a failing INSERT rolls the whole batch back.
      if (tx.changes.length > 0) {
        statements.insertWithChanges(tx.rows, tx.changes);
        watchers.notify();
      } else if (tx.rows.length > 0) statements.insertAll(tx.rows);
      return result;
    },

    async appendTransitions({ tx, kind, entityId, transitions }) {
      if (!Array.isArray(transitions)) throw new TypeError("appendTransitions: transitions must be an array");
      const rows = stageRows(kind, entityId, transitions);
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
      const rows =
        field === undefined || field === null
          ? s.history.all(kind, entityId, n)
          : s.historyField.all(kind, entityId, field, n);
      return rows.map(toRow);
    },
  };
  if (!outbox) return store;

  return Object.assign(store, {
    /** Records change events (plain objects, in commit order) in tx: written with its rows, in the same transaction. */
    async appendChanges({ tx, kind, changes }) {
      checkOutboxCall("appendChanges", changes);
      if (!tx || !Array.isArray(tx.changes) || tx.open !== true)
        throw new Error("appendChanges: tx is not an open transaction of this store");
      tx.changes.push(...outboxEntries(kind, changes));
    },

    /**
     * One relay step: takes (or renews) the relay lease for `owner`, reads up
     * to `limit` unpublished changes in commit order and awaits
     * publish(changes), which resolves to how many of them (a prefix) reached
     * the bus; those are marked published (a rejection marks none). Resolves
     * to { locked: true } when
     * another relay holds the lease, else { count, published }.
     */
    async relayOutbox({ owner, limit = 100, leaseMs = 10_000 }, publish) {
      checkRelayArgs(owner, limit, leaseMs, publish);
      const s = ready();
      const rows = s.claim(owner, limit, leaseMs);
      if (rows === null) return { locked: true, count: 0, published: 0 };
      return publishOutboxRows(rows, publish, (seqs) => s.mark(seqs, Date.now()));
    },

    /** Gives up the relay lease held by `owner` (another relay may take it at once). */
    async releaseOutbox({ owner }) {
      ready().release.run(LEASE, owner);
    },

    /** Deletes published changes whose published_at is before `before`; resolves to how many. */
    async pruneOutbox({ before }) {
      return ready().prune.run(toMs(before)).changes;
    },

    /** How many committed changes are not yet published. */
    async outboxBacklog() {
      return ready().backlog.get();
    },

    /** Calls listener() after each commit that recorded changes in this process; returns an unsubscribe. */
    watchOutbox(listener) {
      return watchers.add(listener);
    },
  });
}
