/**
 * entity-reactor/stores/durable-object — a TransitionStore in the SQLite
 * database of a Cloudflare Durable Object (`ctx.storage.sql`; the class must
 * be SQLite-backed: `new_sqlite_classes` in its wrangler migration). It
 * imports nothing: pass the object's storage in.
 *
 *   import { DurableObject } from "cloudflare:workers";
 *   import { createEngine } from "entity-reactor";
 *   import { createDurableObjectTransitionStore } from "entity-reactor/stores/durable-object";
 *
 *   export class Tenant extends DurableObject {
 *     constructor(ctx, env) {
 *       super(ctx, env);
 *       const transitions = createDurableObjectTransitionStore(ctx.storage, { retentionPerEntity: 1000 });
 *       ctx.blockConcurrencyWhile(async () => {
 *         this.engine = await createEngine({ transitions });
 *       });
 *     }
 *   }
 *
 * Layout (option `table`, default "entity_transitions"; all created on first
 * use with CREATE ... IF NOT EXISTS):
 *
 *   <table>_entities (key INTEGER PRIMARY KEY, kind, entity_id, row_count, next_seq,
 *                     UNIQUE (kind, entity_id))
 *     One row per entity. kind and entity_id are separate TEXT columns bound
 *     as parameters, so no encoding can merge two entities (a NUL inside a
 *     kind or an id is kept and compared like any other character).
 *     row_count serves retention without counting; next_seq numbers the
 *     entity's rows in append order.
 *
 *   <table> (entity, transitioned_at, seq, field, from_value, to_value, value_hash)
 *     WITHOUT ROWID, PRIMARY KEY (entity, transitioned_at, seq): an entity's
 *     rows lie together in time order, so history() and retention read the
 *     primary key in order. transitioned_at is epoch milliseconds.
 *     Indexes:
 *       <table>_field_time_idx  (entity, field, transitioned_at)  transitionCount, history({ field })
 *       <table>_field_value_idx (entity, field, value_hash)       inStateSince
 *     (a WITHOUT ROWID index also holds the key's transitioned_at and seq, so
 *     both come out newest first without a sort). Every query reads the rows
 *     it returns or counts, plus the entity's key: none scans an entity's
 *     history, whatever its length.
 *
 *   <table>_outbox (option `outboxTable`; only with `outbox: true`)
 *     seq INTEGER PRIMARY KEY AUTOINCREMENT, change_id, kind, entity_id,
 *     event (the change as JSON), created_at, published_at (NULL: not yet)
 *     The engine hands each committed change event (tombstones included) to
 *     appendChanges, and it is written in the same transaction as its rows.
 *     The outbox contract is the SQLite and PostgreSQL stores' (see
 *     stores/sqlite.js): relayOutbox reads unpublished changes in commit
 *     order, awaits publish(changes) and marks the confirmed prefix;
 *     pruneOutbox deletes published ones; one relay at a time, through a
 *     lease row in <outboxTable>_lease. A relay here is typically the
 *     object's alarm() handler publishing to a Queue.
 *
 * Transactions. The rows (and changes) that appendTransitions /
 * appendChanges receive while runInTransaction's fn runs are staged in tx;
 * once fn resolves they are written in one ctx.storage.transactionSync: all
 * of them or, if fn rejects or a statement fails, none. A transaction cannot
 * stay open across fn's awaits (the SQL API has no BEGIN; transactionSync
 * takes a synchronous function), and staging keeps the object's other
 * requests, which may run while fn awaits, out of it.
 *
 * Retention. With `retentionPerEntity: N` (default 0: keep everything) an
 * entity keeps its newest N rows — exactly what history() returns first —
 * and older ones are deleted in the transaction that appended the newer.
 *
 * This file only moves data: rows arrive already built (values as text)
 * from the engine's core.
 */

import {
  Watchers,
  checkOutboxCall,
  checkRelayArgs,
  outboxEntries,
  publishOutboxRows,
  stageRows,
  stageTransaction,
} from "./sql-rows.js";
import { sqliteOutboxDdl, sqliteOutboxSql } from "./sqlite-outbox.js";

const DEFAULT_TABLE = "entity_transitions";
const LEASE = "relay";
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MIN_MS = -8.64e15; // the earliest Date

