// Per-id ordering (SPEC §9), in one place: writes to one entity run one at
// a time, in call order; a batch takes its place in line for each of its
// ids at once, so two batches never wait on each other in a cycle. The
// core holds no write open between calls, so nothing about ordering
// crosses the boundary.
import { EntityReactorError, ErrorCode } from "./errors.js";

// A place in line. `waiting`: the lines where it is not first yet.
class Turn {
  waiting = 0;
  resume = null;
  fail = null;
}

export class WriteQueue {
  // id -> the Turn holding it alone (the common case: no array), or an
  // array of Turns, first = running.
  #lines = new Map();
  #pending = 0;
  #closed = false;

  /** Writes that hold or wait for a place (tests check it drains). */
  get pending() {
    return this.#pending;
  }

  /**
   * Takes a place in line for `ids` (one id or an array of ids). Returns
   * the turn, and a promise when it must wait (null when it runs now).
   */
  enter(ids) {
    if (this.#closed) throw closedError();
    const turn = new Turn();
    if (typeof ids === "string") this.#join(ids, turn);
    else for (const id of new Set(ids)) this.#join(id, turn);
    this.#pending++;
    if (turn.waiting === 0) return { turn, wait: null };
    const wait = new Promise((resume, fail) => {
      turn.resume = resume;
      turn.fail = fail;
    });
    return { turn, wait };
  }

  #join(id, turn) {
    const line = this.#lines.get(id);
    if (line === undefined) {
      this.#lines.set(id, turn);
    } else if (line instanceof Turn) {
      this.#lines.set(id, [line, turn]);
      turn.waiting++;
    } else {
      line.push(turn);
      turn.waiting++;
    }
  }

  /** Gives up the turn's places; wakes the turns that are now first everywhere. */
  leave(ids, turn) {
    this.#pending--;
    if (typeof ids === "string") this.#part(ids, turn);
    else for (const id of new Set(ids)) this.#part(id, turn);
  }

  #part(id, turn) {
    const line = this.#lines.get(id);
    if (line === turn) {
      this.#lines.delete(id);
      return;
    }
    if (!Array.isArray(line)) return;
    const first = line[0] === turn;
    const at = line.indexOf(turn);
    if (at >= 0) line.splice(at, 1);
    if (line.length === 0) {
      this.#lines.delete(id);
      return;
    }
    if (line.length === 1) this.#lines.set(id, line[0]);
    if (first) {
      const next = line[0];
      if (--next.waiting === 0) next.resume?.();
    }
  }

  /** Every waiting turn rejects with ER_CLOSED; later enters throw it. */
  close() {
    this.#closed = true;
    const failed = new Set();
    for (const line of this.#lines.values())
      for (const turn of Array.isArray(line) ? line : [line])
        if (turn.fail && !failed.has(turn)) {
          failed.add(turn);
          turn.fail(closedError());
        }
    this.#lines.clear();
    this.#pending -= failed.size;  // the running turns still leave
  }
}

function closedError() {
  return new EntityReactorError(ErrorCode.ER_CLOSED, "the engine is closed");
}
