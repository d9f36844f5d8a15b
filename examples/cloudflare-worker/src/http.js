// Replies shared by the worker and the Durable Object. A reply is a plain
// { status, body } so that it crosses Durable Object RPC unchanged (an
// Error's own properties, such as EntityReactorError#code, would not).
import { EntityReactorError } from "entity-reactor";

/** Engine error codes that mean "the request was wrong": 400 with the code. */
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

export class HttpError extends Error {
  constructor(status, message, { code, path } = {}) {
    super(message);
    this.status = status;
    if (code) this.code = code;
    if (path) this.path = path;
  }
}

/** The reply for an error: 4xx for bad requests (with the engine's typed code), 500 otherwise. */
export function errorReply(e) {
  let status = 500;
  if (e instanceof HttpError) status = e.status;
  else if (e instanceof EntityReactorError && CLIENT_ERRORS.has(e.code)) status = 400;
  if (status === 500) console.error(e);
  const body = { error: String(e?.message ?? e) };
  if (e?.code) body.code = e.code;
  if (e?.path) body.path = e.path;
  return { status, body };
}

/** Runs fn and turns its result (or error) into a reply. */
export async function reply(fn, status = 200) {
  try {
    return { status, body: await fn() };
  } catch (e) {
    return errorReply(e);
  }
}

export function toResponse({ status, body }) {
  if (status === 204) return new Response(null, { status });
  return Response.json(body, { status });
}
