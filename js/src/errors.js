import { ErrorCode } from "./generated/constants.js";

/**
 * Every error the engine throws: `code` is stable (see ErrorCode), `path`
 * names the bad field ("metadata.tags[2]") where there is one.
 */
export class EntityReactorError extends Error {
  constructor(code, message, { path, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "EntityReactorError";
    this.code = code;
    if (path) this.path = path;
  }
}

export function badArgument(message, path) {
  return new EntityReactorError(ErrorCode.ER_BAD_ARGUMENT, message, { path });
}

export { ErrorCode };
