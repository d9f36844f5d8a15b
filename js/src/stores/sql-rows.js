// Shared by the SQLite, Durable Object and PostgreSQL transition stores (not
// a public entry point): their tables have the columns of entity_transitions,
// and their outboxes the same contract (see relayOutbox in sqlite.js /
// postgres.js). The outbox's SQLite dialect is in sqlite-outbox.js.

/** A row of an entity_transitions table as a TransitionRow. */
export function transitionFromSqlRow(r, transitionedAt) {
  return {
    kind: r.kind,
    entityId: r.entity_id,
    field: r.field,
    fromValue: r.from_value,
    toValue: r.to_value,
    transitionedAt,
  };
}

/** Listeners told (synchronously, errors swallowed) that changes were committed. */
export class Watchers {
  #set = new Set();
  add(listener) {
    if (typeof listener !== "function") throw new TypeError("watchOutbox: listener must be a function");
    const entry = { listener };
    this.#set.add(entry);
    return () => void this.#set.delete(entry);
  }
  notify() {
    for (const { listener } of this.#set) {
      try {
        listener();
      } catch {
        // A listener never changes a write's outcome.
      }
    }
  }
}

/** Rows of one append, with the call's kind and entity id where a row lacks them. */
export const stageRows = (kind, entityId, transitions) =>
  transitions.map((r) => ({ ...r, kind: r.kind ?? kind, entityId: r.entityId ?? entityId }));

/**
 * Runs fn(tx) with a tx that collects the rows and changes appended while fn
 * runs, closed (appends refused) once fn settles: for the SQLite stores,
 * which cannot hold a transaction open across fn's awaits and write what was
 * staged in one synchronous transaction afterwards. Resolves to { tx, result }.
 */
export async function stageTransaction(fn) {
  const tx = { rows: [], changes: [], open: true };
  try {
    return { tx, result: await fn(tx) };
  } finally {
    tx.open = false;
  }
}

export function checkOutboxCall(what, changes) {
  if (!Array.isArray(changes)) throw new TypeError(`${what}: changes must be an array of change events`);
}

/** Change events (plain objects, as the engine passes them) as outbox entries: { changeId, kind, entityId, event: JSON text }. */
export function outboxEntries(kind, changes) {
  return changes.map((c) => {
    if (
      c === null ||
      typeof c !== "object" ||
      typeof c.changeId !== "string" ||
      c.changeId === "" ||
      typeof c.id !== "string"
    )
      throw new TypeError("appendChanges: each change must be a change event with a changeId and an id");
    return {
      changeId: c.changeId,
      kind: typeof c.kind === "string" ? c.kind : kind,
      entityId: c.id,
      event: JSON.stringify(c),
    };
  });
}

/** An outbox row as the relay gets it: { seq, changeId, kind, id, event: JSON text }. */
export function toOutboxChange(r, decode = (s) => s) {
  return { seq: r.seq, changeId: r.change_id, kind: decode(r.kind), id: decode(r.entity_id), event: r.event };
}

/**
 * A relay step once the unpublished rows are read (under the lease or the
 * lock), the same in every store: awaits publish(changes), which resolves to
 * how many of them (a prefix) reached the bus — clamped to [0, rows.length];
 * a rejection propagates, nothing marked — and awaits mark(seqs) for that
 * prefix. Resolves to { locked: false, count, published }.
 */
export async function publishOutboxRows(rows, publish, mark, decode) {
  if (rows.length === 0) return { locked: false, count: 0, published: 0 };
  const changes = rows.map((r) => toOutboxChange(r, decode));
  const published = Math.max(0, Math.min(rows.length, Number(await publish(changes)) || 0));
  if (published > 0) await mark(rows.slice(0, published).map((r) => r.seq));
  return { locked: false, count: rows.length, published };
}

export function checkRelayArgs(owner, limit, leaseMs, publish) {
  if (typeof owner !== "string" || owner === "") throw new TypeError("relayOutbox: owner must be a non-empty string");
  if (!Number.isInteger(limit) || limit <= 0) throw new TypeError("relayOutbox: limit must be a positive integer");
  if (!Number.isInteger(leaseMs) || leaseMs <= 0)
    throw new TypeError("relayOutbox: leaseMs must be a positive integer");
  if (typeof publish !== "function") throw new TypeError("relayOutbox: publish must be a function");
}