function storageOf(storage) {
  // Accept the DurableObjectState (ctx) as well as ctx.storage.
  const s = storage && !storage.sql && storage.storage ? storage.storage : storage;
  if (!s || typeof s.sql?.exec !== "function" || typeof s.transactionSync !== "function")
    throw new TypeError(
      "createDurableObjectTransitionStore: pass the Durable Object's ctx.storage of a SQLite-backed class " +
        "(wrangler: migrations [{ new_sqlite_classes: [...] }]; workerd: enableSql = true)",
    );
  return s;
}

/**
 * A 53-bit hash of a value's text (cyrb53 over its UTF-16 code units),
 * stored beside to_value so that inStateSince finds the newest row holding a
 * value through an index of 8-byte keys, whatever the value's length. The
 * row's to_value confirms the match. Persisted: never change it.
 */
function valueHash(text) {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const toMs = (value) =>
  value instanceof Date ? value.getTime() : typeof value === "number" ? value : Date.parse(value);

/**
 * @param {DurableObjectStorage | DurableObjectState} storage  ctx.storage (or ctx)
 * @param {{ table?: string, retentionPerEntity?: number, outbox?: boolean, outboxTable?: string }} [options]
 */
export function createDurableObjectTransitionStore(storage, options = {}) {
  const st = storageOf(storage);
  const sql = st.sql;
  const table = options?.table ?? DEFAULT_TABLE;
  if (typeof table !== "string" || !IDENT.test(table))
    throw new TypeError(
      `createDurableObjectTransitionStore: table must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*), received ${JSON.stringify(table)}`,
    );
  const retention = options?.retentionPerEntity ?? 0;
  if (!Number.isSafeInteger(retention) || retention < 0)
    throw new TypeError(
      "createDurableObjectTransitionStore: retentionPerEntity must be a non-negative integer (0 keeps every row)",
    );
  const outbox = options?.outbox ?? false;
  if (typeof outbox !== "boolean") throw new TypeError("createDurableObjectTransitionStore: outbox must be a boolean");
  const outboxTable = outbox ? (options?.outboxTable ?? `${table}_outbox`) : null;
  if (outbox && (typeof outboxTable !== "string" || !IDENT.test(outboxTable)))
    throw new TypeError(
      `createDurableObjectTransitionStore: outboxTable must be an SQL identifier, received ${JSON.stringify(outboxTable)}`,
    );
  if (outbox && (outboxTable === table || outboxTable === `${table}_entities`))
    throw new TypeError("createDurableObjectTransitionStore: outboxTable must differ from the log's tables");
  const watchers = new Watchers();

  const t = `"${table}"`;
  const e = `"${table}_entities"`;
  // The outbox's statements; the two that count rows return them, since
  // sql.exec reports no count of changed rows to go by.
  const O = outbox ? sqliteOutboxSql(outboxTable) : null;
  const takeLease = outbox ? `${O.takeLease} RETURNING name` : null;
  const outboxPrune = outbox ? `${O.prune} RETURNING seq` : null;
  const exec = (query, ...args) => sql.exec(query, ...args).toArray();

  const Q = {
    upsert:
      `INSERT INTO ${e} (kind, entity_id, row_count, next_seq) VALUES (?, ?, ?, ?) ` +
      `ON CONFLICT (kind, entity_id) DO UPDATE SET row_count = row_count + excluded.row_count, next_seq = next_seq + excluded.next_seq ` +
      `RETURNING key, row_count, next_seq`,
    insert: `INSERT INTO ${t} (entity, transitioned_at, seq, field, from_value, to_value, value_hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    prune:
      `DELETE FROM ${t} WHERE entity = ? AND (transitioned_at, seq) IN ` +
      `(SELECT transitioned_at, seq FROM ${t} WHERE entity = ? ORDER BY transitioned_at, seq LIMIT ?)`,
    setCount: `UPDATE ${e} SET row_count = ? WHERE key = ?`,
    inStateSince:
      // INDEXED BY (here and below): without statistics SQLite prefers the
      // primary key, whose order matches ORDER BY, and would read the
      // entity's whole history when the value entered long ago (or never did).
      `SELECT r.transitioned_at AS at FROM ${e} AS k JOIN ${t} AS r INDEXED BY "${table}_field_value_idx" ON r.entity = k.key ` +
      `WHERE k.kind = ? AND k.entity_id = ? AND r.field = ? AND r.value_hash = ? AND r.to_value = ? ` +
      `ORDER BY r.transitioned_at DESC, r.seq DESC LIMIT 1`,
    count:
      `SELECT COUNT(*) AS n FROM ${e} AS k JOIN ${t} AS r INDEXED BY "${table}_field_time_idx" ON r.entity = k.key ` +
      `WHERE k.kind = ? AND k.entity_id = ? AND r.field = ? AND r.transitioned_at >= ?`,
    history:
      `SELECT r.field, r.from_value, r.to_value, r.transitioned_at FROM ${e} AS k JOIN ${t} AS r ON r.entity = k.key ` +
      `WHERE k.kind = ? AND k.entity_id = ? ORDER BY r.transitioned_at DESC, r.seq DESC LIMIT ?`,
    historyField:
      `SELECT r.field, r.from_value, r.to_value, r.transitioned_at FROM ${e} AS k JOIN ${t} AS r INDEXED BY "${table}_field_time_idx" ON r.entity = k.key ` +
      `WHERE k.kind = ? AND k.entity_id = ? AND r.field = ? ORDER BY r.transitioned_at DESC, r.seq DESC LIMIT ?`,
  };

  let created = false;
  function ready() {
    if (created) return;
    sql.exec(`
      CREATE TABLE IF NOT EXISTS ${e} (
        key INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        row_count INTEGER NOT NULL,
        next_seq INTEGER NOT NULL,
        UNIQUE (kind, entity_id)
      );
      CREATE TABLE IF NOT EXISTS ${t} (
        entity INTEGER NOT NULL,
        transitioned_at INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        field TEXT NOT NULL,
        from_value TEXT,
        to_value TEXT NOT NULL,
        value_hash INTEGER NOT NULL,
        PRIMARY KEY (entity, transitioned_at, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS "${table}_field_time_idx" ON ${t} (entity, field, transitioned_at);
      CREATE INDEX IF NOT EXISTS "${table}_field_value_idx" ON ${t} (entity, field, value_hash);
    `);
    if (outbox) sql.exec(sqliteOutboxDdl(outboxTable));
    created = true;
  }

  // One entity's rows: its key and sequence numbers, the rows, then
  // retention. Runs inside transactionSync.
  function writeGroup(kind, entityId, rows) {
    const n = rows.length;
    const [{ key, row_count: count, next_seq: next }] = exec(Q.upsert, kind, entityId, n, n);
    let seq = next - n;
    for (const r of rows) {
      const to = r.toValue;
      sql.exec(
        Q.insert,
        key,
        toMs(r.transitionedAt),
        seq++,
        r.field,
        r.fromValue ?? null,
        to,
        typeof to === "string" ? valueHash(to) : 0,
      );
    }
    if (retention > 0 && count > retention) {
      sql.exec(Q.prune, key, key, count - retention);
      sql.exec(Q.setCount, retention, key);
    }
  }

  function writeRows(rows) {
    // Consecutive rows of one entity form one group (the engine appends one
    // entity per call; a row may still name its own kind and entity).
    let start = 0;
    for (let i = 1; i <= rows.length; i++) {
      if (i < rows.length && rows[i].kind === rows[start].kind && rows[i].entityId === rows[start].entityId) continue;
      writeGroup(rows[start].kind, rows[start].entityId, rows.slice(start, i));
      start = i;
    }
  }

  // entries: from outboxEntries, { changeId, kind, entityId, event }.
  function writeChanges(entries) {
    const at = Date.now();
    for (const c of entries) sql.exec(O.insert, c.changeId, c.kind, c.entityId, c.event, at);
  }

  function commit(rows, changes) {
    ready();
    st.transactionSync(() => {
      writeRows(rows);
      if (changes.length) writeChanges(changes);
    });
    if (changes.length) watchers.notify();
  }

  const checkTx = (tx, what) => {
    if (!Array.isArray(tx?.rows) || tx.open !== true)
      throw new Error(`${what}: tx is not an open transaction of this store`);
  };

  const store = {
    table,
    retentionPerEntity: retention,
    /** True when change events are recorded in the outbox table (option outbox). */
    outbox,
    /** The outbox table, or null. */
    outboxTable,

    /** Creates the tables and indexes now (otherwise on first use). */
    async ready() {
      ready();
    },

    async runInTransaction(fn) {
      ready();
      const { tx, result } = await stageTransaction(fn);
      if (tx.rows.length > 0 || tx.changes.length > 0) commit(tx.rows, tx.changes);
      return result;
    },

    async appendTransitions({ tx, kind, entityId, transitions }) {
      if (!Array.isArray(transitions)) throw new TypeError("appendTransitions: transitions must be an array");
      const rows = stageRows(kind, entityId, transitions);
      if (tx === undefined || tx === null) {
        if (rows.length) commit(rows, []); // a transaction of its own
        return;
      }
      checkTx(tx, "appendTransitions");
      for (const r of rows) tx.rows.push(r);
    },

    async inStateSince({ kind, entityId, field, currentValue }) {
      ready();
      const [hit] = exec(Q.inStateSince, kind, entityId, field, valueHash(String(currentValue)), currentValue);
      return hit === undefined ? null : new Date(hit.at);
    },

    async transitionCount({ kind, entityId, field, windowMs, now }) {
      ready();
      const since = Math.max(toMs(now) - windowMs, MIN_MS);
      return exec(Q.count, kind, entityId, field, Number.isNaN(since) ? MIN_MS : since)[0].n;
    },

    async history({ kind, entityId, field, limit }) {
      ready();
      const n = limit ? limit : -1; // SQLite: a negative LIMIT means none
      const rows =
        field === undefined || field === null
          ? exec(Q.history, kind, entityId, n)
          : exec(Q.historyField, kind, entityId, field, n);
      return rows.map((r) => ({
        kind,
        entityId,
        field: r.field,
        fromValue: r.from_value,
        toValue: r.to_value,
        transitionedAt: new Date(r.transitioned_at),
      }));
    },
  };

  if (!outbox) return store;

  return Object.assign(store, {
    /** Records change events (plain objects, in commit order) in tx: written with its rows, in the same transaction. */
    async appendChanges({ tx, kind, changes }) {
      checkOutboxCall("appendChanges", changes);
      checkTx(tx, "appendChanges");
      for (const entry of outboxEntries(kind, changes)) tx.changes.push(entry);
    },

    /**
     * One relay step: takes (or renews) the relay lease for `owner`, reads up
     * to `limit` unpublished changes in commit order and awaits
     * publish(changes), which resolves to how many of them (a prefix) were
     * published; those are marked (a rejection marks none). Resolves to
     * { locked: true } when another relay holds the lease, else { count, published }.
     */
    async relayOutbox({ owner, limit = 100, leaseMs = 10_000 }, publish) {
      checkRelayArgs(owner, limit, leaseMs, publish);
      ready();
      const rows = st.transactionSync(() => {
        const now = Date.now();
        sql.exec(O.addLease, LEASE, owner);
        if (exec(takeLease, owner, now + leaseMs, LEASE, owner, now).length === 0) return null;
        return exec(O.unpublished, limit);
      });
      if (rows === null) return { locked: true, count: 0, published: 0 };
      return publishOutboxRows(rows, publish, (seqs) => {
        const at = Date.now();
        st.transactionSync(() => {
          for (const seq of seqs) sql.exec(O.mark, at, seq);
        });
      });
    },

    /** Gives up the relay lease held by `owner` (another relay may take it at once). */
    async releaseOutbox({ owner }) {
      ready();
      sql.exec(O.release, LEASE, owner);
    },

    /** Deletes published changes whose published_at is before `before`; resolves to how many. */
    async pruneOutbox({ before }) {
      ready();
      return exec(outboxPrune, toMs(before)).length;
    },

    /** How many committed changes are not yet published. */
    async outboxBacklog() {
      ready();
      return exec(O.backlog)[0].n;
    },

    /** Calls listener() after each commit that recorded changes (in this object); returns an unsubscribe. */
    watchOutbox(listener) {
      return watchers.add(listener);
    },
  });
}
