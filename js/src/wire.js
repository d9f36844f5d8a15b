// The boundary codec, JS side: the only code that reads or writes the
// WebAssembly heap. It encodes inputs into the module's input buffer and
// reads results from the result header, both laid out by
// src/boundary/wire.def (js/src/generated/wire.js is generated from it).
// Every binding call returns a status; `check` turns an error status into
// a typed EntityReactorError, so data is never mistaken for an error.
import { EntityReactorError } from "./errors.js";
import { ERROR_CODES } from "./generated/constants.js";
import { F, H, HEADER_WORDS, PREV, R, RECORD_WORDS, STATUS, WIRE } from "./generated/wire.js";

export { F, PREV, R, STATUS };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const { REMOVE, NO_VALUE } = WIRE;
const OK = STATUS.OK;
const ERROR = STATUS.ERROR;

const align4 = (n) => (n + 3) & ~3;

/** One per loaded module: the module's heap views and its wire. */
export class Wire {
  constructor(module) {
    this.module = module;
    this.header = module.wireAddress() >>> 2; // word index of the header
    this.input = 0; // byte address of the input buffer
    this.capacity = 0;
  }

  // ---- results

  /** Throws the typed error of a status, returns OK and CACHE_MISS. */
  check(status) {
    if (status === ERROR) throw this.error();
    return status;
  }

  error() {
    const u32 = this.module.HEAPU32;
    const h = this.header;
    const code = ERROR_CODES[u32[h + H.ERROR_CODE]] ?? "ER_BAD_ARGUMENT";
    const at = u32[h + H.TEXTS];
    const messageBytes = u32[h + H.ERROR_MESSAGE];
    const pathBytes = u32[h + H.ERROR_PATH];
    const heap = this.module.HEAPU8;
    const message = decoder.decode(heap.subarray(at, at + messageBytes));
    const path = decoder.decode(heap.subarray(at + messageBytes, at + messageBytes + pathBytes));
    return new EntityReactorError(code, message, { path: path || undefined });
  }

  /** The result text of the last call. */
  text() {
    const u32 = this.module.HEAPU32;
    const at = u32[this.header + H.TEXTS];
    return decoder.decode(this.module.HEAPU8.subarray(at, at + u32[this.header + H.TEXTS_LENGTH]));
  }

  json() {
    return JSON.parse(this.text());
  }

  /** The result number of the last call. */
  value() {
    return this.module.HEAPF64[(this.header + H.VALUE) >>> 1];
  }

  // ---- inputs

