// The service: a catalog (systems and groups) whose writes go through the
// engine, automations fired by the catalog's trigger events, an SSE stream
// of changes / triggers / runs, and the transition history over HTTP.
import { randomUUID } from "node:crypto";
import http from "node:http";
import { createEngine, EntityReactorError, ErrorCode } from "entity-reactor";
import {
  CATALOG_GROUP_ENTITY_KIND,
  CATALOG_SYSTEM_ENTITY_KIND,
  createCatalogActions,
  registerCatalogEntities,
  removeCatalogEntity,
  toCatalogGroupState,
  toCatalogSystemState,
  writeCatalogGroupEntity,
  writeCatalogSystemEntity,
} from "entity-reactor/catalog";
import { createAutomationRunner, loadAutomations, runScope } from "./automations.js";
import { createBodyValidators } from "./bodies.js";
import { createSseHub } from "./sse.js";

/** The masking scope of writes made through the HTTP API: every configured secret. */
const API_SCOPE = "automation-server:api";
const MAX_BODY = 1 << 20;
const CLIENT_ERRORS = new Set([
  "ER_SCHEMA",
  "ER_NOT_OBJECT",
  "ER_BAD_ARGUMENT",
  "ER_BAD_ID",
  "ER_BAD_JSON",
  "ER_TOO_DEEP",
  "ER_TOO_LARGE",
  "ER_LONE_SURROGATE",
]);

/** The routes, as GET / lists them. */
const ROUTES = [
  ["GET", "/", "this list"],
  ["GET", "/health", "{ ok, store, pendingRuns, sseClients }"],
  ["GET", "/events", "server-sent events change, trigger, run; Last-Event-ID or ?since=<id> replays the last 1,000"],
  ["GET", "/automations", "the loaded automations (without secrets)"],
  ["GET", "/runs?limit=", "the run log, newest first"],
  ["GET", "/systems", "every system"],
  ["POST", "/systems", "create { id?, name, description?, metadata? }: 201, 409 if the id exists"],
  ["GET", "/systems/:id", "one system"],
  ["PATCH", "/systems/:id", "update any of { name, description, metadata }"],
  ["DELETE", "/systems/:id", "delete: 204"],
  ["GET", "/systems/:id/history?field=&limit=", "the transition log, newest first"],
  ["GET", "/systems/:id/fields/:field?windowMs=", "inStateSince, inStateForMs, transitionsInWindow"],
  ["GET", "/groups", "every group"],
  ["POST", "/groups", "create { id?, name, metadata? }"],
  ["GET", "/groups/:id", "one group"],
  ["PATCH", "/groups/:id", "update any of { name, metadata }"],
  ["DELETE", "/groups/:id", "delete: 204"],
  ["GET", "/groups/:id/history?field=&limit=", "the transition log, newest first"],
  ["GET", "/groups/:id/fields/:field?windowMs=", "inStateSince, inStateForMs, transitionsInWindow"],
].map(([method, path, description]) => ({ method, path, description }));

class HttpError extends Error {
  constructor(status, message, { code, path } = {}) {
    super(message);
    this.status = status;
    if (code) this.code = code;
    if (path) this.path = path;
  }
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, "body too large");
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `invalid JSON: ${e.message}`, { code: ErrorCode.ER_BAD_JSON });
  }
}

