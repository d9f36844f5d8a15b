// engine.secrets (SPEC §7): the run-secret registry's facade. Registration
// and masking run in the core; this file moves texts.
import { badArgument } from "./errors.js";
import { LONE_SURROGATES, checkText, stringify, wellFormed } from "./values.js";

// Masks the well-formed runs of `text` and keeps its lone surrogates as they are.
function maskPieces(text, mask) {
  if (wellFormed(text)) return mask(text);
  let out = "";
  let last = 0;
  for (const m of text.matchAll(LONE_SURROGATES)) {
    out += mask(text.slice(last, m.index)) + m[0];
    last = m.index + 1;
  }
  return out + mask(text.slice(last));
}

export function makeSecrets(core, wire) {
  const checkId = (id, what) => {
    if (typeof id !== "string" || id === "") throw badArgument(`secrets.${what}: id must be a non-empty string`, "id");
    return checkText(id, `secrets.${what}: id`, "id");
  };
  const text = (id, t, forStep) => {
    const c = core();
    wire.check(c.maskText(...wire.put(id, t), forStep));
    return wire.text();
  };
  const deep = (id, value, forStep, what) => {
    checkId(id, what);
    if (typeof value === "string") return maskPieces(value, (t) => text(id, t, forStep));
    if (typeof value !== "object" || value === null) return value;
    // Any object is data here, whatever its keys ({ error: "…" } included).
    const c = core();
    wire.check(c.maskDeep(...wire.put(id, stringify(value, "value")), forStep));
    return wire.json();
  };
  return Object.freeze({
    register(id, values) {
      checkId(id, "register");
      if (!Array.isArray(values)) throw badArgument("secrets.register: values must be an array of strings", "values");
      // A value with a lone surrogate would make the whole list unreadable
      // for the core (and drop every secret in it): its well-formed pieces
      // are registered instead, so no part of it survives masking.
      const strings = values.filter((v) => typeof v === "string" && v !== "");
      const clean = strings.flatMap((v) => (wellFormed(v) ? [v] : v.split(LONE_SURROGATES).filter((p) => p !== "")));
      const c = core();
      wire.check(c.registerSecrets(...wire.put(id, JSON.stringify(clean))));
    },
    linkStep(stepId, id) {
      const c = core();
      wire.check(c.linkStep(...wire.put(checkId(stepId, "linkStep"), checkId(id, "linkStep"))));
    },
    maskText(id, t) {
      checkId(id, "maskText");
      return typeof t === "string" ? maskPieces(t, (s) => text(id, s, false)) : t;
    },
    maskTextForStep(stepId, t) {
      checkId(stepId, "maskTextForStep");
      return typeof t === "string" ? maskPieces(t, (s) => text(stepId, s, true)) : t;
    },
    maskDeep: (id, value) => deep(id, value, false, "maskDeep"),
    maskDeepForStep: (stepId, value) => deep(stepId, value, true, "maskDeepForStep"),
    drop(id) {
      const c = core();
      wire.check(c.dropRun(...wire.put(checkId(id, "drop"))));
    },
  });
}
