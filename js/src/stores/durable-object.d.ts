import type { TransitionRow, TransitionStore } from "../index.js";

/** A cursor of `ctx.storage.sql.exec` (the part this store uses). */
export interface DurableObjectSqlCursor {
  toArray(): Record<string, any>[];
}

/**
 * The part of a Durable Object's `ctx.storage` this store uses (structural:
 * @cloudflare/workers-types' DurableObjectStorage fits). The class must be
 * SQLite-backed: `new_sqlite_classes` in its wrangler migration.
 */
export interface DurableObjectSqlStorageLike {
  sql: { exec(query: string, ...bindings: any[]): DurableObjectSqlCursor };
  transactionSync<T>(fn: () => T): T;
}

export interface DurableObjectTransitionStoreOptions {
  /**
   * Name of the transition table; default "entity_transitions". An SQL
   * identifier. The store also uses `<table>_entities`.
   */
  table?: string;
  /**
   * Keep at most this many rows per entity: its newest, as history() orders
   * them; older ones are deleted in the transaction that appends newer
   * ones. 0 (the default) keeps every row.
   */
  retentionPerEntity?: number;
  /**
   * Record every committed change event in an outbox table, in the same
   * transaction as its rows (tombstones too), for a relay to publish with
   * relayOutbox() — the SQLite and PostgreSQL stores' outbox contract. Default false.
   */
  outbox?: boolean;
  /** The outbox table; default "<table>_outbox" (its relay lease lives in "<outboxTable>_lease"). */
  outboxTable?: string;
}

/** The handle runInTransaction passes to fn: what it stages for its one transactionSync. */
export interface DurableObjectTransitionTx {
  readonly rows: readonly TransitionRow[];
  /** Outbox entries staged by appendChanges. */
  readonly changes: readonly unknown[];
  readonly open: boolean;
}

/** A committed change as the outbox hands it to a relay (the SQLite and PostgreSQL stores' shape). */
export interface DurableObjectOutboxChange {
  /** Commit order within the outbox. */
  readonly seq: number;
  readonly changeId: string;
  readonly kind: string;
  /** The entity id. */
  readonly id: string;
  /** The change event as JSON (ChangeEvent#toJSON()). */
  readonly event: string;
}

/** What one relay step did: `locked` when another relay holds the outbox; else how many changes it read and how many were published. */
export interface DurableObjectOutboxRelayStep {
  readonly locked: boolean;
  readonly count: number;
  readonly published: number;
}

/** The outbox side of a store created with { outbox: true }: what createEngine and a relay call (the contract of the SQL stores' outboxes). */
export interface DurableObjectTransitionOutbox {
  readonly outbox: true;
  readonly outboxTable: string;
  /** The engine's call, inside runInTransaction: the change events of the transaction (plain objects, commit order). */
  appendChanges(args: { tx: DurableObjectTransitionTx; kind: string; changes: object[] }): Promise<void>;
  /**
   * One relay step: if no other relay holds the outbox, reads up to `limit` (default 100) unpublished changes
   * in commit order and awaits publish(changes), which resolves to how many of them (a prefix) were
   * published; those are marked published (a rejection marks none). The lease lasts `leaseMs` (default 10 s).
   */
  relayOutbox(
    args: { owner: string; limit?: number; leaseMs?: number },
    publish: (changes: DurableObjectOutboxChange[]) => Promise<number>,
  ): Promise<DurableObjectOutboxRelayStep>;
  /** Gives up `owner`'s hold on the outbox, so another relay may take over at once. */
  releaseOutbox(args: { owner: string }): Promise<void>;
  /** Deletes published changes published before `before`; resolves to how many. */
  pruneOutbox(args: { before: Date }): Promise<number>;
  /** How many committed changes are not yet published. */
  outboxBacklog(): Promise<number>;
  /** listener() runs after each commit that recorded changes; returns an unsubscribe. */
  watchOutbox(listener: () => void): () => void;
}

export interface DurableObjectTransitionStore extends TransitionStore<DurableObjectTransitionTx> {
  readonly table: string;
  readonly retentionPerEntity: number;
  /** True when created with { outbox: true }. */
  readonly outbox: boolean;
  /** The outbox table, or null without an outbox. */
  readonly outboxTable: string | null;
  /** Creates the tables and indexes now; otherwise they are created on first use. */
  ready(): Promise<void>;
  /**
   * Runs fn(tx); the rows (and changes) appended through tx are written in ONE
   * ctx.storage.transactionSync once fn resolves — none if fn throws, none if
   * a statement fails. Retention is applied in the same transaction.
   */
  runInTransaction<T>(fn: (tx: DurableObjectTransitionTx) => Promise<T>): Promise<T>;
  /** Stages rows in tx; without a tx, writes them at once in a transaction of their own. */
  appendTransitions(args: { tx?: DurableObjectTransitionTx | null; kind: string; entityId: string; transitions: TransitionRow[] }): Promise<void>;
  /** transitionedAt of the newest row of `field` whose toValue is currentValue, or null (one index lookup). */
  inStateSince(args: { kind: string; entityId: string; field: string; currentValue: string }): Promise<Date | null>;
  /** Rows of `field` with transitionedAt >= now - windowMs. */
  transitionCount(args: { kind: string; entityId: string; field: string; windowMs: number; now: Date }): Promise<number>;
  /** Newest first (transitionedAt, then append order); only `field`'s rows when given; at most `limit` rows (0 or absent: all). */
  history(args: { kind: string; entityId: string; field?: string; limit?: number }): Promise<TransitionRow[]>;
}


/**
 * A TransitionStore in a SQLite-backed Durable Object's own database. Pass
 * `ctx.storage` (or `ctx`). Tables `<table>_entities` and `<table>` (WITHOUT
 * ROWID, keyed by entity and time) with indexes for transitionCount,
 * history({ field }) and inStateSince are created on first use.
 */
export declare function createDurableObjectTransitionStore(
  storage: DurableObjectSqlStorageLike | { storage: DurableObjectSqlStorageLike },
  options: DurableObjectTransitionStoreOptions & { outbox: true },
): DurableObjectTransitionStore & DurableObjectTransitionOutbox;
export declare function createDurableObjectTransitionStore(
  storage: DurableObjectSqlStorageLike | { storage: DurableObjectSqlStorageLike },
  options?: DurableObjectTransitionStoreOptions,
): DurableObjectTransitionStore;