function send(res, status, body) {
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Starts the service. Options: { port, host, store: catalog database (from
 * db-sqlite.js / db-postgres.js), automationsFile, env, logger }.
 * Resolves to { url, port, close() }.
 */
export async function startServer({
  port = 3000,
  host = "127.0.0.1",
  store: db,
  automationsFile,
  env = process.env,
  logger = console,
}) {
  const engine = await createEngine({ transitions: db.transitions, logger });
  const bodies = await createBodyValidators();
  const byId = (rows, project) => Object.fromEntries(rows.map((r) => [r.id, project(r)]));
  const { systemEntity, groupEntity } = registerCatalogEntities(engine, {
    readSystems: async (ids) => byId(await db.getSystems(ids), toCatalogSystemState),
    readGroups: async (ids) => byId(await db.getGroups(ids), toCatalogGroupState),
  });
  const actions = new Map(
    createCatalogActions({
      entityService: { getSystem: (id) => db.getSystem(id), updateSystem: (id, patch) => db.updateSystem(id, patch) },
      getSystemEntity: () => systemEntity,
    }).map((a) => [a.qualifiedId, a]),
  );
  const { automations, secrets } = loadAutomations(automationsFile, actions);
  const sse = createSseHub();

  // Writes made through the API are masked with every configured secret, so a
  // secret an automation stored in the catalog never leaves through a later
  // change's event or transition rows either.
  engine.secrets.register(
    API_SCOPE,
    Object.values(secrets)
      .map((s) => env[s.env])
      .filter((v) => typeof v === "string" && v !== ""),
  );

  const runner = createAutomationRunner({
    engine,
    actions,
    automations,
    secrets,
    env,
    logger,
    record: async (run) => {
      await db.insertRun(run);
      sse.publish("run", run);
      logger.log(
        `run ${run.automationId} on ${run.trigger} ${run.entityId}: ${run.status}${run.error ? ` (${run.error})` : ""}`,
      );
    },
  });

  const onChange = (change) => {
    const triggers = engine.derive(change);
    const payload = engine.payload(change);
    const causedByRun = runScope.getStore()?.runId ?? null;
    const { kind, id, prev, next, delta, changedFields, actor, occurredAt, changeId } = change;
    sse.publish("change", {
      kind,
      id,
      changeId,
      occurredAt,
      actor,
      changedFields,
      delta,
      prev,
      next,
      triggers,
      causedByRun,
    });
    for (const event of triggers) {
      const trigger = { event, payload, changeId, entityId: id, kind, occurredAt };
      const started = runner.dispatch(trigger);
      sse.publish("trigger", { ...trigger, causedByRun, automations: started });
    }
  };
  engine.onEntityChanged({ kind: CATALOG_SYSTEM_ENTITY_KIND, handler: onChange });
  engine.onEntityChanged({ kind: CATALOG_GROUP_ENTITY_KIND, handler: onChange });

  const resources = {
    systems: {
      handle: systemEntity,
      bodies: bodies.systems,
      get: (id) => db.getSystem(id),
      list: () => db.listSystems(),
      insert: (row) => db.insertSystem(row),
      update: (id, patch) => db.updateSystem(id, patch),
      remove: (id) => db.deleteSystem(id),
      project: toCatalogSystemState,
      write: ({ id, opts, apply }) => writeCatalogSystemEntity({ handle: systemEntity, systemId: id, opts, apply }),
    },
    groups: {
      handle: groupEntity,
      bodies: bodies.groups,
      get: (id) => db.getGroup(id),
      list: () => db.listGroups(),
      insert: (row) => db.insertGroup(row),
      update: (id, patch) => db.updateGroup(id, patch),
      remove: (id) => db.deleteGroup(id),
      project: toCatalogGroupState,
      write: ({ id, opts, apply }) => writeCatalogGroupEntity({ handle: groupEntity, groupId: id, opts, apply }),
    },
  };

  const writeOptions = (req) => {
    const userId = req.headers["x-user-id"];
    const actor =
      typeof userId === "string" && userId
        ? { type: "user", id: userId, name: req.headers["x-user-name"] ?? userId }
        : undefined;
    return actor ? { actor, runId: API_SCOPE } : { runId: API_SCOPE };
  };

  async function found(r, id) {
    const row = await r.get(id);
    if (!row) throw new HttpError(404, `not found: ${id}`);
    return row;
  }

  async function route(req, res, url) {
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const method = req.method;
    if (method === "GET" && url.pathname === "/")
      return send(res, 200, { service: "automation-server", routes: ROUTES });
    if (method === "GET" && url.pathname === "/health")
      return send(res, 200, { ok: true, store: db.kind, pendingRuns: runner.pending, sseClients: sse.clients });
    if (method === "GET" && url.pathname === "/events") return sse.attach(req, res, url);
    if (method === "GET" && url.pathname === "/automations")
      return send(
        res,
        200,
        automations.map(({ id, name, enabled, when, then }) => ({
          id,
          name,
          enabled,
          when,
          then: { action: then.action },
        })),
      );
    if (method === "GET" && url.pathname === "/runs") {
      const limit = Math.min(Math.max(Number(url.searchParams.get("limit") ?? 100) || 100, 1), 1000);
      return send(res, 200, await db.listRuns(limit));
    }
    const r = resources[parts[0]];
    if (!r) throw new HttpError(404, `no route for ${method} ${url.pathname} (GET / lists the routes)`);
    const [, id, sub, field] = parts;

    if (parts.length === 1 && method === "GET") return send(res, 200, await r.list());
    if (parts.length === 1 && method === "POST") {
      // Checked before anything is written: 400 with the engine's code and path.
      const { id: bodyId, ...cols } = r.bodies.create(await readJson(req));
      if (bodyId?.includes("/"))
        throw new HttpError(400, "id must not contain '/'", { code: ErrorCode.ER_BAD_ID, path: "id" });
      const rowId = bodyId ?? randomUUID();
      if (await r.get(rowId)) throw new HttpError(409, `already exists: ${rowId}`);
      let row;
      try {
        await r.write({
          id: rowId,
          opts: writeOptions(req),
          apply: async () => {
            row = await r.insert({ ...cols, id: rowId });
            return r.project(row);
          },
        });
      } catch (e) {
        if (db.isDuplicate(e)) throw new HttpError(409, `already exists: ${rowId}`);
        throw e;
      }
      return send(res, 201, row);
    }
    if (parts.length === 2 && method === "GET") return send(res, 200, await found(r, id));
    if (parts.length === 2 && method === "PATCH") {
      const cols = r.bodies.update(await readJson(req));
      await found(r, id);
      let row;
      await r.write({
        id,
        opts: writeOptions(req),
        apply: async () => {
          row = await r.update(id, cols);
          if (!row) throw new HttpError(404, `not found: ${id}`);
          return r.project(row);
        },
      });
      return send(res, 200, row);
    }
    if (parts.length === 2 && method === "DELETE") {
      await found(r, id);
      await removeCatalogEntity({ handle: r.handle, id, opts: writeOptions(req), apply: () => r.remove(id) });
      return send(res, 204);
    }
    if (parts.length === 3 && sub === "history" && method === "GET") {
      const limit = url.searchParams.has("limit") ? Number(url.searchParams.get("limit")) : undefined;
      const fieldName = url.searchParams.get("field") ?? undefined;
      return send(res, 200, await r.handle.history(id, { field: fieldName, limit }));
    }
    if (parts.length === 4 && sub === "fields" && method === "GET") {
      const windowMs = Number(url.searchParams.get("windowMs") ?? 3_600_000);
      const since = await r.handle.inStateSince(id, field);
      return send(res, 200, {
        id,
        field,
        inStateSince: since,
        inStateForMs: await r.handle.inStateForMs(id, field),
        windowMs,
        transitionsInWindow: await r.handle.transitionCount({ id, field, windowMs }),
      });
    }
    throw new HttpError(404, `no route for ${method} ${url.pathname} (GET / lists the routes)`);
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    try {
      await route(req, res, url);
    } catch (e) {
      let status = 500;
      if (e instanceof HttpError) status = e.status;
      else if (e instanceof EntityReactorError && CLIENT_ERRORS.has(e.code)) status = 400;
      if (status === 500) logger.error(`${req.method} ${url.pathname}:`, e);
      if (!res.headersSent)
        send(res, status, {
          error: e.message,
          ...(e.code ? { code: e.code } : {}),
          ...(e.path ? { path: e.path } : {}),
        });
      else res.end();
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  let closing = null;

  return {
    port: address.port,
    url: `http://${host}:${address.port}`,
    engine,
    runner,
    /** Stops accepting requests, lets runs in flight finish (5 s at most), closes the engine and the database. */
    close() {
      closing ??= (async () => {
        const closed = new Promise((resolve) => server.close(resolve));
        sse.close();
        server.closeIdleConnections?.();
        await runner.idle(5000);
        server.closeAllConnections?.();
        await closed;
        engine.close();
        bodies.close();
        await db.close();
      })();
      return closing;
    },
  };
}
