// Shared by the SQLite and PostgreSQL transition stores (not a public entry
// point): both tables have the columns of entity_transitions, and both
// outboxes the same contract (see relayOutbox in sqlite.js / postgres.js).

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

export function checkRelayArgs(owner, limit, leaseMs, publish) {
  if (typeof owner !== "string" || owner === "") throw new TypeError("relayOutbox: owner must be a non-empty string");
  if (!Number.isInteger(limit) || limit <= 0) throw new TypeError("relayOutbox: limit must be a positive integer");
  if (!Number.isInteger(leaseMs) || leaseMs <= 0)
    throw new TypeError("relayOutbox: leaseMs must be a positive integer");
  if (typeof publish !== "function") throw new TypeError("relayOutbox: publish must be a function");
}
