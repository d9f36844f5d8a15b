// Public types of entity-reactor. The engine's logic runs in WebAssembly;
// these describe what crosses into your code.
//
// They type-check in strict mode with the DOM lib, or with "lib": ["ES2022"]
// and @types/node, or with neither: nothing here needs a platform's types.
// State types come from your schema: zod's output type for a zod 4 schema
// (read structurally, zod is not a dependency), json-schema-to-ts's
// FromSchema for a JSON Schema written as a literal or `as const`.
import type { FromSchema, JSONSchema } from "json-schema-to-ts";
import { ErrorCode } from "./generated/constants.js";

export { ErrorCode };

declare global {
  // The explicit resource management symbols (TypeScript 5.2's
  // esnext.disposable lib, declared the same way by @types/node), so that
  // `using engine = await createEngine()` type-checks without that lib.
  interface SymbolConstructor {
    readonly dispose: unique symbol;
    readonly asyncDispose: unique symbol;
  }
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A state when nothing more precise is known: a JSON object. */
export type EntityState = Record<string, unknown>;

/** The top-level field names of a state type. */
export type FieldOf<TState> = keyof TState & string;

/** Who made a change. Writes that name no actor use SYSTEM_ACTOR. */
export type Actor = { type: "system" } | { type: "user"; id: string; name?: string } | { type: string; [key: string]: unknown };
export declare const SYSTEM_ACTOR: { readonly type: "system" };

/** The ENTITY_CHANGED event (docs/semantics.md §2). */
export interface ChangeEvent<TState extends object = EntityState, TKind extends string = string> {
  kind: TKind;
  id: string;
  /** State before the write; null on create. Masked when the write ran under a runId. */
  prev: TState | null;
  /** State after the write; null on removal (a tombstone). */
  next: TState | null;
  /** Changed fields only, mapped to their next value (null when the field was removed); {} for a tombstone. */
  delta: { [F in FieldOf<TState>]?: TState[F] | null };
  /** Sorted top-level field names whose values differ structurally (a tombstone: the fields of prev). */
  changedFields: FieldOf<TState>[];
  actor: Actor;
  /** ISO-8601 UTC with milliseconds. */
  occurredAt: string;
  /** A fresh UUID v4 per change: de-duplicate on it. */
  changeId: string;
}

/** One row of the transition log: a changed top-level field. Values are text. */
export interface TransitionRow {
  kind: string;
  entityId: string;
  field: string;
  /** null when there was no prev (a create). */
  fromValue: string | null;
  toValue: string;
  transitionedAt: Date;
}

export interface MutationOptions {
  actor?: Actor;
  /** Marks a run-originated write: the run's registered secrets are masked in events and rows. */
  runId?: string;
}

/** Batched read: the states of the ids that exist, keyed by id. */
export type EntityRead<TState extends object = EntityState> = (
  ids: string[],
) => Promise<Record<string, TState>> | Record<string, TState>;

// ------------------------------------------------------------------ schemas

/**
 * A zod 4 schema as these types see it: its output and input types, read
 * from the `_zod` member every zod 4 schema has (`z.output<S>` and
 * `z.input<S>`), without importing zod.
 */
export interface ZodSchemaLike<TOutput = unknown, TInput = unknown> {
  readonly _zod: { readonly output: TOutput; readonly input: TInput };
}

/** A JSON Schema describing an object, or a zod 4 object schema. */
export type StateSchema = Record<string, unknown> | { _zod: unknown; toJSONSchema?: () => unknown };

/**
 * The state type a schema describes — what `mutate` resolves to and what
 * events carry:
 * - a zod 4 schema: `z.output<typeof schema>`;
 * - a JSON Schema literal (inline in `defineEntity`, or declared `as const`):
 *   json-schema-to-ts's `FromSchema`, read with the engine's semantics —
 *   unknown keys are stripped (no index signature) unless
 *   `additionalProperties` says otherwise, properties with a `default` are
 *   always present;
 * - any other schema (a value typed `Record<string, unknown>`): EntityState.
 */
export type StateOf<TSchema> = TSchema extends { _zod: { output: infer O } }
  ? AsState<O>
  : TSchema extends JSONSchema
    ? AsState<FromSchema<Parsed<TSchema, "output">>>
    : EntityState;

/**
 * What `apply` may return for a schema: zod's input type (`z.input`), or for
 * a JSON Schema literal its state type with every property that has a
 * `default` optional (the engine fills it in).
 */
export type InputOf<TSchema> = TSchema extends { _zod: { input: infer I } }
  ? AsState<I>
  : TSchema extends JSONSchema
    ? AsState<FromSchema<Parsed<TSchema, "input">, { keepDefaultedPropertiesOptional: true }>>
    : EntityState;

type AsState<T> = [T] extends [object] ? T : EntityState;

// The schema as the engine reads it. Object schemas without
// additionalProperties strip unknown keys (zod's parse), so they are closed;
// for the input type, properties with a default leave `required`.
type Parsed<S, Mode extends "output" | "input"> = S extends readonly unknown[]
  ? ParsedEach<S, Mode>
  : S extends object
    ? ParsedObject<S, Mode>
    : S;
type ParsedEach<T, Mode extends "output" | "input"> = { [I in keyof T]: Parsed<T[I], Mode> };
type SchemaKeysWithSchemas = "items" | "prefixItems" | "additionalProperties" | "anyOf" | "oneOf" | "allOf" | "not";
type ParsedObject<S, Mode extends "output" | "input"> = {
  [K in keyof S]: K extends "properties" | "patternProperties" | "$defs" | "definitions"
    ? ParsedEach<S[K], Mode>
    : K extends SchemaKeysWithSchemas
      ? Parsed<S[K], Mode>
      : K extends "required"
        ? Mode extends "input"
          ? readonly Exclude<RequiredOf<S>, DefaultedOf<S>>[]
          : S[K]
        : S[K];
} & (S extends { type: "object" } | { properties: object }
  ? "additionalProperties" extends keyof S
    ? unknown
    : { readonly additionalProperties: false }
  : unknown);
type RequiredOf<S> = S extends { required: readonly (infer R)[] } ? R : never;
type DefaultedOf<S> = S extends { properties: infer P }
  ? { [K in keyof P]: P[K] extends { default: unknown } ? K : never }[keyof P]
  : never;

// ------------------------------------------------------------------ kinds

export interface EntityDefinition<TState extends object = EntityState> {
  kind: string;
  state: StateSchema;
  read: EntityRead<TState>;
  /** Reject unknown keys instead of stripping them (zod's .strict()). */
  strict?: boolean;
}

export declare class EntityHandle<TState extends object = EntityState, TInput = TState, TKind extends string = string> {
  readonly kind: TKind;
  /**
   * read prev → apply → validate → (mask) → diff → transition rows → event.
   * Resolves to the validated state (unknown keys stripped, defaults filled).
   * Validation runs on what apply returned, after your write: to reject a
   * bad state before writing your own data, check it with validate() first.
   */
  mutate(args: { id: string; opts?: MutationOptions; apply: () => Promise<TInput> | TInput }): Promise<TState>;
  /** Same pipeline with next = null. Removing an id that read does not return is a no-op. */
  remove(args: { id: string; opts?: MutationOptions; apply: () => Promise<unknown> | unknown }): Promise<void>;
  /**
   * Validates a state against the kind's schema without writing anything:
   * the same check mutate runs on apply's result (zod's parse semantics,
   * the kind's strict option). Returns the normalised state — unknown keys
   * stripped, defaults filled — or throws an EntityReactorError: ER_SCHEMA
   * with `path` naming the first bad field; a value that is not a JSON
   * object, nests too deep or holds a lone surrogate gets the code mutate
   * would give it. Synchronous; calls no read, emits nothing.
   */
  validate(state: unknown): TState;
  /** The state read returns for id, or undefined when read does not return it. */
  get(id: string): Promise<TState | undefined>;
  /** The found ids only, as own properties (an id such as "__proto__" included). */
  getMany(ids: string[]): Promise<Record<string, TState>>;
  /** When the field's current value was last entered, or null. */
  inStateSince(id: string, field: FieldOf<TState>): Promise<Date | null>;
  /** now − inStateSince, never negative; 0 when unknown. */
  inStateForMs(id: string, field: FieldOf<TState>): Promise<number>;
  /** Transition rows of the field with transitionedAt ≥ now − windowMs. */
  transitionCount(args: { id: string; field: FieldOf<TState>; windowMs: number }): Promise<number>;
  /** The transition log of an entity, newest first. */
  history(id: string, options?: { field?: FieldOf<TState>; limit?: number }): Promise<TransitionRow[]>;
}

/**
 * A map of kind names to state types, e.g. `{ todo: Todo }`. Passed to
 * `createEngine<…>()`, it types every call that takes a kind: only these
 * kinds are accepted, and handlers, derivers and ingest see their states.
 */
export type KindMap<TKinds = Record<string, object>> = { [K in keyof TKinds]: object };

/** The kind map of an engine created without one: any kind, states are EntityState. */
export type AnyKinds = Record<string, EntityState>;

/** A kind name an engine accepts: any string, or the keys of its kind map. */
export type KindName<TKinds> = string extends keyof TKinds ? string : keyof TKinds & string;

// The kind of the overloads that name their state type per call
// (`onEntityChanged<Todo>(…)`): any string without a kind map, none with one.
type OpenKind<TKinds> = string extends keyof TKinds ? string : never;

/** The change events of an engine: for a kind map, a union discriminated on `kind`. */
export type ChangeOf<TKinds> = string extends keyof TKinds
  ? ChangeEvent
  : { [K in keyof TKinds & string]: ChangeEvent<Extract<TKinds[K], object>, K> }[keyof TKinds & string];

type StateFor<TKinds, K extends string, S> = string extends keyof TKinds
  ? StateOf<S>
  : K extends keyof TKinds
    ? Extract<TKinds[K], object>
    : never;
type InputFor<TKinds, K extends string, S> = string extends keyof TKinds
  ? InputOf<S>
  : S extends { _zod: { input: infer I } }
    ? AsState<I>
    : StateFor<TKinds, K, S>;

// ------------------------------------------------------------------ stores and options

/** A host transition store (SQL table, IndexedDB...). Any method may be async. */
export interface TransitionStore<TTx = unknown> {
  runInTransaction<T>(fn: (tx: TTx) => Promise<T>): Promise<T | void> | T | void;
  appendTransitions(args: { tx: TTx; kind: string; entityId: string; transitions: TransitionRow[] }): Promise<void> | void;
  inStateSince(args: { kind: string; entityId: string; field: string; currentValue: string }): Promise<Date | number | string | null> | Date | number | string | null;
  transitionCount(args: { kind: string; entityId: string; field: string; windowMs: number; now: Date }): Promise<number> | number;
  history(args: { kind: string; entityId: string; field?: string; limit?: number }): Promise<TransitionRow[]> | TransitionRow[];
  /** true: the engine passes each change event to appendChanges in the transaction of its rows (a transactional outbox). */
  readonly outbox?: boolean;
  appendChanges?(args: { tx: TTx; kind: string; changes: object[] }): Promise<void> | void;
}

export interface Logger {
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

// Instances of a global class when the program's libs declare it (the DOM
// lib, @types/node, workers types), never otherwise: these types need none.
type GlobalInstance<TName extends string> = typeof globalThis extends { [K in TName]: abstract new (...args: any) => infer I }
  ? I
  : never;

/** A compiled WebAssembly.Module (needs a lib that declares WebAssembly, such as the DOM lib or workers types). */
export type WasmModule = typeof globalThis extends { WebAssembly: { Module: abstract new (...args: any) => infer M } } ? M : never;

/** Where the .wasm comes from: a WebAssembly.Module (edge workers), its bytes, a URL or a fetch Response. */
export type WasmSource = WasmModule | ArrayBuffer | ArrayBufferView | GlobalInstance<"URL"> | string | GlobalInstance<"Response">;

export interface EngineOptions<TKinds = AnyKinds> {
  /** Host transition store; default: the embedded in-memory store. */
  transitions?: TransitionStore<any> | null;
  /**
   * Outbound emitter for every change. Omitted: events are kept in a
   * bounded buffer (bufferLimit) until wire(); see wire().
   */
  emit?: ((event: ChangeOf<TKinds>) => unknown) | null;
  /** Events kept before wire(); beyond it the oldest are dropped (one warning per overflow episode). Default 10,000. */
  bufferLimit?: number;
  /** Clock in epoch milliseconds for occurredAt and transitionedAt. Default Date.now. */
  now?: () => number;
  logger?: Logger;
  /** The .wasm: a WebAssembly.Module (edge workers), bytes, or a URL. Default: the packaged file, never the network. */
  wasm?: WasmSource;
  /** Embedded store only: keep at most this many rows per entity (0 = all). */
  retentionPerEntity?: number;
  /**
   * Embedded store only: bytes of transition rows kept in all (0 = no
   * bound). Beyond it the oldest rows go first, whatever their entity, with
   * one warning per episode. Default 64 MiB. A row takes 32 bytes plus its
   * field name and texts, rounded up to 8.
   */
  transitionLogBytes?: number;
  /**
   * Budget of the prev cache: the states this engine committed last, kept
   * so the next write's prev needs no serialising or parsing. Counted once
   * in WebAssembly memory and once in JavaScript. 0 disables it; a state
   * not cached is only slower to write. Default 16 MiB.
   */
  stateCacheBytes?: number;
  /**
   * Bytes of WebAssembly heap the engine's writes may use in all (default:
   * what the heap can grow to). A write that would need more first gives up
   * the prev cache, then fails with ER_OUT_OF_MEMORY, with nothing written.
   */
  memoryLimit?: number;
  /**
   * Delivery across processes (e.g. entity-reactor/bus/redis): committed
   * changes are published to it, and onEntityChanged subscribes through it.
   */
  bus?: EngineBus | null;
}

/** What createEngine({ bus }) needs of a bus. */
export interface EngineBus {
  publish(event: ChangeEvent<any>): unknown;
  onEntityChanged(subscription: any): () => Promise<void>;
  attachEngine?(engine: { store: TransitionStore<any> | null; logger: Logger }): void;
}

/** What an engine holds in WebAssembly memory (engine.memory()). */
export interface EngineMemory {
  /** The prev cache (its JavaScript copy is about as large). */
  stateCacheBytes: number;
  /** Entities whose state the prev cache holds. */
  cachedEntities: number;
  /** The embedded transition log. */
  transitionLogBytes: number;
  transitionLogRows: number;
  /** Entities with a cached state or rows. */
  entities: number;
  /** The module's whole heap in use (every engine of the module). */
  wasmHeapBytes: number;
}

export type Delivery =
  | { mode: "broadcast" }
  | { mode: "work-queue"; workerGroup: string; maxRetries?: number };

export type ChangeDeriver<TState extends object = EntityState, TKind extends string = string> = (change: ChangeEvent<TState, TKind>) => string[];
export type ChangePayloadMapper<TState extends object = EntityState, TKind extends string = string> = (change: ChangeEvent<TState, TKind>) => unknown;

export type NonReactiveReason = "raw-sample" | "sensitive" | "externally-owned" | "bookkeeping";
export interface NonReactiveDeclaration {
  table: string;
  reason: NonReactiveReason;
  note: string;
}

/** Run-secret masking (docs/semantics.md §7): registered values become "****". */
export interface SecretMasker {
  register(runId: string, values: string[]): void;
  linkStep(stepId: string, runId: string): void;
  maskText(runId: string, text: string): string;
  maskDeep<T>(runId: string, value: T): T;
  maskTextForStep(stepId: string, text: string): string;
  maskDeepForStep<T>(stepId: string, value: T): T;
  /** Forgets the run's secrets and its step links. */
  drop(runId: string): void;
}

export interface IngestEntry<TState extends object = EntityState> {
  id: string;
  /** null: a tombstone. */
  next: TState | null;
}

/** ingest's options: the write's actor and runId, and one optional apply run once for the whole batch. */
export type IngestOptions = MutationOptions & { apply?: () => Promise<unknown> | unknown };

// ------------------------------------------------------------------ the engine

export interface Engine<TKinds extends KindMap<TKinds> = AnyKinds> {
  /**
   * Declares a kind and returns its handle. The state type comes from the
   * schema (a zod 4 schema, or a JSON Schema literal) — or, when the engine
   * has a kind map, from the map.
   */
  defineEntity<K extends KindName<TKinds>, const S extends StateSchema>(definition: {
    kind: K;
    state: S;
    read: EntityRead<StateFor<TKinds, K, S>>;
    /** Reject unknown keys instead of stripping them (zod's .strict()). */
    strict?: boolean;
  }): EntityHandle<StateFor<TKinds, K, S>, InputFor<TKinds, K, S>, K>;
  /** Declares a kind whose state type you name: `defineEntity<Todo>({ … })`. */
  defineEntity<TState extends object = EntityState>(definition: EntityDefinition<TState> & { kind: OpenKind<TKinds> }): EntityHandle<TState>;
  /** The kinds defined so far, sorted. */
  kinds(): string[];
  /**
   * Subscribes to the changes of a kind, in-process; returns the function
   * that unsubscribes (idempotent, async). A handler that throws or rejects
   * is logged with logger.error (work-queue delivery first retries it up to
   * maxRetries times); it never fails the write or the other handlers.
   */
  onEntityChanged<K extends KindName<TKinds>>(subscription: {
    kind: K;
    handler: (change: ChangeEvent<TKinds[K], K>) => unknown;
    delivery?: Delivery;
  }): () => Promise<void>;
  onEntityChanged<TState extends object = EntityState>(subscription: {
    kind: OpenKind<TKinds>;
    handler: (change: ChangeEvent<TState>) => unknown;
    delivery?: Delivery;
  }): () => Promise<void>;
  /** Adds trigger-event derivation (and at most one payload mapper) for a kind. */
  registerChangeDeriver<K extends KindName<TKinds>>(registration: {
    kind: K;
    derive: ChangeDeriver<TKinds[K], K>;
    toPayload?: ChangePayloadMapper<TKinds[K], K>;
  }): void;
  registerChangeDeriver<TState extends object = EntityState>(registration: {
    kind: OpenKind<TKinds>;
    derive: ChangeDeriver<TState>;
    toPayload?: ChangePayloadMapper<TState>;
  }): void;
  /** Trigger event ids for a change: the union of its kind's derivers. */
  derive(change: ChangeEvent<any>): string[];
  /** The kind's payload for a change, or undefined without a mapper. */
  payload(change: ChangeEvent<any>): unknown;
  /**
   * Wires the outbound emitter and flushes, in order, the events buffered
   * before it. The buffer exists only while no emitter is wired: at most
   * bufferLimit events, the oldest dropped first, one warning per overflow
   * episode.
   */
  wire(emit: (event: ChangeOf<TKinds>) => unknown): void;
  readonly isWired: boolean;
  readonly secrets: SecretMasker;
  declareNonReactiveState(declaration: NonReactiveDeclaration): void;
  nonReactiveDeclarations(): NonReactiveDeclaration[];
  /** What the engine holds in WebAssembly memory. */
  memory(): EngineMemory;
  /**
   * Batch ingest (docs/semantics.md §9) of states the host has already
   * written: one read of all ids, one crossing, one transaction; events and
   * rows as for mutate. It calls no per-entry apply — opts.apply, if given,
   * runs once after the read. Returns the changes in entry order.
   */
  ingest<K extends KindName<TKinds>>(kind: K, entries: IngestEntry<TKinds[K]>[], opts?: IngestOptions): Promise<ChangeEvent<TKinds[K], K>[]>;
  ingest<TState extends object = EntityState>(kind: OpenKind<TKinds>, entries: IngestEntry<TState>[], opts?: IngestOptions): Promise<ChangeEvent<TState>[]>;
  /** Frees the native engine; later calls throw ER_CLOSED. */
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * Creates an engine; resolves once the WebAssembly module is ready (loaded
 * once per process, from the package, never from the network).
 * `createEngine<{ todo: Todo }>()` types the engine's kinds.
 */
export declare function createEngine<TKinds extends KindMap<TKinds> = AnyKinds>(options?: EngineOptions<TKinds>): Promise<Engine<TKinds>>;

/** With no handle, runs apply alone and resolves to its result; otherwise routes through handle.mutate. */
export declare function withEntityWrite<TState extends object, TInput = TState>(args: {
  handle: EntityHandle<TState, TInput, string> | undefined | null;
  id: string;
  opts?: MutationOptions;
  apply: () => Promise<TInput> | TInput;
}): Promise<TState | TInput>;

/** With no handle, runs apply alone; otherwise routes through handle.remove. */
export declare function withEntityRemove(args: {
  handle: EntityHandle<any, any, string> | undefined | null;
  id: string;
  opts?: MutationOptions;
  apply: () => Promise<unknown> | unknown;
}): Promise<void>;

/** Every error the engine throws. */
export declare class EntityReactorError extends Error {
  readonly code: ErrorCode;
  /** The bad field, e.g. "metadata.tags[2]", where there is one. */
  readonly path?: string;
}
