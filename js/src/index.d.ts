// Public types of entity-reactor. The engine's logic runs in WebAssembly;
// these describe what crosses into your code.
import { ErrorCode } from "./generated/constants.js";

export { ErrorCode };

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type EntityState = Record<string, unknown>;

/** Who made a change. Writes that name no actor use SYSTEM_ACTOR. */
export type Actor = { type: "system" } | { type: "user"; id: string; name?: string } | { type: string; [key: string]: unknown };
export declare const SYSTEM_ACTOR: { readonly type: "system" };

/** The ENTITY_CHANGED event (SPEC §2). */
export interface ChangeEvent<TState extends EntityState = EntityState> {
  kind: string;
  id: string;
  /** State before the write; null on create. Masked when the write ran under a runId. */
  prev: TState | null;
  /** State after the write; null on removal (a tombstone). */
  next: TState | null;
  /** Changed fields only, mapped to their next value (null when removed); {} for a tombstone. */
  delta: Partial<Record<keyof TState & string, unknown>> & Record<string, unknown>;
  /** Sorted top-level field names whose values differ structurally. */
  changedFields: string[];
  actor: Actor;
  /** ISO-8601 UTC with milliseconds. */
  occurredAt: string;
  /** A fresh UUID v4 per change. */
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
export type EntityRead<TState extends EntityState = EntityState> = (
  ids: string[],
) => Promise<Record<string, TState>> | Record<string, TState>;

/** A JSON Schema describing an object, or a zod 4 object schema. */
export type StateSchema = Record<string, unknown> | { _zod: unknown; toJSONSchema?: () => unknown };

export interface EntityDefinition<TState extends EntityState = EntityState> {
  kind: string;
  state: StateSchema;
  read: EntityRead<TState>;
  /** Reject unknown keys instead of stripping them (zod's .strict()). */
  strict?: boolean;
}

export declare class EntityHandle<TState extends EntityState = EntityState> {
  readonly kind: string;
  /** snapshot prev → apply → validate → (mask) → diff → transition rows → event. Resolves to the validated state. */
  mutate(args: { id: string; opts?: MutationOptions; apply: () => Promise<TState> | TState }): Promise<TState>;
  /** Same pipeline with next = null. Removing an id that read does not return is a no-op. */
  remove(args: { id: string; opts?: MutationOptions; apply: () => Promise<unknown> | unknown }): Promise<void>;
  get(id: string): Promise<TState | null>;
  getMany(ids: string[]): Promise<Record<string, TState>>;
  /** When the field's current value was last entered, or null. */
  inStateSince(id: string, field: keyof TState & string): Promise<Date | null>;
  /** now − inStateSince, never negative; 0 when unknown. */
  inStateForMs(id: string, field: keyof TState & string): Promise<number>;
  transitionCount(args: { id: string; field: keyof TState & string; windowMs: number }): Promise<number>;
  /** The transition log of an entity, newest first. */
  history(id: string, options?: { field?: keyof TState & string; limit?: number }): Promise<TransitionRow[]>;
}

/** A host transition store (SQL table, IndexedDB...). Any method may be async. */
export interface TransitionStore<TTx = unknown> {
  runInTransaction<T>(fn: (tx: TTx) => Promise<T>): Promise<T | void> | T | void;
  appendTransitions(args: { tx: TTx; kind: string; entityId: string; transitions: TransitionRow[] }): Promise<void> | void;
  inStateSince(args: { kind: string; entityId: string; field: string; currentValue: string }): Promise<Date | number | string | null> | Date | number | string | null;
  transitionCount(args: { kind: string; entityId: string; field: string; windowMs: number; now: Date }): Promise<number> | number;
  history(args: { kind: string; entityId: string; field?: string; limit?: number }): Promise<TransitionRow[]> | TransitionRow[];
}

export interface Logger {
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface EngineOptions {
  /** Host transition store; default: the embedded in-memory store. */
  transitions?: TransitionStore<any> | null;
  /** Outbound emitter. Omitted: events are buffered (bufferLimit) until wire(). */
  emit?: ((event: ChangeEvent) => unknown) | null;
  /** Events kept before wire(); the oldest is dropped with a warning. Default 10,000. */
  bufferLimit?: number;
  /** Clock in epoch milliseconds for occurredAt and transitionedAt. Default Date.now. */
  now?: () => number;
  logger?: Logger;
  /** The .wasm: a WebAssembly.Module (edge workers), bytes, or a URL. Default: the packaged file. */
  wasm?: WebAssembly.Module | ArrayBuffer | ArrayBufferView | URL | string | Response;
  /** Embedded store only: keep at most this many rows per entity (0 = all). */
  retentionPerEntity?: number;
}

export type Delivery =
  | { mode: "broadcast" }
  | { mode: "work-queue"; workerGroup: string; maxRetries?: number };

export type ChangeDeriver<TState extends EntityState = EntityState> = (change: ChangeEvent<TState>) => string[];
export type ChangePayloadMapper<TState extends EntityState = EntityState> = (change: ChangeEvent<TState>) => unknown;

export type NonReactiveReason = "raw-sample" | "sensitive" | "externally-owned" | "bookkeeping";
export interface NonReactiveDeclaration {
  table: string;
  reason: NonReactiveReason;
  note: string;
}

/** Run-secret masking (SPEC §7): registered values become "****". */
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

export interface IngestEntry<TState extends EntityState = EntityState> {
  id: string;
  /** null: a tombstone. */
  next: TState | null;
}

export interface Engine {
  defineEntity<TState extends EntityState = EntityState>(definition: EntityDefinition<TState>): EntityHandle<TState>;
  kinds(): string[];
  /** Subscribe to changes of a kind; resolves the returned function to unsubscribe (idempotent). */
  onEntityChanged<TState extends EntityState = EntityState>(subscription: {
    kind: string;
    handler: (change: ChangeEvent<TState>) => unknown;
    delivery?: Delivery;
  }): () => Promise<void>;
  registerChangeDeriver<TState extends EntityState = EntityState>(registration: {
    kind: string;
    derive: ChangeDeriver<TState>;
    toPayload?: ChangePayloadMapper<TState>;
  }): void;
  /** Trigger event ids for a change: the union of its kind's derivers. */
  derive(change: ChangeEvent): string[];
  /** The kind's payload for a change, or undefined without a mapper. */
  payload(change: ChangeEvent): unknown;
  /** Wire the outbound emitter; flushes buffered events in order. */
  wire(emit: (event: ChangeEvent) => unknown): void;
  readonly isWired: boolean;
  readonly secrets: SecretMasker;
  declareNonReactiveState(declaration: NonReactiveDeclaration): void;
  nonReactiveDeclarations(): NonReactiveDeclaration[];
  /** Batch ingest (SPEC §9): one read, one crossing, one transaction. Returns the changes in entry order. */
  ingest<TState extends EntityState = EntityState>(
    kind: string,
    entries: IngestEntry<TState>[],
    opts?: MutationOptions & { apply?: () => Promise<unknown> | unknown },
  ): Promise<ChangeEvent<TState>[]>;
  /** Frees the native engine; later calls throw ER_CLOSED. */
  close(): void;
  [Symbol.dispose](): void;
}

export declare function createEngine(options?: EngineOptions): Promise<Engine>;

export declare function withEntityWrite<TState extends EntityState>(args: {
  handle: EntityHandle<TState> | undefined | null;
  id: string;
  opts?: MutationOptions;
  apply: () => Promise<TState> | TState;
}): Promise<TState>;

export declare function withEntityRemove(args: {
  handle: EntityHandle<any> | undefined | null;
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
