import type { TransitionRow, TransitionStore } from "../index.js";

/** IDBFactory where the program's libs declare indexedDB (the DOM lib); any object otherwise, so these types need no DOM lib. */
export type IDBFactoryLike = typeof globalThis extends { indexedDB: infer F } ? F : object;

export interface IndexedDbTransitionStoreOptions {
  /** Database name; default "entity-reactor". May be a database the app already uses. */
  dbName?: string;
  /** Object store of the transition log; default "transitions". */
  storeName?: string;
  /** The IDBFactory (fake-indexeddb's in Node tests); default globalThis.indexedDB. Typed as IDBFactory when the DOM lib is loaded. */
  indexedDB?: IDBFactoryLike;
}

/** The handle runInTransaction passes to fn: rows staged for its one IndexedDB transaction. */
export interface IndexedDbTransitionTx {
  readonly rows: readonly TransitionRow[];
}

export interface IndexedDbTransitionStore extends TransitionStore<IndexedDbTransitionTx> {
  readonly dbName: string;
  readonly storeName: string;
  /** Runs fn(tx); the rows appended through tx are written in one readwrite transaction once fn resolves, none if it throws. */
  runInTransaction<T>(fn: (tx: IndexedDbTransitionTx) => Promise<T>): Promise<T>;
  appendTransitions(args: { tx: IndexedDbTransitionTx; kind: string; entityId: string; transitions: TransitionRow[] }): Promise<void>;
  inStateSince(args: { kind: string; entityId: string; field: string; currentValue: string }): Promise<Date | null>;
  transitionCount(args: { kind: string; entityId: string; field: string; windowMs: number; now: Date }): Promise<number>;
  /** Newest first; only `field`'s rows when given; at most `limit` rows (0 or absent: all). */
  history(args: { kind: string; entityId: string; field?: string; limit?: number }): Promise<TransitionRow[]>;
  /** Closes the database connection; later calls reject. */
  close(): Promise<void>;
}

/** A TransitionStore over IndexedDB (browsers): one readwrite transaction per runInTransaction, an index per query. */
export declare function createIndexedDbTransitionStore(options?: IndexedDbTransitionStoreOptions): IndexedDbTransitionStore;
