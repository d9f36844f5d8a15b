// The one function that builds a change event (ENTITY_CHANGED, SPEC §2)
// from what the core decided for a write. The core decides every member:
// which fields changed, the masked states, actor and ids; this file only
// materialises them. prev, next and delta are parsed from JSON texts on
// first access — the texts JS already holds for the host's own states, or
// the masked/normalised ones the core returned — so a handler that reads
// only changedFields costs no parse, and an event is a snapshot however
// the host mutates its objects later. They are own enumerable accessors,
// so JSON.stringify, spread and structuredClone see them.

/**
 * @param kind, id       the entity
 * @param entry          a decoded record (wire.js entry())
 * @param prevText       JSON of prev as the write saw it, or null (create)
 * @param nextText       JSON of next, or null (tombstone)
 * @param actor          the mutation's actor (unmasked), SYSTEM_ACTOR by default
 */
export function makeChange(kind, id, entry, prevText, nextText, actor) {
  const prevSource = entry.maskedPrev ?? prevText;
  const nextSource = nextText === null ? null : (entry.maskedNext ?? nextText);
  const changedFields = entry.changedFields;
  let prev;
  let next;
  let delta;
  return {
    kind,
    id,
    get prev() {
      if (prev === undefined) prev = prevSource === null ? null : JSON.parse(prevSource);
      return prev;
    },
    set prev(value) {
      prev = value;
    },
    get next() {
      if (next === undefined) next = nextSource === null ? null : JSON.parse(nextSource);
      return next;
    },
    set next(value) {
      next = value;
    },
    // Changed fields only, each to its next value (null where next lacks
    // it); {} for a tombstone.
    get delta() {
      if (delta === undefined) {
        delta = {};
        const state = this.next;
        if (state !== null)
          for (const f of changedFields) setMember(delta, f, Object.hasOwn(state, f) ? state[f] : null);
      }
      return delta;
    },
    set delta(value) {
      delta = value;
    },
    changedFields,
    actor: entry.actorText === null ? actor : JSON.parse(entry.actorText),
    occurredAt: entry.occurredAt,
    changeId: entry.changeId,
  };
}

// obj[key] = value, also for "__proto__" (data here, never a prototype).
export function setMember(obj, key, value) {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
