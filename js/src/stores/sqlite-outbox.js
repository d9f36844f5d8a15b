// The outbox in SQLite's dialect, shared by the two stores on SQLite
// (sqlite.js through better-sqlite3, durable-object.js through a Durable
// Object's ctx.storage.sql; not a public entry point). A module of its own,
// not part of sql-rows.js, so that the bundled PostgreSQL store, which shares
// sql-rows.js's chunk, does not carry it.

/**
 * The outbox table, its unpublished index and the relay's lease table, in
 * SQLite (CREATE ... IF NOT EXISTS). The same layout in a file and in a
 * Durable Object, so the relay's statements below serve both.
 */
export function sqliteOutboxDdl(outboxTable) {
  const o = `"${outboxTable}"`;
  return `
    CREATE TABLE IF NOT EXISTS ${o} (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      change_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      entity_id TEXT NOT NULL,
      event TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      published_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS "${outboxTable}_unpublished_idx" ON ${o} (seq) WHERE published_at IS NULL;
    CREATE TABLE IF NOT EXISTS "${outboxTable}_lease" (
      name TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL
    );
  `;
}

/**
 * The outbox's statements over sqliteOutboxDdl's tables (? parameters; times
 * in epoch milliseconds). Each store runs them with its own driver.
 */
export function sqliteOutboxSql(outboxTable) {
  const o = `"${outboxTable}"`;
  const lease = `"${outboxTable}_lease"`;
  return {
    // (change_id, kind, entity_id, event, created_at)
    insert: `INSERT INTO ${o} (change_id, kind, entity_id, event, created_at) VALUES (?, ?, ?, ?, ?)`,
    // (limit)
    unpublished: `SELECT seq, change_id, kind, entity_id, event FROM ${o} WHERE published_at IS NULL ORDER BY seq LIMIT ?`,
    // (published_at, seq)
    mark: `UPDATE ${o} SET published_at = ? WHERE seq = ? AND published_at IS NULL`,
    // (name, owner): the lease row, if missing, expired
    addLease: `INSERT OR IGNORE INTO ${lease} (name, owner, expires_at) VALUES (?, ?, 0)`,
    // (owner, expires_at, name, owner, now): changes one row if the lease is ours or expired
    takeLease: `UPDATE ${lease} SET owner = ?, expires_at = ? WHERE name = ? AND (owner = ? OR expires_at < ?)`,
    // (name, owner)
    release: `UPDATE ${lease} SET expires_at = 0 WHERE name = ? AND owner = ?`,
    // (before)
    prune: `DELETE FROM ${o} WHERE published_at IS NOT NULL AND published_at < ?`,
    backlog: `SELECT COUNT(*) AS n FROM ${o} WHERE published_at IS NULL`,
  };
}
