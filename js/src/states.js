// The host's state objects this engine committed last, per id, with the
// JSON text the core holds for each. When `read` hands back that very
// object, the write names the committed state by token instead of
// stringifying prev (a host that mutates its objects in place does so in
// apply, after prev was taken; a failed write forgets its id). Bounded in
// bytes of text, with second-chance eviction (an entry written since the
// last sweep survives it); the core bounds its own copy the same way and
// answers a token it no longer holds with CACHE_MISS. Keys are not moved on
// every write: re-adding Map keys per write makes V8 rebuild small tables.
// An entry's bytes: its text plus this much for the entry itself (ids whose
// state was forgotten keep an empty entry until a sweep).
const ENTRY_BYTES = 64;

export class CommittedStates {
  #entries = new Map(); // id -> { id, obj, token, text, used }; obj null: forgotten
  // The entries in the order the sweep visits them (a clock hand over a
  // FIFO): each entry is in it once. Sweeping from the Map's start instead
  // walks over its deleted slots again and again: O(size) per eviction.
  #order = [];
  #hand = 0;
  #bytes = 0;
  #budget;

  constructor(budget) {
    this.#budget = budget;
  }

  /** The entry when `obj` is the object committed last for `id`. */
  match(id, obj) {
    const e = this.#entries.get(id);
    return e !== undefined && e.obj === obj && obj !== null ? e : undefined;
  }

  remember(id, obj, token, text) {
    if (text.length > this.#budget) {
      this.forget(id);
      return;
    }
    const e = this.#entries.get(id);
    if (e !== undefined) {
      this.#bytes += text.length - e.text.length;
      e.obj = obj;
      e.token = token;
      e.text = text;
      e.used = true;
    } else {
      const entry = { id, obj, token, text, used: false };
      this.#entries.set(id, entry);
      this.#order.push(entry);
      this.#bytes += ENTRY_BYTES + text.length;
    }
    if (this.#bytes > this.#budget) this.#sweep(id);
  }

  #sweep(keep) {
    const order = this.#order;
    // Each entry is visited at most twice (once to spend its second
    // chance), and `keep` never goes: the loop ends even if it alone is over.
    let visits = 2 * (order.length - this.#hand);
    while (this.#bytes > this.#budget && visits-- > 0 && this.#hand < order.length) {
      const e = order[this.#hand++];
      if (e.id === keep || e.used) {
        e.used = false; // a second chance: to the back of the line
        order.push(e);
      } else {
        this.#entries.delete(e.id);
        this.#bytes -= ENTRY_BYTES + e.text.length;
      }
    }
    // Drop the visited prefix once it outweighs the rest: amortised O(1).
    if (this.#hand > 1024 && this.#hand * 2 > order.length) {
      order.splice(0, this.#hand);
      this.#hand = 0;
    }
  }

  // The entry stays, emptied: deleting and re-adding a key per write makes
  // V8 rebuild the table (a removed id is often written again).
  forget(id) {
    const e = this.#entries.get(id);
    if (e === undefined || e.obj === null) return;
    this.#bytes -= e.text.length;
    e.obj = null;
    e.token = 0;
    e.text = "";
  }

  get size() {
    return this.#entries.size;
  }
}
