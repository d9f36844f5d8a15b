// Small value helpers shared by the package's modules.
import { EntityReactorError, ErrorCode, badArgument } from "./errors.js";

export const isFunction = (f) => typeof f === "function";
export const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

// Lone UTF-16 surrogates cannot cross into the core intact (UTF-8 has no
// encoding for them: TextEncoder turns them into U+FFFD), so two different
// ids could name one entity. Ids, kinds and fields holding one are
// rejected; masked texts keep them (maskPieces).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");
export const wellFormed = (s) => (typeof s.isWellFormed === "function" ? s.isWellFormed() : !LONE_SURROGATE.test(s));

export function checkText(value, what, path) {
  if (!wellFormed(value))
    throw new EntityReactorError(ErrorCode.ER_LONE_SURROGATE, `${what} holds an unpaired UTF-16 surrogate`, { path });
  return value;
}

// JSON text of a value ("null" where JSON.stringify gives nothing: a
// function, a symbol, undefined).
export function stringify(value, what) {
  try {
    return JSON.stringify(value) ?? "null";
  } catch (e) {
    throw badArgument(`${what} cannot be serialised as JSON: ${e.message}`);
  }
}
