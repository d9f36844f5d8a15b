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
}

/** The handle runInTransaction passes to fn: rows staged for its one SQLite transaction. */
export interface SqliteTransitionTx {
  readonly rows: readonly TransitionRow[];
  readonly open: boolean;
}

export interface SqliteTransitionStore extends TransitionStore<SqliteTransitionTx> {
  readonly table: string;
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
 * and its indexes are created on first use.
 */
export declare function createSqliteTransitionStore(db: BetterSqlite3Database, options?: SqliteTransitionStoreOptions): SqliteTransitionStore;
