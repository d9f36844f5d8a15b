// The Durable Object of one catalog (tenant). Its systems and groups live
// in its own SQLite tables, and every write goes through an engine whose
// transition log is in the same database
// (entity-reactor/stores/durable-object). Changes go out, with their
// trigger ids and payloads, to the browsers connected over WebSocket
// (hibernation API: an idle object with open sockets is evicted from memory
// and woken for the next request).
import { DurableObject } from "cloudflare:workers";
import { createEngine } from "entity-reactor";
import {
  createCatalogActions,
  registerCatalogEntities,
  removeCatalogEntity,
  toCatalogGroupState,
  toCatalogSystemState,
  writeCatalogGroupEntity,
  writeCatalogSystemEntity,
} from "entity-reactor/catalog";
import { createDurableObjectTransitionStore } from "entity-reactor/stores/durable-object";
import { HttpError, reply } from "./http.js";

const MAX_IDS_PER_QUERY = 100; // Durable Object SQL takes at most 100 bound parameters

// One catalog table: rows in, API objects and entity states out.
class Table {
  constructor(sql, name, columns) {
    this.sql = sql;
    this.name = name;
    this.columns = columns; // besides id, metadata, created_at, updated_at
  }

  create() {
    const cols = this.columns.map((c) => `${c.name} TEXT${c.required ? " NOT NULL" : ""}`).join(", ");
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS ${this.name} (id TEXT PRIMARY KEY, ${cols}, metadata TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
    );
  }

  // The API's view of a row.
  toObject(row) {
    const out = { id: row.id };
    for (const c of this.columns) out[c.name] = row[c.name] ?? null;
    out.metadata = JSON.parse(row.metadata);
    out.createdAt = new Date(row.created_at).toISOString();
    out.updatedAt = new Date(row.updated_at).toISOString();
    return out;
  }

  get(id) {
    const [row] = this.sql.exec(`SELECT * FROM ${this.name} WHERE id = ?`, id).toArray();
    return row ? this.toObject(row) : null;
  }

  getMany(ids) {
    const out = [];
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_QUERY) {
      const chunk = ids.slice(i, i + MAX_IDS_PER_QUERY);
      const rows = this.sql
        .exec(`SELECT * FROM ${this.name} WHERE id IN (${chunk.map(() => "?").join(", ")})`, ...chunk)
        .toArray();
      for (const row of rows) out.push(this.toObject(row));
    }
    return out;
  }

  list(limit = 1000) {
    return this.sql
      .exec(`SELECT * FROM ${this.name} ORDER BY id LIMIT ?`, limit)
      .toArray()
      .map((row) => this.toObject(row));
  }

  // The row as written; the caller validated the state first.
  insert(id, state, now) {
    const names = this.columns.map((c) => c.name);
    this.sql.exec(
      `INSERT INTO ${this.name} (id, ${names.join(", ")}, metadata, created_at, updated_at) VALUES (?, ${names.map(() => "?").join(", ")}, ?, ?, ?)`,
      id,
      ...names.map((n) => state[n] ?? null),
      JSON.stringify(state.metadata ?? {}),
      now,
      now,
    );
    return this.get(id);
  }

  update(id, state, now) {
    const names = this.columns.map((c) => c.name);
    this.sql.exec(
      `UPDATE ${this.name} SET ${names.map((n) => `${n} = ?`).join(", ")}, metadata = ?, updated_at = ? WHERE id = ?`,
      ...names.map((n) => state[n] ?? null),
      JSON.stringify(state.metadata ?? {}),
      now,
      id,
    );
    return this.get(id);
  }

  delete(id) {
    this.sql.exec(`DELETE FROM ${this.name} WHERE id = ?`, id);
  }
}

export class Catalog extends DurableObject {
  #engine;
  #systems;
  #groups;
  #resources;
  #actions;

