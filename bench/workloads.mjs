// The bench's workloads, shared by every implementation the bench drives
// (entity-reactor, the TypeScript reference, the floor) and by the tapes the
// native bench replays: deterministic data, the Map-backed host, and the
// functions that turn "write n of workload W" into a handle call. Nothing
// here knows which implementation it drives: a handle is anything with
// mutate({ id, opts, apply }) and remove({ id, opts, apply }).

export const ENTITIES = 1000;
export const INGEST_ENTRIES = 10000;
export const SECRET_COUNT = 1000;
export const RUN_ID = "run-bench";
export const WORKLOADS = ["update", "noop", "masked", "createRemove", "ingest"];
export const WRITE_WORKLOADS = ["update", "noop", "masked", "createRemove"];

// Deterministic data: a run measures the same states every time.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeSecrets() {
  const rand = mulberry32(7);
  const hex = "0123456789abcdef";
  const out = [];
  for (let i = 0; i < SECRET_COUNT; i++) {
    let s = "sk_live_";
    for (let k = 0; k < 24; k++) s += hex[Math.floor(rand() * 16)];
    out.push(s);
  }
  return out;
}
// The run's 1,000 secrets (masked): 32 characters each.
export const SECRETS = makeSecrets();

const TIERS = ["gold", "silver", "bronze"];
const REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"];
const TAGS = ["payments", "pci", "internal", "customer-facing", "batch", "critical"];

// A catalog-system state (~500 bytes of JSON): name, nullable description,
// a 10-key metadata record with an array (tags) and a nested object (links).
// With secrets, two metadata strings carry run secrets.
export function makeState(i, base, secrets) {
  const s1 = secrets?.[i % SECRET_COUNT];
  const s2 = secrets?.[(i * 7 + 3) % SECRET_COUNT];
  return {
    name: base,
    description: i % 4 === 0 ? null : `Handles card payments for region ${REGIONS[i % 5]}; owned by the platform team.`,
    metadata: {
      owner: `team-${i % 13}`,
      tier: TIERS[i % 3],
      region: REGIONS[i % 5],
      costCenter: `CC-${1000 + (i % 97)}`,
      version: 1 + (i % 9),
      enabled: i % 5 !== 0,
      tags: ["api", TAGS[i % 6], TAGS[(i + 2) % 6]],
      links: {
        repo: `https://git.example.com/platform/${base}`,
        runbook: `https://wiki.example.com/runbooks/${base}`,
        dashboard: s1 ? `https://grafana.example.com/d/${i}?api_key=${s1}` : `https://grafana.example.com/d/${i}`,
      },
      lastDeployedAt: "2026-01-02T03:04:05.678Z",
      oncall: s2 ? `pager token ${s2} (rotate monthly)` : `oncall-${i % 11}@example.com`,
    },
  };
}

// One host write: a fresh object with one or two fields changed (what an
// immutable update in a service does). Each entity cycles through the five.
export function mutateState(prev, n, base) {
  switch ((n + Math.floor(n / ENTITIES)) % 5) {
    case 0: // metadata (a number inside)
      return { ...prev, metadata: { ...prev.metadata, version: prev.metadata.version + 1 } };
    case 1: // description, string <-> null
      return { ...prev, description: prev.description === null ? `Updated by deploy ${n}` : null };
    case 2: // name
      return { ...prev, name: `${base} (rev ${n})` };
    case 3: // description + metadata (the array rotates)
      return {
        ...prev,
        description: `Rotated on deploy ${n}`,
        metadata: { ...prev.metadata, tags: [...prev.metadata.tags.slice(1), prev.metadata.tags[0]] },
      };
    default: // name + metadata (a string)
      return { ...prev, name: `${base} (rev ${n})`, metadata: { ...prev.metadata, lastDeployedAt: `deploy-${n}` } };
  }
}

