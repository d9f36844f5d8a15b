// The worker: checks each request and hands it to the Durable Object of its
// catalog (one per tenant, src/catalog.js) over RPC.
//
// createEngine() at module scope: nothing runs at import (the WebAssembly
// module is instantiated without code generation, and no random number is
// drawn before the first write), so the promise can be made here and awaited
// by every request of the isolate. This engine never writes: it validates
// request bodies with the engine's own validator (handle.validate), so a bad
// request gets its 400 and typed error code without waking the object.
import { createEngine, ErrorCode } from "entity-reactor";
import { CatalogGroupStateSchema, CatalogSystemStateSchema } from "entity-reactor/catalog";
import { HttpError, errorReply, toResponse } from "./http.js";
import { page } from "./page.js";

export { Catalog } from "./catalog.js";

const MAX_BODY = 1 << 20;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

// A body schema from a catalog state schema: an optional id on create,
// every field optional on update, a non-empty name; unknown keys are
// rejected (strict), so a misspelt key is an error rather than a no-op.
function bodySchema(stateSchema, creating) {
  const { properties } = stateSchema;
  return {
    type: "object",
    properties: {
      ...(creating ? { id: { type: "string", minLength: 1, maxLength: 200 } } : {}),
      ...properties,
      name: { ...properties.name, minLength: 1 },
    },
    required: creating ? ["name"] : [],
  };
}

const runSchema = {
  type: "object",
  properties: {
    runId: { type: "string", minLength: 1, maxLength: 200 },
    action: { type: "string", enum: ["catalog.update_metadata"] },
    config: { type: "object", additionalProperties: {} },
    secrets: { type: "array", items: { type: "string" }, maxItems: 100 },
  },
  required: ["runId", "action", "config"],
};

const validators = createEngine({ bufferLimit: 0 }).then((engine) => {
  const define = (kind, state) => {
    const handle = engine.defineEntity({ kind, state, strict: true, read: () => ({}) });
    return (body) => handle.validate(body);
  };
  return {
    systems: {
      create: define("POST systems", bodySchema(CatalogSystemStateSchema, true)),
      update: define("PATCH systems", bodySchema(CatalogSystemStateSchema, false)),
    },
    groups: {
      create: define("POST groups", bodySchema(CatalogGroupStateSchema, true)),
      update: define("PATCH groups", bodySchema(CatalogGroupStateSchema, false)),
    },
    run: define("POST runs", runSchema),
  };
});

const ROUTES = [
  ["GET", "/catalogs/:tenant", "a page following the tenant's change stream"],
  ["GET", "/catalogs/:tenant/stream", "WebSocket: { type: 'change', change, triggers, payload } per change"],
  ["GET", "/catalogs/:tenant/systems", "every system"],
  ["POST", "/catalogs/:tenant/systems", "create { id?, name, description?, metadata? }: 201, 409 if the id exists"],
  ["GET", "/catalogs/:tenant/systems/:id", "one system"],
  ["PATCH", "/catalogs/:tenant/systems/:id", "update any of { name, description, metadata }"],
  ["DELETE", "/catalogs/:tenant/systems/:id", "delete: 204"],
  ["GET", "/catalogs/:tenant/systems/:id/history?field=&limit=", "the transition log, newest first"],
  ["GET", "/catalogs/:tenant/systems/:id/fields/:field?windowMs=", "inStateSince, inStateForMs, transitionsInWindow"],
  ["…", "/catalogs/:tenant/groups…", "the same for groups ({ id?, name, metadata? })"],
  [
    "POST",
    "/catalogs/:tenant/runs",
    "an automation run: { runId, action: 'catalog.update_metadata', config, secrets? }, secrets masked",
  ],
].map(([method, path, description]) => ({ method, path, description }));

async function readJson(request) {
  const length = Number(request.headers.get("content-length") ?? 0);
  if (length > MAX_BODY) throw new HttpError(413, "body too large", { code: ErrorCode.ER_TOO_LARGE });
  const text = await request.text();
  if (text.length > MAX_BODY) throw new HttpError(413, "body too large", { code: ErrorCode.ER_TOO_LARGE });
  try {
    return text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `invalid JSON: ${e.message}`, { code: ErrorCode.ER_BAD_JSON });
  }
}

// The actor of a write: a user named by the headers, or the system.
function writeOptions(request) {
  const id = request.headers.get("x-user-id");
  return id ? { actor: { type: "user", id, name: request.headers.get("x-user-name") ?? id } } : {};
}

function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `bad path segment ${part}`);
  }
}

async function route(request, env) {
  const url = new URL(request.url);
  const method = request.method;
  if (url.pathname === "/" && method === "GET")
    return { status: 200, body: { service: "entity-reactor-catalog", routes: ROUTES } };
  const [root, tenant, collection, id, sub, field, ...rest] = url.pathname.split("/").filter(Boolean).map(decode);
  if (root !== "catalogs" || tenant === undefined || rest.length)
    throw new HttpError(404, `no route for ${method} ${url.pathname} (GET / lists them)`);
  if (!TENANT.test(tenant))
    throw new HttpError(400, "tenant must be 1-64 letters, digits, '.', '_' or '-'", { path: "tenant" });
  // One object per tenant: its name is the tenant.
  const catalog = env.CATALOG.get(env.CATALOG.idFromName(tenant));

  if (collection === undefined && method === "GET")
    return new Response(page(tenant), { headers: { "content-type": "text/html; charset=utf-8" } });
  if (collection === "stream" && id === undefined) return catalog.fetch(request); // the WebSocket upgrade
  if (collection === "runs" && id === undefined && method === "POST") {
    const body = (await validators).run(await readJson(request));
    return catalog.run(body);
  }
  if (collection !== "systems" && collection !== "groups")
    throw new HttpError(404, `no route for ${method} ${url.pathname} (GET / lists them)`);
  const bodies = (await validators)[collection];

  if (id === undefined && method === "GET") return catalog.list(collection);
  if (id === undefined && method === "POST")
    return catalog.create(collection, bodies.create(await readJson(request)), writeOptions(request));
  if (sub === undefined && method === "GET") return catalog.get(collection, id);
  if (sub === undefined && method === "PATCH")
    return catalog.update(collection, id, bodies.update(await readJson(request)), writeOptions(request));
  if (sub === undefined && method === "DELETE") return catalog.remove(collection, id, writeOptions(request));
  if (sub === "history" && field === undefined && method === "GET") {
    const limit = url.searchParams.has("limit") ? Number(url.searchParams.get("limit")) : undefined;
    return catalog.history(collection, id, { field: url.searchParams.get("field") ?? undefined, limit });
  }
  if (sub === "fields" && field !== undefined && method === "GET")
    return catalog.field(collection, id, field, Number(url.searchParams.get("windowMs") ?? 3_600_000));
  throw new HttpError(404, `no route for ${method} ${url.pathname} (GET / lists them)`);
}

export default {
  async fetch(request, env) {
    try {
      const out = await route(request, env);
      return out instanceof Response ? out : toResponse(out);
    } catch (e) {
      return toResponse(errorReply(e));
    }
  },
};
