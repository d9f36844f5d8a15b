// Request bodies, checked by the engine before anything is written.
//
// The schemas are the catalog's own state schemas (CatalogSystemStateSchema,
// CatalogGroupStateSchema: the fields and types the engine validates every
// catalog write against), with what an HTTP API adds: an optional `id` on
// create, every field optional on update, a non-empty name, and unknown keys
// rejected (`strict`), so a misspelt key is an error instead of a no-op.
// They are checked by the engine itself, with handle.validate(): the same
// validator, the same error codes (ER_SCHEMA with the path of the bad field,
// ER_NOT_OBJECT for a body that is not an object), and nothing to keep in
// step by hand. The kinds live in an engine of their own that never writes.
import { createEngine } from "entity-reactor";
import { CatalogGroupStateSchema, CatalogSystemStateSchema } from "entity-reactor/catalog";

function bodySchema(stateSchema, { creating }) {
  const { properties } = stateSchema;
  return {
    type: "object",
    properties: {
      ...(creating ? { id: { type: "string", minLength: 1 } } : {}),
      ...properties,
      name: { ...properties.name, minLength: 1 },
    },
    required: creating ? ["name"] : [],
  };
}

/**
 * Resolves to { systems: { create, update }, groups: { create, update }, close() }:
 * each function returns the validated body or throws the engine's EntityReactorError.
 */
export async function createBodyValidators() {
  const engine = await createEngine();
  const validator = (kind, stateSchema, creating) => {
    const handle = engine.defineEntity({
      kind,
      state: bodySchema(stateSchema, { creating }),
      strict: true,
      read: () => ({}),
    });
    if (typeof handle.validate !== "function")
      throw new Error(
        "automation-server needs entity-reactor with handle.validate(): the package from this repository's js/",
      );
    return (body) => handle.validate(body);
  };
  return {
    systems: {
      create: validator("POST /systems body", CatalogSystemStateSchema, true),
      update: validator("PATCH /systems/:id body", CatalogSystemStateSchema, false),
    },
    groups: {
      create: validator("POST /groups body", CatalogGroupStateSchema, true),
      update: validator("PATCH /groups/:id body", CatalogGroupStateSchema, false),
    },
    close: () => engine.close(),
  };
}
