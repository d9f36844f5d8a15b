// The string tests a kind's schema leaves to JavaScript (the core decides
// which string needs which test; see src/schema): a `pattern` runs as an
// ECMAScript RegExp, as zod runs it; a `format` given without a pattern
// runs one of the checks below (zod writes a pattern beside every format it
// checks with a regex, so these serve hand-written JSON Schemas, and zod's
// url and jwt).
import { EntityReactorError, ErrorCode } from "./errors.js";

const ISO_DATE = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$/;
const ISO_TIME = /^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?$/;

function validDate(s) {
  if (!ISO_DATE.test(s)) return false;
  const [y, m, d] = s.split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

function base64urlJson(part) {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return undefined;
  try {
    const text = atob(part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4));
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const FORMATS = {
  email: (s) =>
    /^[^\s@"<>(),;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$/.test(
      s,
    ),
  uuid: (s) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s),
  uri: (s) => {
    try {
      new URL(s);
      return true;
    } catch {
      return false;
    }
  },
  "date-time": (s) => {
    const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/.exec(s);
    return m !== null && validDate(m[1]) && ISO_TIME.test(m[2]);
  },
  date: validDate,
  time: (s) => ISO_TIME.test(s),
  ipv4: (s) => /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(s),
  ipv6: (s) => {
    if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(":")) return false;
    try {
      return new URL(`http://[${s}]`).hostname.length > 2;
    } catch {
      return false;
    }
  },
  // Three base64url parts; the header a JSON object naming its algorithm
  // (and, when it says, of type JWT) — zod's check of z.jwt().
  jwt: (s) => {
    const parts = s.split(".");
    if (parts.length !== 3) return false;
    const header = base64urlJson(parts[0]);
    return (
      header !== null &&
      typeof header === "object" &&
      typeof header.alg === "string" &&
      (header.typ === undefined || header.typ === "JWT")
    );
  },
};
FORMATS.url = FORMATS.uri;

/** Compiles a kind's test list (from the core) into predicates; throws ER_BAD_SCHEMA for a bad pattern. */
export function compileStringTests(kind, tests) {
  return tests.map(({ kind: type, text }) => {
    if (type === "format") {
      const check = FORMATS[text];
      if (!check)
        throw new EntityReactorError(
          ErrorCode.ER_BAD_SCHEMA,
          `defineEntity: kind "${kind}": format "${text}" cannot be checked`,
        );
      return check;
    }
    let re;
    try {
      re = new RegExp(text, "u"); // JSON Schema patterns are ECMAScript regular expressions with Unicode semantics
    } catch {
      try {
        re = new RegExp(text);
      } catch (e) {
        throw new EntityReactorError(
          ErrorCode.ER_BAD_SCHEMA,
          `defineEntity: kind "${kind}": pattern /${text}/ is not a valid ECMAScript regular expression: ${e.message}`,
          { cause: e },
        );
      }
    }
    return (s) => {
      re.lastIndex = 0;
      return re.test(s);
    };
  });
}

/**
 * Why a zod schema cannot be checked from its JSON Schema (zod drops
 * refinements from the export, and a transform, coercion or catch changes
 * what parse returns), or null.
 */
export function zodProblem(schema, seen = new Set()) {
  const def = schema?._zod?.def;
  if (def === undefined || seen.has(schema)) return null;
  seen.add(schema);
  for (const check of def.checks ?? [])
    if (check?._zod?.def?.check === "custom") return "a refinement (refine / superRefine)";
  if (def.coerce) return "a coercion (z.coerce)";
  const all = (...schemas) => {
    for (const s of schemas) {
      const p = zodProblem(s, seen);
      if (p) return p;
    }
    return null;
  };
  switch (def.type) {
    case "transform":
      return "a transform";
    case "catch":
      return "a catch (a fallback value)";
    case "custom":
      return "a custom type (z.custom / z.instanceof)";
    case "pipe":
      return def.in?._zod?.def?.type === "transform" ? "a preprocess" : all(def.in, def.out);
    case "object":
      return all(...Object.values(def.shape ?? {}), ...(def.catchall ? [def.catchall] : []));
    case "array":
      return all(def.element);
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "nonoptional":
      return all(def.innerType);
    case "union":
      return all(...(def.options ?? []));
    case "intersection":
      return all(def.left, def.right);
    case "record":
      return all(def.keyType, def.valueType);
    case "tuple":
      return all(...(def.items ?? []), ...(def.rest ? [def.rest] : []));
    case "lazy":
      return all(def.getter?.());
    default:
      return null;
  }
}