  #reserve(bytes) {
    if (bytes > this.capacity) {
      this.check(this.module.reserve(Math.max(bytes, this.capacity * 2, 4096)));
      const u32 = this.module.HEAPU32;
      this.input = u32[this.header + H.INPUT];
      this.capacity = u32[this.header + H.INPUT_CAPACITY];
    }
    return this.input;
  }

  /**
   * Encodes strings back to back into the input buffer and returns their
   * byte lengths (binding calls take them as arguments).
   */
  put(...texts) {
    let bound = 0;
    for (const t of texts) bound += t.length * 3;
    let at = this.#reserve(bound);
    const heap = this.module.HEAPU8;
    const lengths = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i];
      const n = t.length === 0 ? 0 : encoder.encodeInto(t, heap.subarray(at, at + t.length * 3)).written;
      lengths[i] = n;
      at += n;
    }
    return lengths;
  }

  /**
   * Encodes a write (wire.def): the run's id and actor (run writes only),
   * then each entry `{ id, prevMode, prevToken, prevText, nextText }`
   * (nextText null: a removal).
   */
  putWrite(runId, actorText, entries) {
    let bound = 16 + (runId.length + actorText.length) * 3;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      bound += 20 + (e.id.length + (e.prevText?.length ?? 0) + (e.nextText?.length ?? 0)) * 3;
    }
    let at = this.#reserve(bound);
    const heap = this.module.HEAPU8;
    const u32 = this.module.HEAPU32;
    const start = at;
    at += 8;
    const runBytes = runId === "" ? 0 : encoder.encodeInto(runId, heap.subarray(at, at + runId.length * 3)).written;
    at += runBytes;
    const actorBytes =
      actorText === "" ? 0 : encoder.encodeInto(actorText, heap.subarray(at, at + actorText.length * 3)).written;
    at = align4(at + actorBytes);
    u32[start >>> 2] = runBytes;
    u32[(start >>> 2) + 1] = actorBytes;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const head = at >>> 2;
      at += 16;
      const idBytes = encoder.encodeInto(e.id, heap.subarray(at, at + e.id.length * 3)).written;
      at += idBytes;
      let prevArg = e.prevToken;
      if (e.prevMode === PREV.TEXT) {
        prevArg = encoder.encodeInto(e.prevText, heap.subarray(at, at + e.prevText.length * 3)).written;
        at += prevArg;
      }
      let nextArg = REMOVE;
      if (e.nextText !== null) {
        nextArg = encoder.encodeInto(e.nextText, heap.subarray(at, at + e.nextText.length * 3)).written;
        at += nextArg;
      }
      u32[head] = idBytes;
      u32[head + 1] = e.prevMode;
      u32[head + 2] = prevArg;
      u32[head + 3] = nextArg;
      at = align4(at);
    }
  }

  /** putWrite for one entry, without building arrays (the common path). */
  putWrite1(runId, actorText, id, prevMode, prevToken, prevText, nextText) {
    const bound =
      40 + (runId.length + actorText.length + id.length + (prevText?.length ?? 0) + (nextText?.length ?? 0)) * 3;
    let at = this.#reserve(bound);
    const heap = this.module.HEAPU8;
    const u32 = this.module.HEAPU32;
    const start = at >>> 2;
    at += 8;
    let runBytes = 0;
    let actorBytes = 0;
    if (runId !== "") {
      runBytes = encoder.encodeInto(runId, heap.subarray(at, at + runId.length * 3)).written;
      at += runBytes;
      if (actorText !== "")
        actorBytes = encoder.encodeInto(actorText, heap.subarray(at, at + actorText.length * 3)).written;
      at = align4(at + actorBytes);
    }
    u32[start] = runBytes;
    u32[start + 1] = actorBytes;
    const head = at >>> 2;
    at += 16;
    const idBytes = encoder.encodeInto(id, heap.subarray(at, at + id.length * 3)).written;
    at += idBytes;
    let prevArg = prevToken;
    if (prevMode === PREV.TEXT) {
      prevArg = encoder.encodeInto(prevText, heap.subarray(at, at + prevText.length * 3)).written;
      at += prevArg;
    }
    u32[head] = idBytes;
    u32[head + 1] = prevMode;
    u32[head + 2] = prevArg;
    u32[head + 3] =
      nextText === null ? REMOVE : encoder.encodeInto(nextText, heap.subarray(at, at + nextText.length * 3)).written;
  }

  // ---- a write's records

  /** The last write started dropping the embedded log's oldest rows (its budget). */
  logTrimStarted() {
    return this.module.HEAPU32[this.header + H.LOG_TRIM_STARTED] === 1;
  }

  /** How many entries the last write returned. */
  count() {
    return this.module.HEAPU32[this.header + H.COUNT];
  }

  /** The last write's MISS entry (status CACHE_MISS). */
  miss() {
    return this.module.HEAPU32[this.header + H.MISS];
  }

  /** Every entry of the last write whose token missed (status CACHE_MISS). */
  misses() {
    const u32 = this.module.HEAPU32;
    const at = u32[this.header + H.FIELDS] >>> 2;
    return u32.subarray(at, at + u32[this.header + H.COUNT]);
  }

  /**
   * Reads entry `i` of the last write into `out` (a reused object; read it
   * before the next call): what the write resolves to and what
   * js/src/change.js needs for the event. `fields` maps the kind's listed
   * field indices to names; host-store rows only when `withRows`.
   */
  readEntry(i, fields, withRows, out) {
    const u32 = this.module.HEAPU32;
    const heap = this.module.HEAPU8;
    const h = this.header;
    const r = (u32[h + H.RECORDS] >>> 2) + i * RECORD_WORDS;
    const flags = u32[r + R.FLAGS];
    const texts = u32[h + H.TEXTS];
    out.flags = flags;
    out.token = u32[r + R.TOKEN];
    out.nextText = flags & F.NEXT_NORMALIZED ? span(heap, u32, texts, r + R.NEXT_TEXT) : null;
    out.prevText = flags & F.PREV_NORMALIZED ? span(heap, u32, texts, r + R.PREV_TEXT) : null;
    out.changedFields = null;
    out.maskedPrev = null;
    out.maskedNext = null;
    out.actorText = null;
    out.derivedText = null;
    out.occurredAt = null;
    out.changeId = null;
    out.rows = null;
    out.at = 0;
    if (!(flags & F.CHANGED)) return out;
    const count = u32[r + R.FIELD_COUNT];
    const names = new Array(count);
    const first = (u32[h + H.FIELDS] >>> 2) + u32[r + R.FIELD_BEGIN];
    let unlisted = texts + u32[r + R.NAMES];
    for (let k = 0; k < count; k++) {
      const index = u32[first + k];
      if (index !== NO_VALUE) {
        names[k] = fields[index];
      } else {
        const n = readU32(heap, unlisted);
        names[k] = decoder.decode(heap.subarray(unlisted + 4, unlisted + 4 + n));
        unlisted += 4 + n;
      }
    }
    out.changedFields = names;
    if (flags & F.PREV_MASKED) out.maskedPrev = span(heap, u32, texts, r + R.MASKED_PREV);
    if (flags & F.NEXT_MASKED) out.maskedNext = span(heap, u32, texts, r + R.MASKED_NEXT);
    if (flags & F.ACTOR_MASKED) out.actorText = span(heap, u32, texts, r + R.ACTOR);
    if (flags & F.DERIVED) out.derivedText = span(heap, u32, texts, r + R.DERIVED);
    out.at = this.module.HEAPF64[(r + R.AT) >>> 1];
    const ids = (r + R.IDS) << 2;
    const both = decoder.decode(heap.subarray(ids, ids + 60));
    out.changeId = both.slice(0, 36);
    out.occurredAt = both.slice(36);
    if (withRows) out.rows = this.#rows(heap, texts + u32[r + R.ROWS], names, u32[r + R.ROW_COUNT]);
    return out;
  }

  // Host-store rows: per field, u32 length (NO_VALUE: none) + fromValue,
  // u32 length + toValue.
  #rows(heap, at, names, count) {
    const rows = new Array(count);
    for (let k = 0; k < count; k++) {
      let from = null;
      const fromBytes = readU32(heap, at);
      at += 4;
      if (fromBytes !== NO_VALUE) {
        from = decoder.decode(heap.subarray(at, at + fromBytes));
        at += fromBytes;
      }
      const toBytes = readU32(heap, at);
      at += 4;
      rows[k] = { field: names[k], fromValue: from, toValue: decoder.decode(heap.subarray(at, at + toBytes)) };
      at += toBytes;
    }
    return rows;
  }
}

// A text span of a record: its offset (into TEXTS) and length at `slot`.
function span(heap, u32, texts, slot) {
  const at = texts + u32[slot];
  return decoder.decode(heap.subarray(at, at + u32[slot + 1]));
}

// Lengths inside texts are not word-aligned.
function readU32(heap, at) {
  return (heap[at] | (heap[at + 1] << 8) | (heap[at + 2] << 16) | (heap[at + 3] << 24)) >>> 0;
}

export const HEADER_BYTES = HEADER_WORDS * 4;
export { OK };
