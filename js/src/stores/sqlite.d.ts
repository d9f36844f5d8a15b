import type { TransitionRow, TransitionStore } from "../index.js";

/** The part of a better-sqlite3 (v12) Database this store uses. Pass the Database itself. */
export interface BetterSqlite3Database {
  prepare(source: string): any;
  exec(source: string): unknown;
  transaction(fn: (...args: any[]) => any): (...args: any[]) => any;
}

export interface SqliteTransitionStoreOptions {
  /** Table of the transition log; default "entity_transitions". An SQL identifier. */
  table?: string;
  /**
   * Record every committed change event in an outbox table, in the same
   * transaction as its transition rows (tombstones included), for the relay of
   * entity-reactor/bus/redis: createEngine({ transitions, bus }). Default false.
   */
  outbox?: boolean;
  /** The outbox table; default "<table>_outbox" (its relay lease lives in "<outboxTable>_lease"). */
  outboxTable?: string;
}

/** A committed change as an outbox hands it to a relay: the event as JSON text and what the stream entry needs. */
export interface OutboxChange {
  /** Commit order within the outbox (a number, or a bigint's decimal text from PostgreSQL). */
  readonly seq: number | string;
  readonly changeId: string;
  readonly kind: string;
  /** The entity id. */
  readonly id: string;
  /** The change event as JSON (ChangeEvent#toJSON()). */
  readonly event: string;
}

/** What one relay step did: `locked` when another relay is publishing; else how many changes it read and how many were published. */
export interface OutboxRelayStep {
  readonly locked: boolean;
  readonly count: number;
  readonly published: number;
}

/** The outbox side of a store created with { outbox: true }: what createEngine and the bus's relay call. */
export interface TransitionOutbox<TTx = unknown> {
  readonly outbox: true;
  /** The engine's call, inside runInTransaction: the change events of the transaction (plain objects, commit order). */
  appendChanges(args: { tx: TTx; kind: string; changes: object[] }): Promise<void>;
  /**
   * One relay step: if no other relay holds the outbox, reads up to `limit` (default 100) unpublished changes
   * in commit order and awaits publish(changes), which resolves to how many of them (a prefix) reached the
   * bus; those are marked published (a rejection marks none).
   */
  relayOutbox(
    args: { owner: string; limit?: number; leaseMs?: number },
    publish: (changes: OutboxChange[]) => Promise<number>,
  ): Promise<OutboxRelayStep>;
  /** Gives up `owner`'s hold on the outbox, so another relay may take over at once. */
  releaseOutbox(args: { owner: string }): Promise<void>;
  /** Deletes published changes published before `before`; resolves to how many. */
  pruneOutbox(args: { before: Date }): Promise<number>;
  /** How many committed changes are not yet published. */
  outboxBacklog(): Promise<number>;
  /** listener() runs after each commit of this process that recorded changes; returns an unsubscribe. */
  watchOutbox(listener: () => void): () => void;
}

/** The handle runInTransaction passes to fn: rows staged for its one SQLite transaction. */
export interface SqliteTransitionTx {
  readonly rows: readonly TransitionRow[];
  readonly open: boolean;
}

export interface SqliteTransitionStore extends TransitionStore<SqliteTransitionTx> {
  readonly table: string;
  /** True when created with { outbox: true }. */
  readonly outbox: boolean;
  /** The outbox table, or null without an outbox. */
  readonly outboxTable: string | null;
  /** Creates the table and its indexes now; otherwise they are created on first use. */
  ready(): Promise<void>;
  /**
   * Runs fn(tx); the rows appended through tx are inserted in ONE SQLite
   * transaction once fn resolves — none if fn throws, none if an insert fails.
   */
  runInTransaction<T>(fn: (tx: SqliteTransitionTx) => Promise<T>): Promise<T>;
  /** Stages rows in tx; without a tx, inserts them at once in a transaction of their own. */
  appendTransitions(args: { tx?: SqliteTransitionTx | null; kind: string; entityId: string; transitions: TransitionRow[] }): Promise<void>;
  /** transitionedAt of the newest row of `field` whose toValue is currentValue, or null. */
  inStateSince(args: { kind: string; entityId: string; field: string; currentValue: string }): Promise<Date | null>;
  /** Rows of `field` with transitionedAt >= now - windowMs. */
  transitionCount(args: { kind: string; entityId: string; field: string; windowMs: number; now: Date }): Promise<number>;
  /** Newest first (transitionedAt, then append order); only `field`'s rows when given; at most `limit` rows (0 or absent: all). */
  history(args: { kind: string; entityId: string; field?: string; limit?: number }): Promise<TransitionRow[]>;
}

/**
 * A TransitionStore over SQLite (better-sqlite3 v12, a peer dependency).
 * Table `entity_transitions (id, kind, entity_id, field, from_value, to_value, transitioned_at)`
 * and its indexes are created on first use; with { outbox: true }, also the outbox.
 */
export declare function createSqliteTransitionStore(
  db: BetterSqlite3Database,
  options: SqliteTransitionStoreOptions & { outbox: true },
): SqliteTransitionStore & TransitionOutbox<SqliteTransitionTx>;
export declare function createSqliteTransitionStore(db: BetterSqlite3Database, options?: SqliteTransitionStoreOptions): SqliteTransitionStore;
