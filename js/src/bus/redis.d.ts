import type { AnyKinds, ChangeEvent, Delivery, EntityState, KindMap, KindName } from "../index.js";
import type { OutboxChange, OutboxRelayStep } from "../stores/sqlite.js";

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
  /** How long a work-queue group remembers a handled changeId (the key "<stream>:dedupe:<group>:<changeId>"), so a copy of the change is acknowledged without running the handler. Default 3,600,000 (1 h). */
  dedupeTtlMs?: number;
  /** How many recent changeIds each bus remembers to run broadcast handlers once per change. Default 10,000. */
  dedupeWindow?: number;
  /** Outbox relay: how often it looks for changes it was not told about (other processes, restarts). Default 500. */
  relayPollMs?: number;
  /** Outbox relay: lease of a store that needs one (SQLite), renewed at every step. Default 10,000. */
  relayLeaseMs?: number;
  /** Outbox relay: backoff after a failure, doubling from retryMinMs to retryMaxMs (with jitter). Defaults 100 and 5,000. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Outbox relay: how long a batch's XADDs may take before the step counts as failed. Default 10,000. */
  publishTimeoutMs?: number;
  /** Outbox relay: published changes are deleted from the store once older than this. Default 86,400,000 (24 h). */
  outboxRetentionMs?: number;
  /** Default: the engine's logger when the bus is passed to createEngine, else console. */
  logger?: { warn?(...args: unknown[]): void; error?(...args: unknown[]): void };
}

/** The part of a transition store the bus's relay uses: a store created with { outbox: true }. */
export interface RelayableStore {
  readonly outbox: true;
  relayOutbox(args: { owner: string; limit?: number; leaseMs?: number }, publish: (changes: OutboxChange[]) => Promise<number>): Promise<OutboxRelayStep>;
  releaseOutbox?(args: { owner: string }): Promise<void>;
  pruneOutbox?(args: { before: Date }): Promise<number>;
  watchOutbox?(listener: () => void): () => void;
}

export interface RedisBusStats {
  /** Outbox relay: changes published, batches, failed steps, steps that found another relay publishing, relays running. */
  relay: { published: number; batches: number; failures: number; locked: number; relays: number };
  /** Changes run through this bus's broadcast handlers, and copies skipped. */
  broadcast: { delivered: number; duplicates: number };
  /** Per consumer group "<workerGroup>:<kind>": changes handled here, copies acknowledged without the handler, entries claimed, dead-lettered, handled but not yet marked (Redis away). */
  groups: Record<string, { handled: number; duplicates: number; claimed: number; dead: number; unmarked: number }>;
}

/** The bus; typed like the engine: `createRedisBus<{ order: Order }>(…)` types its subscriptions. */
export interface RedisBus<TKinds extends KindMap<TKinds> = AnyKinds> {
  readonly stream: string;
  readonly consumerName: string;
  /** Appends one committed change to the stream (XADD): what createEngine({ bus }) calls after each commit when the store has no outbox. At most once: a failure is the caller's to log. */
  publish(event: ChangeEvent<any>): Promise<unknown>;
  /** The former name of publish. */
  emit(event: ChangeEvent<any>): Promise<unknown>;
  /**
   * Called once by createEngine({ bus }): a store with an outbox gets a relay that publishes its committed
   * changes (at least once, in commit order, resuming after outages and restarts). May be called directly
   * to run a relay for a store in a process without an engine.
   */
  attachEngine(args: { store?: RelayableStore | object | null; logger?: { warn(...args: unknown[]): void; error(...args: unknown[]): void } }): void;
  /** Compatibility: engine.wire(bus.publish); returns the engine. New code passes the bus to createEngine({ bus }) instead (required with an outbox store). */
  attach<E extends { wire(emit: (event: any) => unknown): void }>(engine: E): E;
  /**
   * Same contract as engine.onEntityChanged, across every process sharing the stream:
   * broadcast — this instance runs the handler for every change of `kind` (its own included), in stream order;
   * work-queue — one instance per workerGroup handles each change (consumer group "<workerGroup>:<kind>"),
   * retried up to maxRetries more times on a throw, then logged and copied to "<stream>:dead"; once per group
   * by changeId (a copy of a handled change is acknowledged without running the handler), save a process
   * killed between its handler's return and the "done" mark reaching Redis.
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
  /** Counters of the relay, broadcast and work-queue delivery of this bus. */
  stats(): RedisBusStats;
  /** Publishes what the outbox holds (while Redis answers; bounded by about blockMs), flushes, stops the readers and closes the bus's connections. Idempotent. */
  close(): Promise<void>;
  /** close(): `await using bus = await createRedisBus(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Multi-process delivery (docs/semantics.md §6) over one Redis Stream (Redis >= 6.2). */
export declare function createRedisBus<TKinds extends KindMap<TKinds> = AnyKinds>(options: RedisBusOptions): Promise<RedisBus<TKinds>>;