  constructor(ctx, env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    this.#systems = new Table(sql, "catalog_systems", [
      { name: "name", required: true },
      { name: "description", required: false },
    ]);
    this.#groups = new Table(sql, "catalog_groups", [{ name: "name", required: true }]);
    this.#systems.create();
    this.#groups.create();
    const transitions = createDurableObjectTransitionStore(ctx.storage, {
      retentionPerEntity: Number(env.RETENTION_PER_ENTITY ?? 0) || 0,
    });
    // Browsers ping to keep sockets alive; the runtime answers without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    // One engine per object: its transition store is this object's storage.
    // blockConcurrencyWhile holds requests until it is ready (the compiled
    // WebAssembly module is shared by every object of the isolate).
    ctx.blockConcurrencyWhile(async () => {
      const engine = await createEngine({ transitions, emit: (change) => this.#broadcast(change) });
      const byId = (rows, project) => Object.fromEntries(rows.map((r) => [r.id, project(r)]));
      const { systemEntity, groupEntity } = registerCatalogEntities(engine, {
        readSystems: (ids) => byId(this.#systems.getMany(ids), toCatalogSystemState),
        readGroups: (ids) => byId(this.#groups.getMany(ids), toCatalogGroupState),
      });
      this.#engine = engine;
      this.#resources = {
        systems: {
          table: this.#systems,
          handle: systemEntity,
          project: toCatalogSystemState,
          write: ({ id, opts, apply }) => writeCatalogSystemEntity({ handle: systemEntity, systemId: id, opts, apply }),
        },
        groups: {
          table: this.#groups,
          handle: groupEntity,
          project: toCatalogGroupState,
          write: ({ id, opts, apply }) => writeCatalogGroupEntity({ handle: groupEntity, groupId: id, opts, apply }),
        },
      };
      this.#actions = new Map(
        createCatalogActions({
          entityService: {
            getSystem: (id) => this.#systems.get(id),
            updateSystem: (id, { metadata }) => {
              const row = this.#systems.get(id);
              return row ? this.#systems.update(id, { ...row, metadata }, Date.now()) : null;
            },
          },
          getSystemEntity: () => systemEntity,
        }).map((action) => [action.qualifiedId, action]),
      );
    });
  }

  #resource(collection) {
    const r = this.#resources[collection];
    if (!r) throw new HttpError(404, `no collection ${collection}`);
    return r;
  }

  #found(r, id) {
    const row = r.table.get(id);
    if (!row) throw new HttpError(404, `not found: ${id}`);
    return row;
  }

  // ------------------------------------------------------------ the change stream

  #broadcast(change) {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return;
    const message = JSON.stringify({
      type: "change",
      change, // ChangeEvent#toJSON(): kind, id, prev, next, delta, changedFields, actor, occurredAt, changeId
      triggers: this.#engine.derive(change),
      payload: this.#engine.payload(change) ?? null,
    });
    for (const ws of sockets) {
      try {
        ws.send(message);
      } catch {
        // A socket closing meanwhile: the runtime calls webSocketClose.
      }
    }
  }

  /** GET …/stream with Upgrade: websocket. */
  async fetch(request) {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket")
      return Response.json({ error: "expected a WebSocket upgrade" }, { status: 426 });
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.send(JSON.stringify({ type: "hello", at: new Date().toISOString() }));
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, message) {
    if (message === "ping") ws.send("pong"); // (also answered by the auto-response)
  }

  webSocketClose(ws, code, reason) {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  // ------------------------------------------------------------ RPC methods (called by src/worker.js)
  // Each resolves to a reply { status, body }; `opts` is { actor?, runId? }.

  list(collection) {
    return reply(() => this.#resource(collection).table.list());
  }

  get(collection, id) {
    return reply(() => this.#found(this.#resource(collection), id));
  }

  /** body: validated by the worker ({ id?, name, ... }). 201, or 409 if the id exists. */
  create(collection, body, opts) {
    return reply(async () => {
      const r = this.#resource(collection);
      const { id = crypto.randomUUID(), ...fields } = body;
      // Validated before anything is written (the engine validates after apply).
      const state = r.handle.validate(r.project(fields));
      let row;
      await r.write({
        id,
        opts,
        apply: () => {
          if (r.table.get(id)) throw new HttpError(409, `already exists: ${id}`);
          row = r.table.insert(id, state, Date.now());
          return r.project(row);
        },
      });
      return row;
    }, 201);
  }

  /** patch: any of the fields; merged into the current row. */
  update(collection, id, patch, opts) {
    return reply(async () => {
      const r = this.#resource(collection);
      this.#found(r, id);
      let row;
      await r.write({
        id,
        opts,
        // Read inside apply: writes to one id run one after another, so each
        // patch applies to the row the previous one left.
        apply: () => {
          const current = this.#found(r, id);
          const state = r.handle.validate(r.project({ ...current, ...patch }));
          row = r.table.update(id, state, Date.now());
          return r.project(row);
        },
      });
      return row;
    });
  }

  remove(collection, id, opts) {
    return reply(async () => {
      const r = this.#resource(collection);
      this.#found(r, id);
      await removeCatalogEntity({ handle: r.handle, id, opts, apply: () => r.table.delete(id) });
      return null;
    }, 204);
  }

  history(collection, id, { field, limit } = {}) {
    return reply(() => this.#resource(collection).handle.history(id, { field, limit }));
  }

  field(collection, id, field, windowMs) {
    return reply(async () => {
      const { handle } = this.#resource(collection);
      return {
        id,
        field,
        inStateSince: await handle.inStateSince(id, field),
        inStateForMs: await handle.inStateForMs(id, field),
        windowMs,
        transitionsInWindow: await handle.transitionCount({ id, field, windowMs }),
      };
    });
  }

  /**
   * An automation run: `catalog.update_metadata` with { systemId, metadata,
   * strategy? }, its secrets registered for the run. The write, its event
   * and its transition rows never hold them (the system's row does); the
   * result is masked too, and the run's secrets are dropped afterwards.
   */
  run({ runId, action, config, secrets = [] }) {
    return reply(async () => {
      const a = this.#actions.get(action);
      if (!a) throw new HttpError(404, `no action ${action}`);
      const engine = this.#engine;
      engine.secrets.register(runId, secrets);
      try {
        const result = await a.execute({ config, runId });
        if (!result.success)
          throw new HttpError(result.error?.startsWith("System not found") ? 404 : 400, result.error);
        return engine.secrets.maskDeep(runId, { runId, ...result });
      } finally {
        engine.secrets.drop(runId);
      }
    });
  }
}
