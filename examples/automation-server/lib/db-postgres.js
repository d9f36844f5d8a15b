// The catalog's own tables on PostgreSQL (pg): systems, groups and the
// automation run log. Plain SQL; the transition log lives beside them in
// entity_transitions, written by entity-reactor/stores/postgres. Several
// service processes may share the database: the tables are created under an
// advisory lock.
import pg from "pg";
import { createPostgresTransitionStore } from "entity-reactor/stores/postgres";

const iso = (d) => (d instanceof Date ? d.toISOString() : d);
const systemRow = (r) =>
  r && {
    id: r.id,
    name: r.name,
    description: r.description,
    metadata: r.metadata,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
const groupRow = (r) =>
  r && { id: r.id, name: r.name, metadata: r.metadata, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at) };

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS systems (
     id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, metadata JSONB NOT NULL DEFAULT '{}',
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(), updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS groups (
     id TEXT PRIMARY KEY, name TEXT NOT NULL, metadata JSONB NOT NULL DEFAULT '{}',
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(), updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS automation_runs (
     id TEXT PRIMARY KEY, seq BIGINT GENERATED ALWAYS AS IDENTITY, automation_id TEXT NOT NULL, record JSONB NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS automation_runs_seq_idx ON automation_runs (seq DESC)`,
];

export async function openPostgresCatalog(connectionString) {
  const pool = new pg.Pool({ connectionString, max: 10 });
  pool.on("error", (e) => console.error("postgres: idle client error:", e.message));
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext('automation-server:schema'))");
    for (const statement of SCHEMA) await client.query(statement);
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
  const transitions = createPostgresTransitionStore(pool);
  await transitions.ready();
  const rows = async (text, values) => (await pool.query(text, values)).rows;
  const json = (v) => (v === undefined ? null : JSON.stringify(v));

  return {
    kind: "postgres",
    where: new URL(connectionString).host,
    transitions,
    async getSystems(ids) {
      return ids.length ? (await rows("SELECT * FROM systems WHERE id = ANY($1::text[])", [ids])).map(systemRow) : [];
    },
    async getSystem(id) {
      return systemRow((await rows("SELECT * FROM systems WHERE id = $1", [id]))[0]) ?? null;
    },
    async listSystems() {
      return (await rows("SELECT * FROM systems ORDER BY created_at, id")).map(systemRow);
    },
    async insertSystem({ id, name, description, metadata }) {
      const [r] = await rows(
        "INSERT INTO systems (id, name, description, metadata) VALUES ($1, $2, $3, $4::jsonb) RETURNING *",
        [id, name, description ?? null, json(metadata ?? {})],
      );
      return systemRow(r);
    },
    async updateSystem(id, patch) {
      const [r] = await rows(
        `UPDATE systems SET name = coalesce($2, name),
           description = CASE WHEN $3 THEN $4 ELSE description END,
           metadata = coalesce($5::jsonb, metadata), updated_at = now()
         WHERE id = $1 RETURNING *`,
        [id, patch.name ?? null, patch.description !== undefined, patch.description ?? null, json(patch.metadata)],
      );
      return systemRow(r) ?? null;
    },
    async deleteSystem(id) {
      return (await pool.query("DELETE FROM systems WHERE id = $1", [id])).rowCount > 0;
    },
    async getGroups(ids) {
      return ids.length ? (await rows("SELECT * FROM groups WHERE id = ANY($1::text[])", [ids])).map(groupRow) : [];
    },
    async getGroup(id) {
      return groupRow((await rows("SELECT * FROM groups WHERE id = $1", [id]))[0]) ?? null;
    },
    async listGroups() {
      return (await rows("SELECT * FROM groups ORDER BY created_at, id")).map(groupRow);
    },
    async insertGroup({ id, name, metadata }) {
      const [r] = await rows("INSERT INTO groups (id, name, metadata) VALUES ($1, $2, $3::jsonb) RETURNING *", [
        id,
        name,
        json(metadata ?? {}),
      ]);
      return groupRow(r);
    },
    async updateGroup(id, patch) {
      const [r] = await rows(
        "UPDATE groups SET name = coalesce($2, name), metadata = coalesce($3::jsonb, metadata), updated_at = now() WHERE id = $1 RETURNING *",
        [id, patch.name ?? null, json(patch.metadata)],
      );
      return groupRow(r) ?? null;
    },
    async deleteGroup(id) {
      return (await pool.query("DELETE FROM groups WHERE id = $1", [id])).rowCount > 0;
    },
    async insertRun(record) {
      await pool.query("INSERT INTO automation_runs (id, automation_id, record) VALUES ($1, $2, $3::jsonb)", [
        record.runId,
        record.automationId,
        JSON.stringify(record),
      ]);
    },
    async listRuns(limit = 100) {
      return (await rows("SELECT record FROM automation_runs ORDER BY seq DESC LIMIT $1", [limit])).map(
        (r) => r.record,
      );
    },
    isDuplicate: (e) => e?.code === "23505",
    async close() {
      await pool.end();
    },
  };
}