// The same state, keys in another order at every level: structurally equal.
function reordered(s) {
  const m = s.metadata;
  const out = { metadata: {}, description: s.description, name: s.name };
  const keys = Object.keys(m);
  for (let k = keys.length - 1; k >= 0; k--) {
    const key = keys[k];
    const v = m[key];
    out.metadata[key] = key === "links" ? { dashboard: v.dashboard, runbook: v.runbook, repo: v.repo } : v;
  }
  return out;
}
// Alternates between two key orders, so consecutive writes differ in text.
function reorderedBack(s) {
  const m = s.metadata;
  const metadata = {};
  for (const key of Object.keys(m).reverse()) {
    const v = m[key];
    metadata[key] = key === "links" ? { repo: v.repo, runbook: v.runbook, dashboard: v.dashboard } : v;
  }
  return { name: s.name, description: s.description, metadata };
}

// The host's storage: a Map behind an async batched read (no copy: the
// host's own objects, as a service returning rows would).
export class MapHost {
  map = new Map();
  read = async (ids) => {
    const out = {};
    for (const id of ids) {
      const s = this.map.get(id);
      if (s !== undefined) out[id] = s;
    }
    return out;
  };
}

// A workload instance: its own host and population and, for write n, the
// id, whether it removes and the next state the host writes (computed from
// the host's current state). Every implementation gets its own instance.
export function makeWorkload(name) {
  if (!WORKLOADS.includes(name)) throw new Error(`unknown workload ${name}; one of ${WORKLOADS.join(", ")}`);
  const host = new MapHost();
  const ids = [];
  const bases = [];
  const prefix = { update: "sys", noop: "nop", masked: "msk", createRemove: "cr", ingest: "ing" }[name];
  const count = name === "ingest" ? INGEST_ENTRIES : ENTITIES;
  const secrets = name === "masked" ? SECRETS : null;
  const states = [];
  for (let i = 0; i < count; i++) {
    ids.push(`${prefix}-${i}`);
    bases.push(`payments-api-${i}`);
    states.push(makeState(i, bases[i], secrets));
  }
  const w = { name, host, ids, bases, opts: name === "masked" ? { runId: RUN_ID } : undefined };
  w.reset = () => {
    host.map.clear();
    if (name !== "createRemove") for (let i = 0; i < count; i++) host.map.set(ids[i], states[i]);
  };
  if (name === "createRemove") {
    // write 2j creates entity j % N, write 2j + 1 removes it (a tombstone).
    w.id = (n) => ids[(n >>> 1) % count];
    w.isRemove = (n) => (n & 1) === 1;
    w.next = (n) => ((n & 1) === 1 ? null : states[(n >>> 1) % count]);
  } else if (name === "noop") {
    w.id = (n) => ids[n % count];
    w.isRemove = () => false;
    w.next = (n, prev) => (Math.floor(n / count) % 2 === 0 ? reordered(prev) : reorderedBack(prev));
  } else {
    w.id = (n) => ids[n % count];
    w.isRemove = () => false;
    w.next = (n, prev) => mutateState(prev, n, bases[n % count]);
  }
  w.reset();
  return w;
}

// Write n of a write workload on any handle: the host's apply writes the Map
// and returns the new state (null for a removal).
export function writeStep(w, handle) {
  const { host, opts } = w;
  return (n) => {
    const id = w.id(n);
    const apply = async () => {
      const next = w.next(n, host.map.get(id));
      if (next === null) host.map.delete(id);
      else host.map.set(id, next);
      return next;
    };
    return w.isRemove(n) ? handle.remove({ id, opts, apply }) : handle.mutate({ id, opts, apply });
  };
}

// Ingest call k: every entity gets one entry changing one or two fields. The
// host builds these before the call (untimed).
export function ingestEntries(w, k) {
  const entries = new Array(w.ids.length);
  for (let i = 0; i < w.ids.length; i++) {
    const id = w.ids[i];
    entries[i] = { id, next: mutateState(w.host.map.get(id), k * INGEST_ENTRIES + i, w.bases[i]) };
  }
  return entries;
}

// The host's apply for one ingest call: writes every entry into the Map.
export function ingestApply(w, entries) {
  return async () => {
    for (const e of entries) {
      if (e.next === null) w.host.map.delete(e.id);
      else w.host.map.set(e.id, e.next);
    }
  };
}
