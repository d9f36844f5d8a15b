import type { TransitionRow, TransitionStore } from "../index.js";
import type { TransitionOutbox } from "./sqlite.js";

export type { OutboxChange, OutboxRelayStep, TransitionOutbox } from "./sqlite.js";

/** A pg client checked out of the pool. */
export interface PgPoolClient {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
  release(destroy?: boolean | Error): void;
}

/** The part of a pg.Pool this store uses. Pass the Pool itself. */
export interface PgPool {
  connect(): Promise<PgPoolClient>;
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

export interface PostgresTransitionStoreOptions {
  /** Table of the transition log; default "entity_transitions". May be schema-qualified ("audit.entity_transitions"). */
  table?: string;
  /**
   * Record every committed change event in an outbox table, in the same
   * transaction (and statement) as its transition rows, tombstones included,
   * for the relay of entity-reactor/bus/redis: createEngine({ transitions, bus }).
   * One relay of all the processes sharing the table publishes at a time
   * (a transaction-scoped advisory lock). Default false.
   */
  outbox?: boolean;
  /** The outbox table; default "<table>_outbox", in the table's schema. */
  outboxTable?: string;
}

/** The handle runInTransaction passes to fn: the pool client its transaction runs on. */
export interface PostgresTransitionTx {
  readonly client: PgPoolClient;
  readonly open: boolean;
}

export interface PostgresTransitionStore extends TransitionStore<PostgresTransitionTx> {
  readonly table: string;
  /** True when created with { outbox: true }. */
  readonly outbox: boolean;
  /** The outbox table, or null without an outbox. */
  readonly outboxTable: string | null;
  /**
   * Creates the table and its indexes now (otherwise on first use), under an
   * advisory lock so that several processes starting together do not race.
   */
  ready(): Promise<void>;
  /** BEGIN on one client of the pool, fn(tx), COMMIT; ROLLBACK (no rows kept) if fn throws. */
  runInTransaction<T>(fn: (tx: PostgresTransitionTx) => Promise<T>): Promise<T>;
  /** Inserts on tx's client; without a tx, in one statement of its own. */
  appendTransitions(args: { tx?: PostgresTransitionTx | null; kind: string; entityId: string; transitions: TransitionRow[] }): Promise<void>;
  /** transitioned_at of the newest row of `field` whose toValue is currentValue, or null. */
  inStateSince(args: { kind: string; entityId: string; field: string; currentValue: string }): Promise<Date | null>;
  /** Rows of `field` with transitioned_at >= now - windowMs. */
  transitionCount(args: { kind: string; entityId: string; field: string; windowMs: number; now: Date }): Promise<number>;
  /** Newest first (transitioned_at, then append order); only `field`'s rows when given; at most `limit` rows (0 or absent: all). */
  history(args: { kind: string; entityId: string; field?: string; limit?: number }): Promise<TransitionRow[]>;
}

/**
 * A TransitionStore over PostgreSQL (node-postgres, a peer dependency).
 * Table `entity_transitions (id, kind, entity_id, field, from_value, to_value, transitioned_at)`
 * with an index on (kind, entity_id, field, transitioned_at DESC, id DESC); several
 * processes can share it. Text holding NUL (which PostgreSQL's text cannot store)
 * is kept escaped behind U+FDD0 and decoded when read.
 */
export declare function createPostgresTransitionStore(
  pool: PgPool,
  options: PostgresTransitionStoreOptions & { outbox: true },
): PostgresTransitionStore & TransitionOutbox<PostgresTransitionTx>;
export declare function createPostgresTransitionStore(pool: PgPool, options?: PostgresTransitionStoreOptions): PostgresTransitionStore;
