import type { AnyKinds, ChangeEvent, Delivery, EntityState, KindMap, KindName } from "../index.js";

/** The part of a node-redis client (v4, v5, v6) the bus uses. Pass the client itself; the bus duplicates it and never closes it. */
export interface RedisClientLike {
  duplicate(overrides?: Record<string, unknown>): RedisClientLike;
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  on(event: "error", listener: (error: unknown) => void): unknown;
  readonly isOpen?: boolean;
  close?(): Promise<void>;
  quit?(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
}

export interface RedisBusOptions {
  /** A node-redis client (connected or not): the template of the bus's own connections (client.duplicate()); the bus never closes it. */
  client: RedisClientLike;
  /** Stream key; default "entity-reactor:changes". All instances that share changes use the same key. */
  stream?: string;
  /** This instance's consumer name in every work-queue group; default "<hostname>-<pid>-<random>". Reuse it across restarts to pick up the instance's own pending entries first. */
  consumerName?: string;
  /** Pending entries idle longer than this are claimed (XAUTOCLAIM) from their consumer, presumed dead; checked every claimIdleMs/2. Must exceed the time a consumer takes to handle one batch. Default 30,000. */
  claimIdleMs?: number;
  /** Longest blocking read (XREAD / XREADGROUP BLOCK); close() waits at most about this long for readers. Default 2,000. */
  blockMs?: number;
  /** Entries per read. Default 100. */
  batchSize?: number;
  /** XADD MAXLEN ~ maxLen: approximate cap of the stream (entries not yet read by a group can be trimmed). Default: no cap. */
  maxLen?: number;
  logger?: { warn?(...args: unknown[]): void; error?(...args: unknown[]): void };
}

/** The bus; typed like the engine: `createRedisBus<{ order: Order }>(…)` types its subscriptions. */
export interface RedisBus<TKinds extends KindMap<TKinds> = AnyKinds> {
  readonly stream: string;
  readonly consumerName: string;
  /** Appends one committed change to the stream (XADD). Pass it to createEngine({ emit }) or engine.wire(). */
  emit(event: ChangeEvent<any>): Promise<unknown>;
  /** engine.wire(bus.emit); returns the engine. */
  attach<E extends { wire(emit: (event: any) => unknown): void }>(engine: E): E;
  /**
   * Same contract as engine.onEntityChanged, across every process sharing the stream:
   * broadcast — this instance runs the handler for every change of `kind` (its own included), in stream order;
   * work-queue — one instance per workerGroup handles each change (consumer group "<workerGroup>:<kind>"),
   * retried up to maxRetries more times on a throw, then logged and copied to "<stream>:dead"; at least once.
   */
  onEntityChanged<K extends KindName<TKinds>>(subscription: {
    kind: K;
    handler: (change: ChangeEvent<TKinds[K], K>) => unknown;
    delivery?: Delivery;
  }): () => Promise<void>;
  onEntityChanged<TState extends object = EntityState>(subscription: {
    kind: string extends keyof TKinds ? string : never;
    handler: (change: ChangeEvent<TState>) => unknown;
    delivery?: Delivery;
  }): () => Promise<void>;
  /** Resolves once the consumer groups of this bus's work-queue subscriptions exist. */
  ready(): Promise<void>;
  /** Resolves once every XADD / XACK sent so far has been answered. */
  flush(): Promise<void>;
  /** Entries this bus took over from other consumers (XAUTOCLAIM), per consumer group. */
  claimedCounts(): Record<string, number>;
  /** Flushes, stops the readers (within about blockMs) and closes the bus's connections. Idempotent. */
  close(): Promise<void>;
  /** close(): `await using bus = await createRedisBus(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Multi-process delivery (docs/semantics.md §6) over one Redis Stream (Redis >= 6.2). */
export declare function createRedisBus<TKinds extends KindMap<TKinds> = AnyKinds>(options: RedisBusOptions): Promise<RedisBus<TKinds>>;
