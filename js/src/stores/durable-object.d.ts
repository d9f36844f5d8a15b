import type { ChangeEvent, TransitionRow, TransitionStore } from "../index.js";

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
   * identifier. The store also uses `<table>_entities`, and with `outbox`
   * `<table>_outbox`.
   */
  table?: string;
  /**
   * Keep at most this many rows per entity: its newest, as history() orders
   * them; older ones are deleted in the transaction that appends newer
   * ones. 0 (the default) keeps every row.
   */
  retentionPerEntity?: number;
  /**
   * Record every committed change event in `<table>_outbox`, in the same
   * transaction as its rows (tombstones too), for a relay to publish:
   * pendingChanges() then ackChanges(). Default false.
   */
  outbox?: boolean;
}

/** The handle runInTransaction passes to fn: what it stages for its one transactionSync. */
export interface DurableObjectTransitionTx {
  readonly rows: readonly TransitionRow[];
  readonly changes: readonly unknown[];
  readonly open: boolean;
}

/** A change event recorded in the outbox: its sequence number and the event as plain JSON (ChangeEvent#toJSON()). */
export interface OutboxEntry {
  seq: number;
  change: ChangeEvent;
}

export interface DurableObjectTransitionStore extends TransitionStore<DurableObjectTransitionTx> {
  readonly table: string;
  readonly retentionPerEntity: number;
  readonly outbox: boolean;
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
  /** With `outbox: true`: stages change events in tx (the engine calls this); without a tx, writes them at once. */
  appendChanges?(args: { tx?: DurableObjectTransitionTx | null; kind?: string; changes: unknown[] }): Promise<void>;
  /** With `outbox: true`: recorded changes with seq > after (default 0), oldest first, at most limit (default 100). */
  pendingChanges?(options?: { after?: number; limit?: number }): Promise<OutboxEntry[]>;
  /** With `outbox: true`: deletes the recorded changes up to and including seq; resolves to how many. */
  ackChanges?(seq: number): Promise<number>;
  /** With `outbox: true`: how many changes the outbox holds. */
  outboxSize?(): Promise<number>;
}

/** A store whose outbox methods are present (created with `outbox: true`). */
export type DurableObjectTransitionStoreWithOutbox = DurableObjectTransitionStore &
  Required<Pick<DurableObjectTransitionStore, "appendChanges" | "pendingChanges" | "ackChanges" | "outboxSize">> & { readonly outbox: true };

/**
 * A TransitionStore in a SQLite-backed Durable Object's own database. Pass
 * `ctx.storage` (or `ctx`). Tables `<table>_entities` and `<table>` (WITHOUT
 * ROWID, keyed by entity and time) with indexes for transitionCount,
 * history({ field }) and inStateSince are created on first use.
 */
export declare function createDurableObjectTransitionStore(
  storage: DurableObjectSqlStorageLike | { storage: DurableObjectSqlStorageLike },
  options: DurableObjectTransitionStoreOptions & { outbox: true },
): DurableObjectTransitionStoreWithOutbox;
export declare function createDurableObjectTransitionStore(
  storage: DurableObjectSqlStorageLike | { storage: DurableObjectSqlStorageLike },
  options?: DurableObjectTransitionStoreOptions,
): DurableObjectTransitionStore;
