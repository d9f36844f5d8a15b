/**
 * entity-reactor/stores/indexeddb — a TransitionStore over the browser's IndexedDB.
 *
 *   import { createEngine } from "entity-reactor";
 *   import { createIndexedDbTransitionStore } from "entity-reactor/stores/indexeddb";
 *
 *   const transitions = createIndexedDbTransitionStore({ dbName: "my-app" });
 *   const engine = await createEngine({ transitions });
 *
 * Options (all optional):
 * - `dbName`    database name, default "entity-reactor". It may be a database the
 *               app already uses: a missing object store is added with a version
 *               upgrade, and existing stores are left alone.
 * - `storeName` object store of the transition log, default "transitions".
 * - `indexedDB` the IDBFactory to use, default `globalThis.indexedDB`.
 *
 * Layout. One record per transition row — `{ seq, kind, entityId, field,
 * fromValue, toValue, transitionedAt }` — under an auto-increment key `seq`
 * (append order). `transitionedAt` is stored as a Date. Indexes, each ending
 * (implicitly) in `seq`:
 * - `entity`       [kind, entityId]                          → history()
 * - `field`        [kind, entityId, field]                   → history({ field })
 * - `fieldValue`   [kind, entityId, field, toValue]          → inStateSince()
 * - `fieldTime`    [kind, entityId, field, transitionedAt]   → transitionCount()
 * so every query is one index range, read newest first with a "prev" cursor.
 *
 * Transactions. `runInTransaction(fn)` calls `fn(tx)`; the rows that
 * `appendTransitions({ tx, ... })` receives are collected in `tx` and, once
 * `fn` resolves, written in ONE readwrite IndexedDB transaction. If `fn`
 * throws (a failing append included) nothing is written; if IndexedDB fails
 * while writing, that transaction aborts and no row of it is kept. The rows
 * are not written while `fn` runs because IndexedDB commits a transaction as
 * soon as the event loop turns with no request pending, so it cannot be held
 * open across arbitrary awaits.
 *
 * Several tabs may share the database: each row is written exactly once, by
 * the tab whose engine made the change; every tab reads the same log. A
 * version upgrade requested by another tab closes this connection, and the
 * next call reopens it.
 *
 * This file only moves data between the engine and IndexedDB: rows arrive
 * already built (values as text) from the engine's core.
 */

const DEFAULT_DB = "entity-reactor";
const DEFAULT_STORE = "transitions";
const INDEXES = {
  entity: ["kind", "entityId"],
  field: ["kind", "entityId", "field"],
  fieldValue: ["kind", "entityId", "field", "toValue"],
  fieldTime: ["kind", "entityId", "field", "transitionedAt"],
};
// In IndexedDB's key order an array sorts after every number, date and
// string: [a, b, c, ABOVE] is above every [a, b, c, x].
const ABOVE = [];

const promised = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

const finished = (transaction) =>
  new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB transaction aborted"));
  });

function toRow(record) {
  return {
    kind: record.kind,
    entityId: record.entityId,
    field: record.field,
    fromValue: record.fromValue,
    toValue: record.toValue,
    transitionedAt: new Date(record.transitionedAt.getTime()),
  };
}

function checkRow(row, kind, entityId) {
  if (row === null || typeof row !== "object")
    throw new TypeError("appendTransitions: each transition must be an object");
  if (row.kind !== kind || row.entityId !== entityId)
    throw new TypeError(`appendTransitions: a row for ${row.kind}/${row.entityId} was passed for ${kind}/${entityId}`);
  if (
    typeof row.field !== "string" ||
    typeof row.toValue !== "string" ||
    (row.fromValue !== null && typeof row.fromValue !== "string")
  )
    throw new TypeError("appendTransitions: field and toValue must be strings, fromValue a string or null");
  const at = row.transitionedAt instanceof Date ? row.transitionedAt : new Date(row.transitionedAt);
  if (Number.isNaN(at.getTime())) throw new TypeError("appendTransitions: transitionedAt must be a valid date");
  return { kind, entityId, field: row.field, fromValue: row.fromValue, toValue: row.toValue, transitionedAt: at };
}

/**
 * @param {{ dbName?: string, storeName?: string, indexedDB?: IDBFactory }} [options]
 * @returns {import("./indexeddb.js").IndexedDbTransitionStore}
 */
