// The one class that builds a change event (ENTITY_CHANGED, SPEC §2) from
// what the core decided for a write. The core decides every member: which
// fields changed, the masked states, actor and ids; this file only
// materialises them.
//
// prev, next and delta are parsed from JSON texts on first access — the
// texts JS already holds for the host's own states, or the masked and
// normalised ones the core returned — so a handler that reads only
// changedFields costs no parse, and an event is a snapshot however the
// host mutates its objects later. They are accessors of the class (an
// object literal with accessors costs V8 over a microsecond to build);
// toJSON() gives the whole event as a plain object, which is what
// JSON.stringify sends and what to hand to postMessage/structuredClone.
export class ChangeEvent {
  #prevText;
  #nextText;
  #prev;
  #next;
  #delta;
  #derivation = null; // the core's native derivation (JSON text), if any

  constructor(kind, id, changedFields, actor, occurredAt, changeId, prevText, nextText) {
    this.kind = kind;
    this.id = id;
    this.changedFields = changedFields;
    this.actor = actor;
    this.occurredAt = occurredAt;
    this.changeId = changeId;
    this.#prevText = prevText;
    this.#nextText = nextText;
  }

  /** State before the write; null on create. Masked when the write ran under a runId. */
  get prev() {
    if (this.#prev === undefined) this.#prev = this.#prevText === null ? null : JSON.parse(this.#prevText);
    return this.#prev;
  }
  set prev(value) {
    this.#prev = value;
  }

  /** State after the write; null on removal (a tombstone). */
  get next() {
    if (this.#next === undefined) this.#next = this.#nextText === null ? null : JSON.parse(this.#nextText);
    return this.#next;
  }
  set next(value) {
    this.#next = value;
  }

  /** Changed fields only, each to its next value (null where next lacks it); {} for a tombstone. */
  get delta() {
    if (this.#delta === undefined) {
      const delta = {};
      const state = this.next;
      if (state !== null)
        for (const f of this.changedFields) setMember(delta, f, Object.hasOwn(state, f) ? state[f] : null);
      this.#delta = delta;
    }
    return this.#delta;
  }
  set delta(value) {
    this.#delta = value;
  }

  /** @internal the engine's: the native derivation decided with the change. */
  static derivationOf(event) {
    return #derivation in event ? event.#derivation : null;
  }
  /** @internal */
  static setDerivation(event, text) {
    event.#derivation = text;
  }

  /** The event as a plain object (JSON.stringify calls this). */
  toJSON() {
    return {
      kind: this.kind,
      id: this.id,
      prev: this.prev,
      next: this.next,
      delta: this.delta,
      changedFields: this.changedFields,
      actor: this.actor,
      occurredAt: this.occurredAt,
      changeId: this.changeId,
    };
  }
}

// obj[key] = value, also for "__proto__" (data here, never a prototype).
export function setMember(obj, key, value) {
  if (key === "__proto__")
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
