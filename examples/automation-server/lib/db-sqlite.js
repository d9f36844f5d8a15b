// The catalog's own tables on SQLite (better-sqlite3): systems, groups and the
// automation run log. Plain SQL; the transition log lives beside them in
// entity_transitions, written by entity-reactor/stores/sqlite.
import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { createSqliteTransitionStore } from "entity-reactor/stores/sqlite";

const now = () => new Date().toISOString();
const systemRow = (r) =>
  r && {
    id: r.id,
    name: r.name,
    description: r.description,
    metadata: JSON.parse(r.metadata),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
const groupRow = (r) =>
  r && { id: r.id, name: r.name, metadata: JSON.parse(r.metadata), createdAt: r.created_at, updatedAt: r.updated_at };
const runRow = (r) => r && { ...JSON.parse(r.record), runId: r.id };

export function openSqliteCatalog(file) {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.exec(`
    CREATE TABLE IF NOT EXISTS systems (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, metadata TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS groups (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS automation_runs (
      id TEXT PRIMARY KEY, seq INTEGER NOT NULL, automation_id TEXT NOT NULL, record TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS automation_runs_seq_idx ON automation_runs (seq DESC);
  `);
  const q = {
    systemsIn: (n) => db.prepare(`SELECT * FROM systems WHERE id IN (${Array(n).fill("?").join(",")})`),
    system: db.prepare("SELECT * FROM systems WHERE id = ?"),
    systems: db.prepare("SELECT * FROM systems ORDER BY created_at, id"),
    insertSystem: db.prepare(
      "INSERT INTO systems (id, name, description, metadata, created_at, updated_at) VALUES (@id, @name, @description, @metadata, @at, @at)",
    ),
    updateSystem: db.prepare(
      `UPDATE systems SET name = coalesce(@name, name),
         description = CASE WHEN @setDescription THEN @description ELSE description END,
         metadata = coalesce(@metadata, metadata), updated_at = @at WHERE id = @id`,
    ),
    deleteSystem: db.prepare("DELETE FROM systems WHERE id = ?"),
    groupsIn: (n) => db.prepare(`SELECT * FROM groups WHERE id IN (${Array(n).fill("?").join(",")})`),
    group: db.prepare("SELECT * FROM groups WHERE id = ?"),
    groups: db.prepare("SELECT * FROM groups ORDER BY created_at, id"),
    insertGroup: db.prepare(
      "INSERT INTO groups (id, name, metadata, created_at, updated_at) VALUES (@id, @name, @metadata, @at, @at)",
    ),
    updateGroup: db.prepare(
      "UPDATE groups SET name = coalesce(@name, name), metadata = coalesce(@metadata, metadata), updated_at = @at WHERE id = @id",
    ),
    deleteGroup: db.prepare("DELETE FROM groups WHERE id = ?"),
    insertRun: db.prepare(
      "INSERT INTO automation_runs (id, seq, automation_id, record) VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM automation_runs), ?, ?)",
    ),
    runs: db.prepare("SELECT * FROM automation_runs ORDER BY seq DESC LIMIT ?"),
  };
  const many = (stmt, ids, map) =>
    ids.length
      ? stmt(ids.length)
          .all(...ids)
          .map(map)
      : [];
  const json = (v) => (v === undefined ? null : JSON.stringify(v));

  return {
    kind: "sqlite",
    where: path.resolve(file),
    transitions: createSqliteTransitionStore(db),
    async getSystems(ids) {
      return many(q.systemsIn, ids, systemRow);
    },
    async getSystem(id) {
      return systemRow(q.system.get(id)) ?? null;
    },
    async listSystems() {
      return q.systems.all().map(systemRow);
    },
    async insertSystem({ id, name, description, metadata }) {
      q.insertSystem.run({ id, name, description: description ?? null, metadata: json(metadata ?? {}), at: now() });
      return this.getSystem(id);
    },
    async updateSystem(id, patch) {
      const { changes } = q.updateSystem.run({
        id,
        name: patch.name ?? null,
        setDescription: patch.description !== undefined ? 1 : 0,
        description: patch.description ?? null,
        metadata: json(patch.metadata),
        at: now(),
      });
      return changes ? this.getSystem(id) : null;
    },
    async deleteSystem(id) {
      return q.deleteSystem.run(id).changes > 0;
    },
    async getGroups(ids) {
      return many(q.groupsIn, ids, groupRow);
    },
    async getGroup(id) {
      return groupRow(q.group.get(id)) ?? null;
    },
    async listGroups() {
      return q.groups.all().map(groupRow);
    },
    async insertGroup({ id, name, metadata }) {
      q.insertGroup.run({ id, name, metadata: json(metadata ?? {}), at: now() });
      return this.getGroup(id);
    },
    async updateGroup(id, patch) {
      const { changes } = q.updateGroup.run({
        id,
        name: patch.name ?? null,
        metadata: json(patch.metadata),
        at: now(),
      });
      return changes ? this.getGroup(id) : null;
    },
    async deleteGroup(id) {
      return q.deleteGroup.run(id).changes > 0;
    },
    async insertRun(record) {
      q.insertRun.run(record.runId, record.automationId, JSON.stringify(record));
    },
    async listRuns(limit = 100) {
      return q.runs.all(limit).map(runRow);
    },
    isDuplicate: (e) => e?.code === "SQLITE_CONSTRAINT_PRIMARYKEY",
    async close() {
      db.close();
    },
  };
}
