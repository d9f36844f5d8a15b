// Automations declared in a JSON file: `when` a trigger event (with an
// optional payload filter), `then` an action with a config template. Run
// secrets are read from the environment (the file names the variables),
// registered with the engine for each run (engine.secrets.register(runId))
// and so masked in every event, transition row and run record the run
// produces; dropped when the run ends.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

/** The run whose action is writing, visible to the change handler of its own write. */
export const runScope = new AsyncLocalStorage();
/** A run started by a change that a run made has depth + 1; past this, runs are skipped (no endless loops). */
export const MAX_CHAIN_DEPTH = 4;

function fail(file, message) {
  throw new Error(`${file}: ${message}`);
}

/**
 * Reads the automations file:
 * { "secrets": { "NAME": { "env": "ENV_VAR" } },
 *   "automations": [{ "id", "name"?, "enabled"?, "when": { "event", "filter"? }, "then": { "action", "config" } }] }
 */
export function loadAutomations(file, actions) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    fail(file, `cannot read automations: ${e.message}`);
  }
  const secrets = doc.secrets ?? {};
  if (typeof secrets !== "object" || Array.isArray(secrets))
    fail(file, '"secrets" must be an object of { "NAME": { "env": "VAR" } }');
  for (const [name, spec] of Object.entries(secrets))
    if (typeof spec?.env !== "string") fail(file, `secret "${name}" needs { "env": "VARIABLE_NAME" }`);
  if (!Array.isArray(doc.automations)) fail(file, '"automations" must be an array');
  const seen = new Set();
  const automations = doc.automations.map((a, i) => {
    const where = `automations[${i}]`;
    if (typeof a?.id !== "string" || !a.id) fail(file, `${where}.id must be a non-empty string`);
    if (seen.has(a.id)) fail(file, `${where}: duplicate id "${a.id}"`);
    seen.add(a.id);
    if (typeof a.when?.event !== "string")
      fail(file, `${where}.when.event must be a trigger event id such as "catalog.created"`);
    if (a.when.filter !== undefined && (typeof a.when.filter !== "object" || a.when.filter === null))
      fail(file, `${where}.when.filter must be an object`);
    if (!actions.has(a.then?.action))
      fail(file, `${where}.then.action must be one of ${[...actions.keys()].join(", ")}`);
    const used = secretNames(a.then.config);
    for (const name of used)
      if (!Object.hasOwn(secrets, name))
        fail(file, `${where} uses {{secrets.${name}}}, which "secrets" does not declare`);
    return { id: a.id, name: a.name ?? a.id, enabled: a.enabled !== false, when: a.when, then: a.then, secrets: used };
  });
  return { automations, secrets };
}

const TOKEN = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;

function secretNames(template, out = new Set()) {
  if (typeof template === "string")
    for (const m of template.matchAll(TOKEN)) if (m[1].startsWith("secrets.")) out.add(m[1].slice(8));
  if (template && typeof template === "object") for (const v of Object.values(template)) secretNames(v, out);
  return [...out];
}

function lookup(context, dotted) {
  let value = context;
  for (const key of dotted.split(".")) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key))
      throw new Error(`template: {{${dotted}}} has no value`);
    value = value[key];
  }
  return value;
}

/** Fills {{payload.x}}, {{event.x}}, {{secrets.X}}; a string that is one whole token takes the value as is. */
export function render(template, context) {
  if (typeof template === "string") {
    const whole = template.match(/^\{\{\s*([A-Za-z0-9_.]+)\s*\}\}$/);
    if (whole) return lookup(context, whole[1]);
    return template.replace(TOKEN, (_, dotted) => {
      const v = lookup(context, dotted);
      return typeof v === "string" ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(template)) return template.map((v) => render(v, context));
  if (template && typeof template === "object")
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, render(v, context)]));
  return template;
}

