// The JavaScript side of the engine: it moves data across the boundary and
// awaits the host's callbacks. Validation, diffing, masking, transition rows,
// event construction, routing and derivation all happen in the C++ core.
import { EntityReactorError, ErrorCode, badArgument, fromCore } from "./errors.js";
import { loadModule } from "./load.js";

/** The actor of writes that name none. */
export const SYSTEM_ACTOR = Object.freeze({ type: "system" });

const NATIVE_MAPPER = 0xffffffff;
const BIG_TEXT = 1 << 20; // UTF-16 units above which #put sizes the buffer exactly
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const isFunction = (f) => typeof f === "function";
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

// Lone UTF-16 surrogates cannot cross into the core intact (UTF-8 has no
// encoding for them: TextEncoder turns them into U+FFFD, Embind into another
// character), so two different ids could name one entity. Ids, kinds and
// fields holding one are rejected; masked texts keep them (maskPieces).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");
const wellFormed = (s) => (typeof s.isWellFormed === "function" ? s.isWellFormed() : !LONE_SURROGATE.test(s));

function checkText(value, what, path) {
  if (!wellFormed(value))
    throw new EntityReactorError(ErrorCode.ER_LONE_SURROGATE, `${what} holds an unpaired UTF-16 surrogate`, { path });
  return value;
}

// Masks the well-formed runs of `text` and keeps its lone surrogates as they are.
function maskPieces(text, mask) {
  if (wellFormed(text)) return mask(text);
  let out = "";
  let last = 0;
  for (const m of text.matchAll(LONE_SURROGATES)) {
    out += mask(text.slice(last, m.index)) + m[0];
    last = m.index + 1;
  }
  return out + mask(text.slice(last));
}

function checkCore(text) {
  if (text !== "") throw fromCore(JSON.parse(text).error);
}

function parseOut(text) {
  const out = JSON.parse(text);
  if (out.error) throw fromCore(out.error);
  return out;
}

// JSON text of a value held as an object member; undefined where
// JSON.stringify would leave the member out (a function, a symbol).
function stringifyMember(value, what) {
  try {
    return JSON.stringify(value);
  } catch (e) {
    throw badArgument(`${what} cannot be serialised as JSON: ${e.message}`);
  }
}

// JSON text of a whole value ("null" where there is none).
function stringify(value, what) {
  return stringifyMember(value, what) ?? "null";
}

function optionsJson(opts) {
  if (opts === undefined || opts === null) return "";
  if (!isObject(opts)) throw badArgument("opts must be an object with optional actor and runId", "opts");
  if (opts.actor === undefined && opts.runId === undefined) return "";
  // Checked here as well: JSON would turn NaN into null, i.e. "no run", and
  // a write meant for a run would go unmasked.
  if (opts.runId != null && (typeof opts.runId !== "string" || opts.runId === ""))
    throw badArgument(`opts.runId must be a non-empty string, received ${typeof opts.runId}`, "opts.runId");
  if (opts.actor != null && !isObject(opts.actor))
    throw badArgument(`opts.actor must be an object with a non-empty string type, received ${typeof opts.actor}`, "opts.actor");
  return stringify({ actor: opts.actor ?? null, runId: opts.runId ?? null }, "opts");
}

function toDate(ms) {
  return ms === null || ms === undefined ? null : new Date(ms);
}