export function createIndexedDbTransitionStore(options = {}) {
  const { dbName = DEFAULT_DB, storeName = DEFAULT_STORE } = options ?? {};
  const factory = options?.indexedDB ?? globalThis.indexedDB;
  if (!factory || typeof factory.open !== "function")
    throw new TypeError("createIndexedDbTransitionStore: no IndexedDB here; pass { indexedDB }");
  if (typeof dbName !== "string" || dbName === "")
    throw new TypeError("createIndexedDbTransitionStore: dbName must be a non-empty string");
  if (typeof storeName !== "string" || storeName === "")
    throw new TypeError("createIndexedDbTransitionStore: storeName must be a non-empty string");

  let opening = null; // Promise<IDBDatabase>
  let current = null; // the open connection
  let closed = false;

  const hasLayout = (db, transaction) => {
    if (!db.objectStoreNames.contains(storeName)) return false;
    const names = transaction.objectStore(storeName).indexNames;
    return Object.keys(INDEXES).every((n) => names.contains(n));
  };

  const upgrade = (db, transaction) => {
    const store = db.objectStoreNames.contains(storeName)
      ? transaction.objectStore(storeName)
      : db.createObjectStore(storeName, { keyPath: "seq", autoIncrement: true });
    for (const [name, keyPath] of Object.entries(INDEXES))
      if (!store.indexNames.contains(name)) store.createIndex(name, keyPath);
  };

  const open = (version) =>
    new Promise((resolve, reject) => {
      const request = version === undefined ? factory.open(dbName) : factory.open(dbName, version);
      request.onupgradeneeded = () => upgrade(request.result, request.transaction);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      // onblocked: the open waits until the other connections close, which
      // this store's do on versionchange (the app's own must do the same).
    });

  async function connect() {
    let db = await open();
    let ok = db.objectStoreNames.contains(storeName);
    if (ok) {
      const probe = db.transaction(storeName, "readonly");
      ok = hasLayout(db, probe);
    }
    if (!ok) {
      // A database the app already had (or an older layout): add what is missing.
      const next = db.version + 1;
      db.close();
      db = await open(next);
    }
    db.onversionchange = () => {
      db.close();
      if (opening && current === db) opening = null;
    };
    db.onclose = () => {
      if (current === db) opening = null;
    };
    current = db;
    return db;
  }

  function database() {
    if (closed) return Promise.reject(new Error("the IndexedDB transition store is closed"));
    opening ??= connect().catch((e) => {
      opening = null;
      throw e;
    });
    return opening;
  }

  // Rows of an index range, newest (highest seq) first, at most `limit` (0: all).
  async function newestFirst(indexName, range, limit) {
    const db = await database();
    const index = db.transaction(storeName, "readonly").objectStore(storeName).index(indexName);
    return new Promise((resolve, reject) => {
      const rows = [];
      const request = index.openCursor(range, "prev");
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const cursor = request.result;
        if (!cursor) return resolve(rows);
        rows.push(toRow(cursor.value));
        if (limit && rows.length >= limit) return resolve(rows);
        cursor.continue();
      };
    });
  }

  const openTxs = new WeakSet();

  return {
    dbName,
    storeName,

    /** Runs fn(tx); the rows appended through tx are written in one IndexedDB transaction when fn resolves. */
    async runInTransaction(fn) {
      if (typeof fn !== "function") throw new TypeError("runInTransaction: fn must be a function");
      if (closed) throw new Error("the IndexedDB transition store is closed");
      const tx = { rows: [] };
      openTxs.add(tx);
      let result;
      try {
        result = await fn(tx);
      } finally {
        openTxs.delete(tx);
      }
      if (tx.rows.length === 0) return result;
      const db = await database();
      const transaction = db.transaction(storeName, "readwrite");
      const done = finished(transaction);
      try {
        const store = transaction.objectStore(storeName);
        for (const row of tx.rows) store.add(row);
      } catch (e) {
        transaction.abort();
        await done.catch(() => {});
        throw e;
      }
      await done;
      return result;
    },

    /** Stages rows in the transaction `tx` given by runInTransaction. */
    async appendTransitions({ tx, kind, entityId, transitions }) {
      if (!openTxs.has(tx)) throw new Error("appendTransitions: tx is not an open transaction of this store");
      if (!Array.isArray(transitions)) throw new TypeError("appendTransitions: transitions must be an array");
      const rows = transitions.map((row) => checkRow(row, kind, entityId));
      tx.rows.push(...rows);
    },

    /** transitionedAt of the latest row of `field` that entered `currentValue`, or null. */
    async inStateSince({ kind, entityId, field, currentValue }) {
      const [latest] = await newestFirst("fieldValue", IDBKeyRange.only([kind, entityId, field, currentValue]), 1);
      return latest ? latest.transitionedAt : null;
    },

    /** Rows of `field` with transitionedAt ≥ now − windowMs. */
    async transitionCount({ kind, entityId, field, windowMs, now }) {
      const db = await database();
      const from = new Date((now instanceof Date ? now.getTime() : Number(now)) - windowMs);
      const range = IDBKeyRange.bound([kind, entityId, field, from], [kind, entityId, field, ABOVE]);
      return promised(db.transaction(storeName, "readonly").objectStore(storeName).index("fieldTime").count(range));
    },

    /** The entity's rows, newest first; only `field`'s when given; at most `limit` (0 or absent: all). */
    async history({ kind, entityId, field, limit }) {
      if (field === undefined || field === null)
        return newestFirst("entity", IDBKeyRange.only([kind, entityId]), limit ?? 0);
      return newestFirst("field", IDBKeyRange.only([kind, entityId, field]), limit ?? 0);
    },

    /** Closes the connection; later calls reject. */
    async close() {
      closed = true;
      const pending = opening;
      opening = null;
      if (pending) (await pending.catch(() => null))?.close();
    },
  };
}