/** A filter value matches when equal; an array matches an array payload value that contains all of it; objects nest. */
export function matches(filter, payload) {
  if (filter === undefined) return true;
  for (const [key, want] of Object.entries(filter)) {
    const got = payload?.[key];
    if (Array.isArray(want)) {
      if (!Array.isArray(got) || !want.every((w) => got.includes(w))) return false;
    } else if (want !== null && typeof want === "object") {
      if (!matches(want, got)) return false;
    } else if (got !== want) return false;
  }
  return true;
}

/**
 * Runs automations for trigger events. `record(run)` persists and publishes a
 * run record (already masked).
 */
export function createAutomationRunner({
  engine,
  actions,
  automations,
  secrets,
  env = process.env,
  record,
  logger = console,
}) {
  const pending = new Set();

  // A run's secrets: every configured secret that is set (so a value stored
  // by an earlier run is masked in this run's writes too); a secret the
  // automation uses must be set.
  function secretValues(used) {
    const values = {};
    for (const [name, spec] of Object.entries(secrets)) {
      const value = env[spec.env];
      if (typeof value === "string" && value !== "") values[name] = value;
      else if (used.includes(name)) throw new Error(`secret ${name} is not set (environment variable ${spec.env})`);
    }
    return values;
  }

  async function runOne(automation, trigger, depth) {
    // Start after the write that triggered the run has returned to its caller.
    await new Promise((resolve) => setImmediate(resolve));
    const runId = randomUUID();
    const startedAt = new Date().toISOString();
    const base = {
      runId,
      automationId: automation.id,
      trigger: trigger.event,
      changeId: trigger.changeId,
      entityId: trigger.entityId,
      action: automation.then.action,
      depth: depth + 1,
      startedAt,
    };
    if (depth >= MAX_CHAIN_DEPTH) {
      await record({
        ...base,
        status: "skipped",
        error: `chain depth ${depth} reached (a run triggered by a run, ${MAX_CHAIN_DEPTH} deep)`,
        finishedAt: startedAt,
      });
      return;
    }
    let run;
    let values = {};
    try {
      values = secretValues(automation.secrets);
      // From here on, the run's secrets are masked in whatever it writes.
      engine.secrets.register(runId, Object.values(values));
      const config = render(automation.then.config, {
        payload: trigger.payload,
        event: {
          id: trigger.event,
          changeId: trigger.changeId,
          entityId: trigger.entityId,
          kind: trigger.kind,
          occurredAt: trigger.occurredAt,
        },
        automation: { id: automation.id, name: automation.name },
        secrets: values,
      });
      const action = actions.get(automation.then.action);
      const result = await runScope.run({ runId, automationId: automation.id, depth: depth + 1 }, () =>
        action.execute({ config, runId, logger: { info: (m) => logger.log(`[run ${runId.slice(0, 8)}] ${m}`) } }),
      );
      run = { ...base, status: result?.success ? "succeeded" : "failed", config, result };
    } catch (e) {
      run = { ...base, status: "failed", error: e?.message ?? String(e) };
    }
    try {
      // Everything recorded about the run is masked with its secrets.
      const masked = Object.keys(values).length ? engine.secrets.maskDeep(runId, run) : run;
      await record({ ...masked, finishedAt: new Date().toISOString() });
    } finally {
      engine.secrets.drop(runId);
    }
  }

  return {
    automations,
    get pending() {
      return pending.size;
    },
    /** Starts every enabled automation whose `when` matches; returns how many. */
    dispatch(trigger) {
      const depth = runScope.getStore()?.depth ?? 0;
      let started = 0;
      for (const automation of automations) {
        if (
          !automation.enabled ||
          automation.when.event !== trigger.event ||
          !matches(automation.when.filter, trigger.payload)
        )
          continue;
        started++;
        const p = runOne(automation, trigger, depth)
          .catch((e) => logger.error(`automation ${automation.id}: ${e?.stack ?? e}`))
          .finally(() => pending.delete(p));
        pending.add(p);
      }
      return started;
    },
    /** Resolves once no run is in flight (bounded by timeoutMs). */
    async idle(timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (pending.size && Date.now() < until)
        await Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 50))]);
    },
  };
}