function dateFromHost(value) {
  if (value === null || value === undefined) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

function rowToJs(row) {
  return { ...row, transitionedAt: new Date(row.transitionedAt) };
}

function toJsonSchema(state, kind) {
  if (isObject(state) && isObject(state._zod)) {
    // zod 4: its own JSON-Schema export (SPEC §4).
    if (isFunction(state.toJSONSchema)) return state.toJSONSchema();
    const std = state["~standard"]?.jsonSchema;
    if (std && isFunction(std.output)) return std.output({ target: "draft-2020-12" });
    throw new EntityReactorError(
      ErrorCode.ER_BAD_SCHEMA,
      `defineEntity: kind "${kind}": this zod version has no JSON-Schema export; pass z.toJSONSchema(schema)`,
    );
  }
  if (isObject(state)) return state;
  const got = state === null ? "null" : Array.isArray(state) ? "an array" : typeof state;
  throw new EntityReactorError(
    ErrorCode.ER_BAD_SCHEMA,
    `defineEntity: kind "${kind}": state must be a JSON Schema object or a zod object schema, received ${got}`,
  );
}

function randomSeed() {
  const words = new Uint32Array(8);
  globalThis.crypto.getRandomValues(words);
  return Array.from(words);
}

const finalizer =
  typeof FinalizationRegistry === "function" ? new FinalizationRegistry((core) => core.delete()) : null;

/**
 * Creates an engine. Resolves once the WebAssembly module is ready (it is
 * compiled once per process and shared by every engine).
 */
export async function createEngine(options = {}) {
  if (!isObject(options)) throw badArgument("createEngine: options must be an object");
  const { transitions, emit, bufferLimit, now, logger, wasm, retentionPerEntity } = options;
  if (emit !== undefined && emit !== null && !isFunction(emit)) throw badArgument("createEngine: emit must be a function", "emit");
  if (now !== undefined && !isFunction(now)) throw badArgument("createEngine: now must be a function returning epoch ms", "now");
  if (bufferLimit !== undefined && !(Number.isInteger(bufferLimit) && bufferLimit >= 0))
    throw badArgument("createEngine: bufferLimit must be a non-negative integer", "bufferLimit");
  if (retentionPerEntity !== undefined && !(Number.isInteger(retentionPerEntity) && retentionPerEntity >= 0))
    throw badArgument("createEngine: retentionPerEntity must be a non-negative integer", "retentionPerEntity");
  if (transitions !== undefined && transitions !== null) {
    for (const m of ["runInTransaction", "appendTransitions", "inStateSince", "transitionCount", "history"])
      if (!isFunction(transitions[m])) throw badArgument(`createEngine: transitions.${m} must be a function`, `transitions.${m}`);
  }
  if (logger !== undefined && (!isObject(logger) || !isFunction(logger.warn) || !isFunction(logger.error)))
    throw badArgument("createEngine: logger must have warn and error methods", "logger");
  let module;
  try {
    module = await loadModule(wasm);
  } catch (e) {
    // A wasm option of the wrong type or bytes that are not the module.
    if (wasm !== undefined && (e instanceof TypeError || e instanceof WebAssembly.CompileError || e instanceof WebAssembly.LinkError))
      throw new EntityReactorError(ErrorCode.ER_BAD_ARGUMENT, `createEngine: wasm: ${e.message}`, { path: "wasm", cause: e });
    throw e;
  }
  return new Engine(module, options);
}

class Engine {
  #core;
  #module;
  #header;
  #now;
  #logger;
  #store;
  #emit = null;
  #flushing = null;
  #handles = new Map(); // kind -> { read, handle }
  #handlers = new Map(); // subscription id -> handler
  #fnKeys = new WeakMap(); // deriver/mapper function -> key
  #keyFns = new Map(); // key -> function
  #nextKey = 1;
  #waiting = new Map(); // ticket -> resume()
  #derived = new WeakMap(); // change event -> { triggers, payload }
  #closed = false;
  secrets;

  constructor(module, options) {
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? console;
    this.#store = options.transitions ?? null;
    const config = {
      bufferLimit: options.bufferLimit ?? 10000,
      hostStore: this.#store !== null,
      retention: options.retentionPerEntity ?? 0,
      seed: randomSeed(),
    };
    this.#module = module;
    // The callback must not capture `this`: the native side holds it, and a
    // reference back to the engine would keep the FinalizationRegistry from
    // ever freeing an engine the user dropped without close().
    const logger = this.#logger;
    this.#core = new module.Core(JSON.stringify(config), (message) => logger.warn(message));
    this.#header = this.#core.headerAddress() >>> 2;
    finalizer?.register(this, this.#core, this);
    this.secrets = makeSecrets(() => this.#live());
    if (isFunction(options.emit)) this.wire(options.emit);
  }

  #live() {
    if (this.#closed) throw new EntityReactorError(ErrorCode.ER_CLOSED, "the engine is closed");
    return this.#core;
  }

  // Encodes strings back to back into the core's input buffer; returns their
  // byte lengths. (Hot path: Embind's std::string conversion is per byte.)
  #put(...texts) {
    let capacity = 0;
    for (const t of texts) capacity += t.length;
    if (capacity > BIG_TEXT) return this.#putExact(texts);
    const ptr = this.#core.inBuffer(capacity * 3); // may grow memory: read HEAPU8 after
    const heap = this.#module.HEAPU8;
    const lengths = new Array(texts.length);
    let offset = ptr;
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i];
      const written = t.length === 0 ? 0 : encoder.encodeInto(t, heap.subarray(offset, offset + t.length * 3)).written;
      lengths[i] = written;
      offset += written;
    }
    return lengths;
  }

  // Batch texts: encoded first, so the core's buffer is sized exactly rather
  // than at three bytes per UTF-16 unit (WASM memory never shrinks).
  #putExact(texts) {
    const bytes = texts.map((t) => encoder.encode(t));
    const ptr = this.#core.inBuffer(bytes.reduce((n, b) => n + b.length, 0));
    const heap = this.#module.HEAPU8;
    let offset = ptr;
    for (const b of bytes) {
      heap.set(b, offset);
      offset += b.length;
    }
    return bytes.map((b) => b.length);
  }

  // The core's last result (address and length in its header).
  #take(length) {
    return length === 0 ? "" : this.#takeAt(0, length);
  }

  // `length` bytes of the last result, `offset` bytes in.
  #takeAt(offset, length) {
    const ptr = this.#module.HEAPU32[this.#header] + offset;
    return decoder.decode(this.#module.HEAPU8.subarray(ptr, ptr + length));
  }

  #clock() {
    const t = Number(this.#now());
    if (!Number.isFinite(t)) throw badArgument("now() must return epoch milliseconds as a finite number");
    return t;
  }

  // ------------------------------------------------------------- kinds

  /** Declares an entity kind and returns its handle. */
  defineEntity(definition) {
    const core = this.#live();
    if (!isObject(definition)) throw badArgument("defineEntity: expected { kind, state, read }");
    const { kind, state, read, strict } = definition;
    if (typeof kind !== "string")
      throw new EntityReactorError(ErrorCode.ER_BAD_KIND, `defineEntity: kind must be a non-empty string, received ${typeof kind}`);
    checkText(kind, "defineEntity: kind", "kind");
    if (!isFunction(read)) throw badArgument(`defineEntity: kind "${kind}": read must be a function (ids) => { [id]: state }`, "read");
    if (strict !== undefined && typeof strict !== "boolean") throw badArgument("defineEntity: strict must be a boolean", "strict");
    const schema = toJsonSchema(state, kind);
    checkCore(core.defineKind(kind, stringify(schema, `kind "${kind}" state schema`), strict === true));
    const handle = new EntityHandle(this, kind, read);
    this.#handles.set(kind, { read, handle });
    return handle;
  }

  /** The kinds defined so far, sorted. */
  kinds() {
    return JSON.parse(this.#live().kinds());
  }

  declareNonReactiveState(declaration) {
    if (!isObject(declaration)) throw badArgument("declareNonReactiveState: expected { table, reason, note }");
    const { table, reason, note = "" } = declaration;
    if (typeof table !== "string" || typeof reason !== "string" || typeof note !== "string")
      throw badArgument("declareNonReactiveState: table, reason and note must be strings");
    checkCore(this.#live().declareNonReactive(table, reason, note));
  }

  nonReactiveDeclarations() {
    return JSON.parse(this.#live().nonReactive());
  }

  // ------------------------------------------------------------- writes

  // A ticket from begin: > 0 runs now, < 0 waits for its turn, 0 is an error.
  // Callers skip the await when it runs now (an await costs a microtask).
  #check(ticket) {
    if (ticket === 0) throw fromCore(JSON.parse(this.#core.takeError()).error);
    return ticket;
  }

  #turn(ticket) {
    const t = -ticket;
    return new Promise((resume) => this.#waiting.set(t, () => resume(t)));
  }

  #wake(tickets) {
    if (!tickets) return;
    for (const t of tickets) {
      const resume = this.#waiting.get(t);
      this.#waiting.delete(t);
      resume?.();
    }
  }

  async #appendAndSettle(ticket, kind, groups, settle) {
    const core = this.#core;
    try {
      await this.#store.runInTransaction(async (tx) => {
        for (const [entityId, rows] of groups)
          await this.#store.appendTransitions({ tx, kind, entityId, transitions: rows.map(rowToJs) });
      });
    } catch (cause) {
      this.#wake(settleWoken(settle(ticket, false)));
      throw new EntityReactorError(
        ErrorCode.ER_STORE,
        `transition store append failed for kind "${kind}": ${cause?.message ?? cause}; the host's write stands, no event was emitted`,
        { cause },
      );
    }
    return settle(ticket, true);
  }

  /** @internal the pipeline of SPEC §5 for one mutate/remove. */
  async write(kind, read, args, remove) {
    const core = this.#live();
    const what = remove ? "remove" : "mutate";
    if (!isObject(args)) throw badArgument(`${what}: expected { id, opts?, apply }`);
    const { id, opts, apply } = args;
    if (typeof id !== "string")
      throw new EntityReactorError(ErrorCode.ER_BAD_ID, `${what}: kind "${kind}": id must be a non-empty string, received ${typeof id}`);
    checkText(id, `${what}: kind "${kind}": id`, "id");
    if (!isFunction(apply)) throw badArgument(`${what}: kind "${kind}" id "${id}": apply must be a function`, "apply");
    const [kindLen, idLen, optsLen] = this.#put(kind, id, optionsJson(opts));
    let ticket = this.#check(core.beginRaw(kindLen, idLen, optsLen));
    if (ticket < 0) ticket = await this.#turn(ticket);
    let open = true;
    try {
      const prev = await readOne(read, kind, id);
      const prevText = prev === undefined ? "" : stringify(prev, `state of ${kind} "${id}"`);
      checkCore(this.#take(core.setPrevRaw(ticket, this.#put(prevText)[0])));
      const next = await apply();
      const nextText = remove ? "" : stringify(next, `state returned by apply for ${kind} "${id}"`);
      const now = this.#clock();
      const jsonLen = core.commitRaw(ticket, this.#put(nextText)[0], now);
      let out = parseOut(this.#take(jsonLen));
      // Masked/normalised prev and next follow the outcome as texts: parsed
      // only if a consumer reads them, like the host's own.
      let eventPrev = prevText === "" ? null : prevText;
      let eventNext = remove ? null : nextText;
      if (out.prevBytes !== undefined) eventPrev = this.#takeAt(jsonLen, out.prevBytes);
      if (out.nextBytes !== undefined) eventNext = this.#takeAt(jsonLen + (out.prevBytes ?? 0), out.nextBytes);
      if (out.awaitingAppend) {
        open = false;
        const settled = await this.#appendAndSettle(ticket, kind, [[id, out.rows]], (t, ok) =>
          parseOut(core.settle(t, ok)),
        );
        out = { ...out, ...settled, changed: true };
      }
      open = false;
      this.#wake(out.woken);
      if (out.changed) {
        const event = makeEvent(kind, id, out, eventPrev, eventNext);
        this.#deliver(event, out);
      }
      if (remove) return undefined;
      return out.state ?? next;
    } finally {
      if (open) this.#wake(JSON.parse(core.abort(ticket)));
    }
  }

  /**
   * Batch ingest (SPEC §9): many `{ id, next }` for one kind (next null =
   * tombstone), one read, one crossing into the core, one transaction.
   * Returns the change events, in entry order.
   */
  async ingest(kind, entries, opts = {}) {
    const core = this.#live();
    if (typeof kind !== "string") throw new EntityReactorError(ErrorCode.ER_BAD_KIND, "ingest: kind must be a string");
    checkText(kind, "ingest: kind", "kind");
    if (!Array.isArray(entries)) throw badArgument("ingest: entries must be an array of { id, next }");
    if (!isObject(opts)) throw badArgument("ingest: opts must be an object", "opts");
    const ids = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (!isObject(e) || typeof e.id !== "string")
        throw new EntityReactorError(ErrorCode.ER_BAD_ID, `ingest: entry ${i}: expected { id: string, next }`, { path: `[${i}].id` });
      ids[i] = checkText(e.id, `ingest: entry ${i}: id`, `[${i}].id`);
    }
    if (opts.apply !== undefined && !isFunction(opts.apply)) throw badArgument("ingest: opts.apply must be a function", "opts.apply");
    if (entries.length === 0) {
      if (!this.kinds().includes(kind)) throw new EntityReactorError(ErrorCode.ER_UNKNOWN_KIND, `ingest: unknown kind "${kind}"`);
      return [];
    }
    const entry = this.#handles.get(kind);
    const [kindLen, idsLen, optsLen] = this.#put(kind, JSON.stringify(ids), optionsJson(opts));
    let ticket = this.#check(core.beginBatchRaw(kindLen, idsLen, optsLen));
    if (ticket < 0) ticket = await this.#turn(ticket);
    let open = true;
    try {
      // Every state crosses as its own JSON text, joined into the batch
      // texts; the events parse their prev/next from these texts on access.
      const unique = [...new Set(ids)];
      const found = (await entry.read(unique)) ?? {};
      // Each id's state as the batch proceeds: read, then each entry's next.
      const stateTexts = new Map();
      const prevParts = [];
      for (const id of unique) {
        if (!Object.hasOwn(found, id) || found[id] == null) continue;
        const text = stringifyMember(found[id], `read result for ${kind} "${id}"`);
        if (text === undefined) continue; // a function or symbol: absent, as JSON.stringify of the whole object has it
        stateTexts.set(id, text);
        prevParts.push(`${JSON.stringify(id)}:${text}`);
      }
      if (opts.apply) await opts.apply();
      const nextTexts = new Array(entries.length);
      const entryParts = new Array(entries.length);
      for (let i = 0; i < entries.length; i++) {
        const next = entries[i].next;
        nextTexts[i] = next == null ? null : stringify(next, `ingest entry ${i} next`);
        entryParts[i] = `{"id":${JSON.stringify(ids[i])},"next":${nextTexts[i] ?? "null"}}`;
      }
      const [prevsLen, entriesLen] = this.#put(`{${prevParts.join(",")}}`, `[${entryParts.join(",")}]`);
      let outs = parseOut(this.#take(core.commitBatchRaw(ticket, prevsLen, entriesLen, this.#clock())));
      if (outs.length && outs.some((o) => o.awaitingAppend)) {
        open = false;
        const groups = new Map();
        for (const o of outs) for (const r of o.rows ?? []) (groups.get(r.entityId) ?? groups.set(r.entityId, []).get(r.entityId)).push(r);
        const settled = await this.#appendAndSettle(ticket, kind, groups, (t, ok) => parseOut(core.settleBatch(t, ok)));
        outs = outs.map((o, i) => ({ ...o, ...settled[i], changed: o.changed }));
      }
      open = false;
      this.#wake(outs.at(-1)?.woken);
      const changes = [];
      for (let i = 0; i < outs.length; i++) {
        const o = outs[i];
        const id = ids[i];
        const prevText = stateTexts.get(id) ?? null;
        const nextText = o.state !== undefined ? JSON.stringify(o.state) : nextTexts[i];
        stateTexts.set(id, nextText);
        if (!o.changed) continue;
        const event = makeEvent(kind, id, o, prevText, nextText);
        this.#deliver(event, o);
        changes.push(event);
      }
      return changes;
    } finally {
      if (open) this.#wake(JSON.parse(core.abort(ticket)));
    }
  }

  #deliver(event, out) {
    if (out.triggers) this.#derived.set(event, { triggers: out.triggers, payload: out.payload });
    if (out.deliver && this.#emit) this.#safeEmit(event);
    for (const id of out.subscribers ?? []) {
      const sub = this.#handlers.get(id);
      if (sub) runHandler(sub, event, this.#logger, 0);
    }
  }

  #safeEmit(event) {
    try {
      const r = this.#emit(event);
      if (r && isFunction(r.then)) r.then(undefined, (e) => this.#logger.error("entity-reactor: emit failed", e));
    } catch (e) {
      this.#logger.error("entity-reactor: emit failed", e);
    }
  }

  // ------------------------------------------------------------- delivery

  /** Wires the outbound emitter and flushes events buffered before it, in order. */
  wire(emit) {
    const core = this.#live();
    if (!isFunction(emit)) throw badArgument("wire: emit must be a function", "emit");
    this.#emit = emit;
    core.beginWire();
    // Drain synchronously: events committed during an emit call are appended
    // to the same buffer and come out of this loop once, in order.
    for (let text = core.takeBuffered(); text !== ""; text = core.takeBuffered()) this.#safeEmit(JSON.parse(text));
  }

  get isWired() {
    return !this.#closed && this.#emit !== null && this.#core.isWired();
  }

  onEntityChanged(subscription) {
    const core = this.#live();
    if (!isObject(subscription)) throw badArgument("onEntityChanged: expected { kind, handler, delivery? }");
    const { kind, handler, delivery = { mode: "broadcast" } } = subscription;
    if (typeof kind !== "string") throw new EntityReactorError(ErrorCode.ER_BAD_KIND, "onEntityChanged: kind must be a non-empty string");
    if (!isFunction(handler)) throw badArgument("onEntityChanged: handler must be a function", "handler");
    if (!isObject(delivery) || (delivery.mode !== "broadcast" && delivery.mode !== "work-queue"))
      throw badArgument('onEntityChanged: delivery.mode must be "broadcast" or "work-queue"', "delivery.mode");
    const workQueue = delivery.mode === "work-queue";
    const group = delivery.workerGroup;
    if (workQueue && typeof group !== "string")
      throw badArgument("onEntityChanged: work-queue delivery needs a non-empty workerGroup", "delivery.workerGroup");
    const maxRetries = delivery.maxRetries ?? 0;
    if (!Number.isInteger(maxRetries) || maxRetries < 0)
      throw badArgument("onEntityChanged: maxRetries must be a non-negative integer", "delivery.maxRetries");
    const id = core.subscribe(kind, workQueue, workQueue ? group : "", maxRetries);
    if (id === 0) throw fromCore(JSON.parse(core.takeError()).error);
    this.#handlers.set(id, { handler, maxRetries: workQueue ? maxRetries : 0, kind });
    return async () => {
      if (this.#handlers.delete(id) && !this.#closed) core.unsubscribe(id);
    };
  }

  #keyOf(fn) {
    let key = this.#fnKeys.get(fn);
    if (key === undefined) {
      key = this.#nextKey++;
      this.#fnKeys.set(fn, key);
      this.#keyFns.set(key, fn);
    }
    return key;
  }

  registerChangeDeriver(registration) {
    const core = this.#live();
    if (!isObject(registration)) throw badArgument("registerChangeDeriver: expected { kind, derive, toPayload? }");
    const { kind, derive, toPayload } = registration;
    if (typeof kind !== "string") throw new EntityReactorError(ErrorCode.ER_BAD_KIND, "registerChangeDeriver: kind must be a string");
    if (!isFunction(derive)) throw badArgument("registerChangeDeriver: derive must be a function", "derive");
    if (toPayload !== undefined && !isFunction(toPayload)) throw badArgument("registerChangeDeriver: toPayload must be a function", "toPayload");
    checkCore(core.registerDeriver(kind, this.#keyOf(derive), toPayload ? this.#keyOf(toPayload) : 0));
  }

  /** @internal registers the native catalog derivers (entity-reactor/catalog). */
  registerNativeCatalog() {
    checkCore(this.#live().registerCatalog());
  }

  /** Trigger event ids for a change: the union of its kind's derivers. */
  derive(change) {
    const core = this.#live();
    if (!isObject(change) || typeof change.kind !== "string") throw badArgument("derive: expected a change event");
    const cached = this.#derived.get(change);
    if (cached && core.allNative(change.kind)) return [...cached.triggers];
    return JSON.parse(
      core.derive(
        stringify(change, "change"),
        (key) => {
          try {
            const ids = this.#keyFns.get(key)(change);
            if (ids !== null && typeof ids === "object" && isFunction(ids.then)) {
              // Derivers are synchronous; a promise is skipped like a throw,
              // and its rejection must not go unhandled (it would end Node).
              Promise.resolve(ids).catch(() => {});
              return `!deriver for kind "${change.kind}" returned a promise (derivers must be synchronous); skipped`;
            }
            return stringify(Array.isArray(ids) ? ids : [], "deriver result");
          } catch (e) {
            return `!deriver for kind "${change.kind}" threw: ${e?.message ?? e}`;
          }
        },
        (message) => this.#logger.warn(`entity-reactor: ${message}`),
      ),
    );
  }

  /** The kind's payload for a change, or undefined when it has no mapper. */
  payload(change) {
    const core = this.#live();
    if (!isObject(change) || typeof change.kind !== "string") throw badArgument("payload: expected a change event");
    const key = core.mapperKey(change.kind);
    if (key === 0) return undefined;
    if (key === NATIVE_MAPPER) {
      const cached = this.#derived.get(change);
      if (cached?.payload !== undefined) return structuredClone(cached.payload);
      return parseOut(core.nativePayload(stringify(change, "change")));
    }
    return this.#keyFns.get(key)(change);
  }

  // ------------------------------------------------------------- reads

  /** @internal */
  async readState(read, kind, id) {
    return (await readOne(read, kind, id)) ?? null;
  }

  /** @internal */
  async inStateSince(kind, read, id, field) {
    const core = this.#live();
    if (typeof id !== "string" || typeof field !== "string") throw badArgument("inStateSince(id, field): both must be strings");
    checkText(id, "inStateSince: id", "id");
    checkText(field, "inStateSince: field", "field");
    const state = await readOne(read, kind, id);
    if (state === undefined) return null;
    const text = parseOut(core.fieldText(stringify(state, "state"), field));
    if (this.#store)
      return dateFromHost(await this.#store.inStateSince({ kind, entityId: id, field, currentValue: text }));
    const ms = core.inStateSince(kind, id, field, text);
    return ms < 0 ? null : new Date(ms);
  }

  /** @internal */
  async transitionCount(kind, args) {
    const core = this.#live();
    if (!isObject(args)) throw badArgument("transitionCount: expected { id, field, windowMs }");
    const { id, field, windowMs } = args;
    if (typeof id !== "string" || typeof field !== "string") throw badArgument("transitionCount: id and field must be strings");
    checkText(id, "transitionCount: id", "id");
    checkText(field, "transitionCount: field", "field");
    if (typeof windowMs !== "number" || !(windowMs >= 0)) throw badArgument("transitionCount: windowMs must be a non-negative number", "windowMs");
    const now = this.#clock();
    if (this.#store) return Number(await this.#store.transitionCount({ kind, entityId: id, field, windowMs, now: new Date(now) }));
    return core.transitionCount(kind, id, field, windowMs, now);
  }

  /** @internal */
  async history(kind, id, options = {}) {
    const core = this.#live();
    if (typeof id !== "string") throw badArgument("history: id must be a string");
    checkText(id, "history: id", "id");
    if (options !== undefined && options !== null && !isObject(options)) throw badArgument("history: options must be an object { field?, limit? }");
    const { field, limit } = options ?? {};
    if (field !== undefined && typeof field !== "string") throw badArgument("history: field must be a string", "field");
    if (field !== undefined) checkText(field, "history: field", "field");
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw badArgument("history: limit must be a non-negative integer", "limit");
    if (this.#store) {
      const rows = await this.#store.history({ kind, entityId: id, field, limit });
      return rows.map((r) => ({ ...r, transitionedAt: dateFromHost(r.transitionedAt) }));
    }
    return JSON.parse(core.history(kind, id, field !== undefined, field ?? "", limit ?? 0)).map(rowToJs);
  }

  /** @internal */
  clockNow() {
    return this.#clock();
  }

  /** Frees the native engine. Further calls throw ER_CLOSED. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    finalizer?.unregister(this);
    this.#core.delete();
    this.#handlers.clear();
  }

  [Symbol.dispose]() {
    this.close();
  }

  /** @internal used by tests: tickets the core still tracks. */
  get pendingWrites() {
    return this.#live().pendingTickets();
  }
}

export class EntityHandle {
  #engine;
  #read;
  constructor(engine, kind, read) {
    this.#engine = engine;
    this.#read = read;
    this.kind = kind;
  }
  mutate(args) {
    return this.#engine.write(this.kind, this.#read, args, false);
  }
  remove(args) {
    return this.#engine.write(this.kind, this.#read, args, true);
  }
  get(id) {
    if (typeof id !== "string") return Promise.reject(badArgument("get(id): id must be a string"));
    return this.#engine.readState(this.#read, this.kind, id);
  }
  async getMany(ids) {
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) throw badArgument("getMany(ids): ids must be an array of strings");
    const found = (await this.#read(ids)) ?? {};
    const out = {};
    for (const id of ids) if (Object.hasOwn(found, id) && found[id] != null) out[id] = found[id];
    return out;
  }
  inStateSince(id, field) {
    return this.#engine.inStateSince(this.kind, this.#read, id, field);
  }
  async inStateForMs(id, field) {
    const since = await this.inStateSince(id, field);
    return since === null ? 0 : Math.max(0, this.#engine.clockNow() - since.getTime());
  }
  transitionCount(args) {
    return this.#engine.transitionCount(this.kind, args);
  }
  history(id, options) {
    return this.#engine.history(this.kind, id, options);
  }
}

async function readOne(read, kind, id) {
  const found = await read([id]);
  if (found === undefined || found === null) return undefined;
  if (typeof found !== "object")
    throw new EntityReactorError(ErrorCode.ER_BAD_ARGUMENT, `read for kind "${kind}" must return an object keyed by id, received ${typeof found}`);
  // Own properties only: an id such as "__proto__" must not reach Object.prototype.
  if (!Object.hasOwn(found, id)) return undefined;
  const state = found[id];
  return state === null ? undefined : state;
}

// prev/next are parsed from the texts JS already holds (null: no state) only
// when a consumer reads them (most handlers look at delta and changedFields).
// They are own enumerable accessors, so JSON.stringify, spread and
// structuredClone see them.
function makeEvent(kind, id, out, prevText, nextText) {
  let prev = out.prev;
  let next = out.next;
  return {
    kind,
    id,
    get prev() {
      if (prev === undefined) prev = prevText === null ? null : JSON.parse(prevText);
      return prev;
    },
    set prev(value) {
      prev = value;
    },
    get next() {
      if (next === undefined) next = nextText === null ? null : JSON.parse(nextText);
      return next;
    },
    set next(value) {
      next = value;
    },
    delta: out.delta,
    changedFields: out.changedFields,
    actor: out.actor,
    occurredAt: out.occurredAt,
    changeId: out.changeId,
  };
}

function settleWoken(out) {
  return out.woken ?? out.at?.(-1)?.woken;
}

function runHandler(sub, event, logger, attempt) {
  const fail = (e) => {
    if (attempt < sub.maxRetries) {
      runHandler(sub, event, logger, attempt + 1);
      return;
    }
    logger.error(`entity-reactor: handler for kind "${sub.kind}" failed`, e);
  };
  try {
    const r = sub.handler(event);
    if (r && isFunction(r.then)) r.then(undefined, fail);
  } catch (e) {
    fail(e);
  }
}

function makeSecrets(core) {
  const runId = (id, what) => {
    if (typeof id !== "string" || id === "") throw badArgument(`secrets.${what}: id must be a non-empty string`);
    return checkText(id, `secrets.${what}: id`, "id");
  };
  const deep = (id, value, forStep, what) => {
    runId(id, what);
    if (typeof value === "string") return maskPieces(value, (t) => (forStep ? core().maskTextForStep(id, t) : core().maskText(id, t)));
    if (typeof value !== "object" || value === null) return value;
    return parseOut(core().maskDeep(id, stringify(value, "value"), forStep));
  };
  return Object.freeze({
    register(id, values) {
      runId(id, "register");
      if (!Array.isArray(values)) throw badArgument("secrets.register: values must be an array of strings");
      // A value with a lone surrogate would make the whole list unreadable
      // for the core (and drop every secret in it): its well-formed pieces
      // are registered instead, so no part of it survives masking.
      const strings = values.filter((v) => typeof v === "string" && v !== "");
      const clean = strings.flatMap((v) => (wellFormed(v) ? [v] : v.split(LONE_SURROGATES).filter((p) => p !== "")));
      checkCore(core().registerSecrets(id, JSON.stringify(clean)));
    },
    linkStep(stepId, id) {
      core().linkStep(runId(stepId, "linkStep"), runId(id, "linkStep"));
    },
    maskText(id, text) {
      runId(id, "maskText");
      return typeof text === "string" ? maskPieces(text, (t) => core().maskText(id, t)) : text;
    },
    maskTextForStep(stepId, text) {
      runId(stepId, "maskTextForStep");
      return typeof text === "string" ? maskPieces(text, (t) => core().maskTextForStep(stepId, t)) : text;
    },
    maskDeep: (id, value) => deep(id, value, false, "maskDeep"),
    maskDeepForStep: (stepId, value) => deep(stepId, value, true, "maskDeepForStep"),
    drop(id) {
      core().dropRun(runId(id, "drop"));
    },
  });
}

/** With no handle, just run apply; otherwise route through handle.mutate. */
export async function withEntityWrite(args) {
  const { handle, id, opts, apply } = helperArgs(args, "withEntityWrite");
  if (!handle) return apply();
  return handle.mutate({ id, opts, apply });
}

/** With no handle, just run apply; otherwise route through handle.remove. */
export async function withEntityRemove(args) {
  const { handle, id, opts, apply } = helperArgs(args, "withEntityRemove");
  if (!handle) {
    await apply();
    return;
  }
  await handle.remove({ id, opts, apply });
}

function helperArgs(args, what) {
  if (!isObject(args)) throw badArgument(`${what}: expected { handle?, id, opts?, apply }`);
  if (!isFunction(args.apply)) throw badArgument(`${what}: apply must be a function`, "apply");
  const method = what === "withEntityWrite" ? "mutate" : "remove";
  if (args.handle && !isFunction(args.handle[method]))
    throw badArgument(`${what}: handle must be an entity handle (from defineEntity) or absent`, "handle");
  return args;
}
