// The JavaScript side of the engine: it awaits the host's callbacks and
// moves data across the boundary, once per write (./wire.js). Validation,
// diffing, masking, transition rows, the change's content and derivation
// all happen in the C++ core; ordering (./queue.js), delivery
// (./delivery.js) and the event object (./change.js) live here.
import { ChangeEvent, setMember } from "./change.js";
import { Delivery, checkKind } from "./delivery.js";
import { EntityReactorError, ErrorCode, badArgument } from "./errors.js";
import { EntityHandle } from "./handle.js";
import { loadModule, wireOf } from "./load.js";
import { makeSecrets } from "./secrets.js";
import { compileStringTests, zodProblem } from "./string-tests.js";
import { CommittedStates } from "./states.js";
import { checkText, isFunction, isObject, stringify } from "./values.js";
import { F, PREV, STATUS } from "./wire.js";

export { EntityHandle };

/** The actor of writes that name none. */
export const SYSTEM_ACTOR = Object.freeze({ type: "system" });

const NATIVE_MAPPER = 0xffffffff;
const NO_OPTIONS = Object.freeze({ runId: "", actor: undefined, actorText: "" });
const NO_PREV = Object.freeze({ prevMode: PREV.NONE, prevToken: 0, prevText: null });
const DEFAULT_CACHE_BYTES = 16 << 20; // the prev cache (core and JS each)
const DEFAULT_LOG_BYTES = 64 << 20; // the embedded transition log

function toJsonSchema(state, kind) {
  if (isObject(state) && isObject(state._zod)) {
    // zod 4: its own JSON-Schema export (SPEC §4). What the export cannot
    // say (refinements, transforms, dates, bigints...) is a typed error.
    const problem = zodProblem(state);
    if (problem)
      throw new EntityReactorError(
        ErrorCode.ER_BAD_SCHEMA,
        `defineEntity: kind "${kind}": the zod schema holds ${problem}, which its JSON Schema cannot express; validate that part in apply`,
      );
    try {
      if (isFunction(state.toJSONSchema)) return state.toJSONSchema();
      const std = state["~standard"]?.jsonSchema;
      if (std && isFunction(std.output)) return std.output({ target: "draft-2020-12" });
    } catch (cause) {
      throw new EntityReactorError(
        ErrorCode.ER_BAD_SCHEMA,
        `defineEntity: kind "${kind}": zod cannot export this schema: ${cause?.message ?? cause}`,
        { cause },
      );
    }
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

function optionsOf(opts, what) {
  if (opts === undefined || opts === null) return { runId: "", actor: undefined, actorText: "" };
  if (!isObject(opts)) throw badArgument(`${what}: opts must be an object with optional actor and runId`, "opts");
  const { runId, actor } = opts;
  // A NaN or empty runId must not silently mean "no run": the write would go unmasked.
  if (runId != null && (typeof runId !== "string" || runId === ""))
    throw badArgument(`${what}: opts.runId must be a non-empty string, received ${typeof runId}`, "opts.runId");
  if (runId != null) checkText(runId, `${what}: opts.runId`, "opts.runId");
  if (actor != null && (!isObject(actor) || typeof actor.type !== "string" || actor.type === ""))
    throw badArgument(
      `${what}: opts.actor must be an object with a non-empty string type, received ${stringify(actor, "opts.actor")}`,
      "opts.actor",
    );
  // The event carries the actor: it must be JSON (the core masks its text
  // for a run's write).
  const actorText = actor == null ? "" : stringify(actor, "opts.actor");
  return { runId: runId ?? "", actor: actor ?? undefined, actorText };
}

function dateFromHost(value) {
  if (value === null || value === undefined) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

function randomWords() {
  const words = new Uint32Array(8);
  globalThis.crypto.getRandomValues(words);
  return words;
}

const finalizer = typeof FinalizationRegistry === "function" ? new FinalizationRegistry((core) => core.delete()) : null;

/**
 * Creates an engine. Resolves once the WebAssembly module is ready (it is
 * compiled once per process and shared by every engine). Nothing here
 * draws random numbers or starts timers, so it may run at a worker's
 * module scope.
 */
export async function createEngine(options = {}) {
  if (!isObject(options)) throw badArgument("createEngine: options must be an object");
  const {
    transitions,
    emit,
    bufferLimit,
    now,
    logger,
    wasm,
    retentionPerEntity,
    stateCacheBytes,
    transitionLogBytes,
    memoryLimit,
  } = options;
  if (emit !== undefined && emit !== null && !isFunction(emit))
    throw badArgument("createEngine: emit must be a function", "emit");
  if (now !== undefined && !isFunction(now))
    throw badArgument("createEngine: now must be a function returning epoch ms", "now");
  for (const [name, value] of [
    ["bufferLimit", bufferLimit],
    ["retentionPerEntity", retentionPerEntity],
    ["stateCacheBytes", stateCacheBytes],
    ["transitionLogBytes", transitionLogBytes],
    ["memoryLimit", memoryLimit],
  ])
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0))
      throw badArgument(`createEngine: ${name} must be a non-negative integer`, name);
  if (transitions !== undefined && transitions !== null) {
    for (const m of ["runInTransaction", "appendTransitions", "inStateSince", "transitionCount", "history"])
      if (!isFunction(transitions[m]))
        throw badArgument(`createEngine: transitions.${m} must be a function`, `transitions.${m}`);
  }
  if (logger !== undefined && (!isObject(logger) || !isFunction(logger.warn) || !isFunction(logger.error)))
    throw badArgument("createEngine: logger must have warn and error methods", "logger");
  if (transitions?.outbox === true && !isFunction(transitions.appendChanges))
    throw badArgument(
      "createEngine: a transitions store with an outbox must have appendChanges",
      "transitions.appendChanges",
    );
  const { bus } = options;
  if (bus != null && (!isObject(bus) || !isFunction(bus.publish) || !isFunction(bus.onEntityChanged)))
    throw badArgument("createEngine: bus must have publish and onEntityChanged (e.g. entity-reactor/bus/redis)", "bus");
  const module = await loadModule(wasm);
  return new Engine(module, options);
}

class Engine {
  #core;
  #wire;
  #module;
  #now;
  #logger;
  #store;
  #delivery;
  #handles = new Map(); // kind -> handle
  #fnKeys = new WeakMap(); // deriver/mapper function -> key
  #keyFns = new Map(); // key -> function
  #nextKey = 1;
  #out = {}; // the record wire.readEntry fills (read at once, never kept)
  #cacheBytes;
  #bus = null;
  #outbox = false;
  #tests = []; // kind number -> its string tests (js/src/string-tests.js)
  #seeded = false;
  #closed = false;
  secrets;

  constructor(module, options) {
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? console;
    this.#store = options.transitions ?? null;
    this.#wire = wireOf(module);
    this.#module = module;
    this.#cacheBytes = options.stateCacheBytes ?? DEFAULT_CACHE_BYTES;
    // The core asks for the string tests of a kind's schema (patterns,
    // formats) while it validates: they run here, as RegExps.
    const tests = this.#tests;
    this.#core = new module.Core(
      this.#store !== null,
      options.retentionPerEntity ?? 0,
      this.#cacheBytes,
      options.transitionLogBytes ?? DEFAULT_LOG_BYTES,
      options.memoryLimit ?? 0,
      (kind, test, text) => tests[kind][test](text),
    );
    finalizer?.register(this, this.#core, this);
    this.#delivery = new Delivery(options.bufferLimit ?? 10000, this.#logger);
    this.#outbox = this.#store !== null && this.#store.outbox === true;
    if (options.bus != null) {
      this.#bus = options.bus;
      this.#bus.attachEngine?.({ store: this.#store, logger: this.#logger });
    } else if (this.#outbox) {
      this.#logger.warn(
        "entity-reactor: the store records change events in its outbox but no bus relays them (createEngine({ transitions, bus }))",
      );
    }
    this.secrets = makeSecrets(() => this.#live(), this.#wire);
    if (isFunction(options.emit)) this.wire(options.emit);
  }

  #live() {
    if (this.#closed) throw new EntityReactorError(ErrorCode.ER_CLOSED, "the engine is closed");
    return this.#core;
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
    checkKind(kind, "defineEntity");
    checkText(kind, "defineEntity: kind", "kind");
    if (!isFunction(read))
      throw badArgument(`defineEntity: kind "${kind}": read must be a function (ids) => { [id]: state }`, "read");
    if (strict !== undefined && typeof strict !== "boolean")
      throw badArgument("defineEntity: strict must be a boolean", "strict");
    const schema = toJsonSchema(state, kind);
    const wire = this.#wire;
    const [kindBytes, schemaBytes] = wire.put(kind, stringify(schema, `kind "${kind}" state schema`));
    wire.check(core.defineKind(kindBytes, schemaBytes, strict === true));
    const { fields, tests } = wire.json();
    const index = wire.value();
    // The core lists the string tests (patterns, formats) the schema needs:
    // a pattern that is no ECMAScript RegExp undoes the definition.
    try {
      this.#tests[index] = compileStringTests(kind, tests);
    } catch (e) {
      wire.check(core.retractKind(index));
      throw e;
    }
    const handle = new EntityHandle(this, kind, index, fields, read, new CommittedStates(this.#cacheBytes));
    this.#handles.set(kind, handle);
    return handle;
  }

  /** The kinds defined so far, sorted. */
  kinds() {
    const core = this.#live();
    this.#wire.check(core.kinds());
    return this.#wire.json();
  }

  declareNonReactiveState(declaration) {
    const core = this.#live();
    if (!isObject(declaration)) throw badArgument("declareNonReactiveState: expected { table, reason, note }");
    const { table, reason, note = "" } = declaration;
    if (typeof table !== "string" || typeof reason !== "string" || typeof note !== "string")
      throw badArgument("declareNonReactiveState: table, reason and note must be strings");
    this.#wire.check(core.declareNonReactive(...this.#wire.put(table, reason, note)));
  }

  nonReactiveDeclarations() {
    const core = this.#live();
    this.#wire.check(core.nonReactive());
    return this.#wire.json();
  }

  // ------------------------------------------------------------- writes

  #seed(core) {
    // Entropy for change ids, drawn at the first write rather than at load
    // or createEngine: edge runtimes allow it only while serving a request.
    const w = randomWords();
    this.#wire.check(core.seed(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]));
    this.#seeded = true;
  }

  // One crossing: the write in, the records out. A cached prev the core
  // has evicted meanwhile crosses again as its text.
  // SPEC §7: an id holding a secret of its run is refused before read.
  #checkRunId(core, handle, runId, id, path) {
    this.#wire.check(core.checkRunId(handle.index, ...this.#wire.put(runId, id, path)));
  }

  #commit1(core, handle, runId, actorText, id, prevMode, prevToken, prevText, nextText, now) {
    const wire = this.#wire;
    wire.putWrite1(runId, actorText, id, prevMode, prevToken, prevText, nextText);
    if (wire.check(core.write(handle.index, 1, now)) === STATUS.CACHE_MISS) {
      wire.putWrite1(runId, actorText, id, PREV.TEXT, 0, prevText, nextText);
      wire.check(core.write(handle.index, 1, now));
    }
    if (wire.logTrimStarted()) this.#logTrimmed();
  }

  #commitMany(core, handle, runId, actorText, entries, now) {
    const wire = this.#wire;
    wire.putWrite(runId, actorText, entries);
    if (wire.check(core.write(handle.index, entries.length, now)) === STATUS.CACHE_MISS) {
      // Only the entries the cache no longer holds go again as text.
      for (const i of wire.misses()) entries[i].prevMode = PREV.TEXT;
      wire.putWrite(runId, actorText, entries);
      wire.check(core.write(handle.index, entries.length, now));
    }
    if (wire.logTrimStarted()) this.#logTrimmed();
  }

  #logTrimmed() {
    try {
      this.#logger.warn(
        "entity-reactor: the embedded transition log reached its transitionLogBytes budget: its oldest rows are dropped " +
          "to make room (warned once until it is back under 90% of the budget)",
      );
    } catch {
      // A throwing logger never changes a write's outcome.
    }
  }

  /** @internal the pipeline of SPEC §5 for one mutate/remove. */
  async write(handle, args, remove) {
    this.#live();
    const what = remove ? "remove" : "mutate";
    const kind = handle.kind;
    if (!isObject(args)) throw badArgument(`${what}: expected { id, opts?, apply }`);
    const { id, opts, apply } = args;
    if (typeof id !== "string" || id === "")
      throw new EntityReactorError(
        ErrorCode.ER_BAD_ID,
        `${what}: kind "${kind}": id must be a non-empty string, received ${typeof id === "string" ? '""' : typeof id}`,
        { path: "id" },
      );
    checkText(id, `${what}: kind "${kind}": id`, "id");
    if (!isFunction(apply)) throw badArgument(`${what}: kind "${kind}" id "${id}": apply must be a function`, "apply");
    const { runId, actor, actorText } = opts == null ? NO_OPTIONS : optionsOf(opts, what);
    const queue = handle.queue;
    const turn = queue.enter(id);
    let applied = false;
    try {
      if (turn.wait !== null) await turn.wait;
      let core = this.#live();
      if (!this.#seeded) this.#seed(core);
      if (runId !== "") this.#checkRunId(core, handle, runId, id, "id");
      // 1. prev, strictly before apply: by token when read returned the
      // object this engine committed last for the id, else as text.
      const prev = ownState(await handle.read([id]), kind, id);
      let prevMode = PREV.NONE;
      let prevToken = 0;
      let prevText = null;
      if (prev !== undefined) {
        const known = handle.states.match(id, prev);
        if (known !== undefined) {
          prevMode = PREV.CACHED;
          prevToken = known.token;
          prevText = known.text;
        } else {
          prevMode = PREV.TEXT;
          prevText = stringify(prev, `state of ${kind} "${id}"`);
        }
      }
      // 2. the host's write
      applied = true;
      const next = await apply();
      const nextText = remove ? null : stringify(next, `state returned by apply for ${kind} "${id}"`);
      core = this.#live();
      // 3-6. validate, mask, diff, rows: one crossing.
      this.#commit1(
        core,
        handle,
        runId,
        runId !== "" ? actorText : "",
        id,
        prevMode,
        prevToken,
        prevText,
        nextText,
        this.#clock(),
      );
      const out = this.#wire.readEntry(0, handle.fields, this.#store !== null, this.#out);
      const stateText = remove ? null : (out.nextText ?? nextText);
      if (remove || out.token === 0) handle.states.forget(id);
      else handle.states.remember(id, next, out.token, stateText);
      applied = false;
      const returned = out.nextText === null ? next : JSON.parse(out.nextText);
      if (out.flags & F.CHANGED) {
        const event = this.#event(kind, id, out, out.prevText ?? prevText, stateText, actor);
        if (this.#store !== null && (out.rows.length !== 0 || this.#outbox)) {
          const transitionedAt = new Date(out.at);
          await this.#append(kind, new Map([[id, out.rows.map((r) => ({ ...r, transitionedAt }))]]), [event]);
        }
        this.#publish(event);
      }
      return remove ? undefined : returned;
    } catch (e) {
      // apply ran and the write failed: apply may have changed the prev
      // object in place, so it no longer stands for the committed state.
      if (applied) handle.states.forget(id);
      throw e;
    } finally {
      queue.leave(id, turn);
    }
  }

  // The change event, from a record read by wire.readEntry (js/src/change.js).
  #event(kind, id, out, prevText, nextText, actor) {
    const event = new ChangeEvent(
      kind,
      id,
      out.changedFields,
      out.actorText === null ? (actor ?? SYSTEM_ACTOR) : JSON.parse(out.actorText),
      out.occurredAt,
      out.changeId,
      out.maskedPrev ?? prevText,
      nextText === null ? null : (out.maskedNext ?? nextText),
    );
    if (out.derivedText !== null) ChangeEvent.setDerivation(event, out.derivedText);
    return event;
  }

  // Host store: every row of a write (or batch) in one transaction, opened
  // only when something changed. A failure leaves the host's state as
  // written and no event (SPEC §5).
  // groups: entity id -> rows { field, fromValue, toValue, transitionedAt }.
  // A store with an outbox also records the change events in the same
  // transaction (a tombstone has no rows but still a change).
  async #append(kind, groups, events) {
    try {
      await this.#store.runInTransaction(async (tx) => {
        for (const [entityId, rows] of groups) {
          const transitions = rows.map((r) => ({
            kind,
            entityId,
            field: r.field,
            fromValue: r.fromValue,
            toValue: r.toValue,
            transitionedAt: r.transitionedAt,
          }));
          await this.#store.appendTransitions({ tx, kind, entityId, transitions });
        }
        if (this.#outbox) await this.#store.appendChanges({ tx, kind, changes: events.map((e) => e.toJSON()) });
      });
    } catch (cause) {
      throw new EntityReactorError(
        ErrorCode.ER_STORE,
        `transition store append failed for kind "${kind}": ${cause?.message ?? cause}; the host's write stands, no event was emitted`,
        { cause },
      );
    }
  }

  /**
   * Batch ingest (SPEC §9): many `{ id, next }` for one kind (next null =
   * tombstone), one read, one crossing into the core, one transaction.
   * Returns the change events, in entry order.
   */
  async ingest(kind, entries, opts = {}) {
    this.#live();
    checkKind(kind, "ingest");
    checkText(kind, "ingest: kind", "kind");
    if (!Array.isArray(entries)) throw badArgument("ingest: entries must be an array of { id, next }");
    if (!isObject(opts)) throw badArgument("ingest: opts must be an object", "opts");
    const handle = this.#handles.get(kind);
    if (!handle)
      throw new EntityReactorError(ErrorCode.ER_UNKNOWN_KIND, `ingest: unknown kind "${kind}"`, { path: "kind" });
    const ids = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (!isObject(e) || typeof e.id !== "string" || e.id === "")
        throw new EntityReactorError(
          ErrorCode.ER_BAD_ID,
          `ingest: entry ${i}: expected { id: non-empty string, next }`,
          { path: `[${i}].id` },
        );
      ids[i] = checkText(e.id, `ingest: entry ${i}: id`, `[${i}].id`);
    }
    if (opts.apply !== undefined && !isFunction(opts.apply))
      throw badArgument("ingest: opts.apply must be a function", "opts.apply");
    const { runId, actor, actorText } = optionsOf({ runId: opts.runId, actor: opts.actor }, "ingest");
    if (entries.length === 0) return [];
    const queue = handle.queue;
    const turn = queue.enter(ids);
    const unique = [...new Set(ids)];
    let applied = false;
    try {
      if (turn.wait !== null) await turn.wait;
      let core = this.#live();
      if (!this.#seeded) this.#seed(core);
      if (runId !== "") for (let i = 0; i < ids.length; i++) this.#checkRunId(core, handle, runId, ids[i], `[${i}].id`);
      const found = (await handle.read(unique)) ?? {};
      if (typeof found !== "object")
        throw badArgument(
          `ingest: read for kind "${kind}" must return an object keyed by id, received ${typeof found}`,
        );
      // Each id's state as the batch proceeds: read, then each entry's next.
      const current = new Map();
      for (const id of unique) {
        const prev = Object.hasOwn(found, id) && found[id] != null ? found[id] : undefined;
        const known = prev === undefined ? undefined : handle.states.match(id, prev);
        current.set(
          id,
          prev === undefined
            ? NO_PREV
            : known !== undefined
              ? { prevMode: PREV.CACHED, prevToken: known.token, prevText: known.text }
              : { prevMode: PREV.TEXT, prevToken: 0, prevText: stringify(prev, `state of ${kind} "${id}"`) },
        );
      }
      applied = true;
      if (opts.apply) await opts.apply();
      const wireEntries = new Array(entries.length);
      for (let i = 0; i < entries.length; i++) {
        const id = ids[i];
        const next = entries[i].next;
        const nextText = next == null ? null : stringify(next, `ingest entry ${i} next`);
        const prev = current.get(id);
        wireEntries[i] = { id, prevMode: prev.prevMode, prevToken: prev.prevToken, prevText: prev.prevText, nextText };
        current.set(id, nextText === null ? NO_PREV : { prevMode: PREV.TEXT, prevToken: 0, prevText: nextText });
      }
      core = this.#live();
      this.#commitMany(core, handle, runId, runId !== "" ? actorText : "", wireEntries, this.#clock());
      const withRows = this.#store !== null;
      const last = new Map(); // id -> its last entry
      const events = [];
      const groups = new Map(); // host store: entity id -> rows
      for (let i = 0; i < entries.length; i++) {
        const out = this.#wire.readEntry(i, handle.fields, withRows, this.#out);
        const id = ids[i];
        const w = wireEntries[i];
        w.token = out.token;
        w.stateText = w.nextText === null ? null : (out.nextText ?? w.nextText);
        last.set(id, i);
        if (!(out.flags & F.CHANGED)) continue;
        events.push(this.#event(kind, id, out, out.prevText ?? w.prevText, w.stateText, actor));
        if (out.rows !== null && out.rows.length) {
          const group = groups.get(id) ?? groups.set(id, []).get(id);
          const transitionedAt = new Date(out.at);
          for (const row of out.rows) group.push({ ...row, transitionedAt });
        }
      }
      for (const [id, i] of last) {
        const w = wireEntries[i];
        const next = entries[i].next;
        if (w.nextText === null || w.token === 0 || typeof next !== "object") handle.states.forget(id);
        else handle.states.remember(id, next, w.token, w.stateText);
      }
      applied = false;
      // appendTransitions takes one entity's rows: grouped, in order.
      if (groups.size || (this.#outbox && events.length)) await this.#append(kind, groups, events);
      for (const event of events) this.#publish(event);
      return events;
    } catch (e) {
      if (applied) for (const id of unique) handle.states.forget(id);
      throw e;
    } finally {
      queue.leave(ids, turn);
    }
  }

  /** @internal handle.validate(state) */
  validate(handle, state) {
    const core = this.#live();
    const [bytes] = this.#wire.put(stringify(state, `state for ${handle.kind}`));
    this.#wire.check(core.validate(handle.index, bytes));
    return this.#wire.json();
  }

  // ------------------------------------------------------------- delivery

  // A committed change: to the emitter and in-process handlers; with a bus
  // and no outbox, published to the bus too (with an outbox the bus's relay
  // publishes it from the store).
  #publish(event) {
    this.#delivery.publish(event);
    if (this.#bus === null || this.#outbox) return;
    try {
      const r = this.#bus.publish(event);
      if (r && isFunction(r.then)) r.then(undefined, (e) => this.#error("entity-reactor: bus publish failed", e));
    } catch (e) {
      this.#error("entity-reactor: bus publish failed", e);
    }
  }

  #error(message, cause) {
    try {
      this.#logger.error(message, cause);
    } catch {
      // A throwing logger never changes a write's outcome.
    }
  }

  /** Wires the outbound emitter and flushes events buffered before it, in order. */
  wire(emit) {
    this.#live();
    if (!isFunction(emit)) throw badArgument("wire: emit must be a function", "emit");
    this.#delivery.wire(emit);
  }

  get isWired() {
    return !this.#closed && this.#delivery.isWired;
  }

  /** Subscribes a handler: in this process, or through the bus when there is one. */
  onEntityChanged(subscription) {
    this.#live();
    if (this.#bus !== null) return this.#bus.onEntityChanged(subscription);
    return this.#delivery.subscribe(subscription);
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
    checkKind(kind, "registerChangeDeriver");
    checkText(kind, "registerChangeDeriver: kind", "kind");
    if (!isFunction(derive)) throw badArgument("registerChangeDeriver: derive must be a function", "derive");
    if (toPayload !== undefined && !isFunction(toPayload))
      throw badArgument("registerChangeDeriver: toPayload must be a function", "toPayload");
    const [kindBytes] = this.#wire.put(kind);
    this.#wire.check(core.registerDeriver(kindBytes, this.#keyOf(derive), toPayload ? this.#keyOf(toPayload) : 0));
  }

  /** @internal registers the native catalog derivers (entity-reactor/catalog). */
  registerNativeCatalog() {
    this.#wire.check(this.#live().registerCatalog());
  }

  #kindValue(fn, kind) {
    const [kindBytes] = this.#wire.put(kind);
    this.#wire.check(fn(kindBytes));
    return this.#wire.value();
  }

  // The core's native derivation of a change this engine built, while it
  // still answers for the kind (no host deriver registered since).
  #nativeDerivation(change) {
    const text = ChangeEvent.derivationOf(change);
    if (text === null) return undefined;
    const core = this.#core;
    if (this.#kindValue((k) => core.allNative(k), change.kind) !== 1) return undefined;
    return JSON.parse(text);
  }

  /** Trigger event ids for a change: the union of its kind's derivers. */
  derive(change) {
    const core = this.#live();
    if (!isObject(change) || typeof change.kind !== "string") throw badArgument("derive: expected a change event");
    checkKind(change.kind, "derive: change");
    const native = this.#nativeDerivation(change);
    if (native !== undefined) return native.triggers;
    const [bytes] = this.#wire.put(stringify(change, "change"));
    this.#wire.check(
      core.derive(
        bytes,
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
        (message) => {
          try {
            this.#logger.warn(`entity-reactor: ${message}`);
          } catch {
            // A throwing logger changes nothing.
          }
        },
      ),
    );
    return this.#wire.json();
  }

  /** The kind's payload for a change, or undefined when it has no mapper. */
  payload(change) {
    const core = this.#live();
    if (!isObject(change) || typeof change.kind !== "string") throw badArgument("payload: expected a change event");
    checkKind(change.kind, "payload: change");
    const key = this.#kindValue((k) => core.mapperKey(k), change.kind);
    if (key === 0) return undefined;
    if (key === NATIVE_MAPPER) {
      const native = this.#nativeDerivation(change);
      if (native !== undefined) return native.payload;
      const [bytes] = this.#wire.put(stringify(change, "change"));
      this.#wire.check(core.nativePayload(bytes));
      return this.#wire.json();
    }
    return this.#keyFns.get(key)(change);
  }

  // ------------------------------------------------------------- reads

  /** @internal */
  async readState(handle, id) {
    this.#live();
    return readOne(handle.read, handle.kind, id);
  }

  /** @internal */
  async readMany(handle, ids) {
    this.#live();
    const found = (await handle.read(ids)) ?? {};
    if (typeof found !== "object")
      throw badArgument(`read for kind "${handle.kind}" must return an object keyed by id, received ${typeof found}`);
    const out = {};
    for (const id of ids) if (Object.hasOwn(found, id) && found[id] != null) setMember(out, id, found[id]);
    return out;
  }

  #fieldText(core, state, field) {
    const wire = this.#wire;
    wire.check(core.fieldText(...wire.put(stringify(state, "state"), field)));
    return wire.text();
  }

  /** @internal */
  async inStateSince(handle, id, field) {
    this.#live();
    if (typeof id !== "string" || typeof field !== "string")
      throw badArgument("inStateSince(id, field): both must be strings");
    checkText(id, "inStateSince: id", "id");
    checkText(field, "inStateSince: field", "field");
    const state = await readOne(handle.read, handle.kind, id);
    if (state === undefined) return null;
    const core = this.#live();
    const current = this.#fieldText(core, state, field);
    if (this.#store)
      return dateFromHost(
        await this.#store.inStateSince({ kind: handle.kind, entityId: id, field, currentValue: current }),
      );
    const wire = this.#wire;
    wire.check(core.inStateSince(handle.index, ...wire.put(id, field, current)));
    const ms = wire.value();
    return ms < 0 ? null : new Date(ms);
  }

  /** @internal */
  async transitionCount(handle, args) {
    const core = this.#live();
    if (!isObject(args)) throw badArgument("transitionCount: expected { id, field, windowMs }");
    const { id, field, windowMs } = args;
    if (typeof id !== "string" || typeof field !== "string")
      throw badArgument("transitionCount: id and field must be strings");
    checkText(id, "transitionCount: id", "id");
    checkText(field, "transitionCount: field", "field");
    if (typeof windowMs !== "number" || !(windowMs >= 0))
      throw badArgument("transitionCount: windowMs must be a non-negative number", "windowMs");
    const now = this.#clock();
    if (this.#store)
      return Number(
        await this.#store.transitionCount({ kind: handle.kind, entityId: id, field, windowMs, now: new Date(now) }),
      );
    const wire = this.#wire;
    const [idBytes, fieldBytes] = wire.put(id, field);
    wire.check(core.transitionCount(handle.index, idBytes, fieldBytes, windowMs, now));
    return wire.value();
  }

  /** @internal */
  async history(handle, id, options = {}) {
    const core = this.#live();
    if (typeof id !== "string") throw badArgument("history: id must be a string");
    checkText(id, "history: id", "id");
    if (options !== undefined && options !== null && !isObject(options))
      throw badArgument("history: options must be an object { field?, limit? }");
    const { field, limit } = options ?? {};
    if (field !== undefined && typeof field !== "string") throw badArgument("history: field must be a string", "field");
    if (field !== undefined) checkText(field, "history: field", "field");
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0))
      throw badArgument("history: limit must be a non-negative integer", "limit");
    const kind = handle.kind;
    if (this.#store) {
      const rows = await this.#store.history({ kind, entityId: id, field, limit });
      return rows.map((r) => ({ ...r, transitionedAt: dateFromHost(r.transitionedAt) }));
    }
    const wire = this.#wire;
    const [idBytes, fieldBytes] = wire.put(id, field ?? "");
    wire.check(core.history(handle.index, idBytes, field !== undefined, fieldBytes, limit ?? 0));
    return wire.json().map((r) => ({ kind, entityId: id, ...r, transitionedAt: new Date(r.transitionedAt) }));
  }

  /**
   * What the engine holds in WebAssembly memory: the prev cache, the
   * embedded transition log (bytes and rows), the entities tracked, and
   * the module's whole heap in use (shared by every engine of the module).
   */
  memory() {
    const core = this.#live();
    this.#wire.check(core.memory());
    const out = this.#wire.json();
    this.#wire.check(this.#module.heapInUse());
    out.wasmHeapBytes = this.#wire.value();
    return out;
  }

  /** @internal */
  clockNow() {
    return this.#clock();
  }

  /** Frees the native engine. Pending and later calls reject with ER_CLOSED. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    finalizer?.unregister(this);
    for (const handle of this.#handles.values()) handle.queue.close();
    this.#core.delete();
    this.#delivery.clear();
  }

  [Symbol.dispose]() {
    this.close();
  }

  /** @internal used by tests: writes that hold or wait for their turn. */
  get pendingWrites() {
    this.#live();
    let n = 0;
    for (const handle of this.#handles.values()) n += handle.queue.pending;
    return n;
  }
}

async function readOne(read, kind, id) {
  return ownState(await read([id]), kind, id);
}

// The state of `id` in what read returned, or undefined.
function ownState(found, kind, id) {
  if (found === undefined || found === null) return undefined;
  if (typeof found !== "object")
    throw badArgument(`read for kind "${kind}" must return an object keyed by id, received ${typeof found}`);
  // Own properties only: an id such as "__proto__" must not reach Object.prototype.
  if (!Object.hasOwn(found, id)) return undefined;
  const state = found[id];
  return state === null ? undefined : state;
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
