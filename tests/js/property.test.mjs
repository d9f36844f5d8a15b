// Property (SPEC §7): random states × random secret sets × random run ids,
// from a seeded PRNG — no registered secret of the run ever appears in an
// emitted event (prev, next, delta, changedFields) or in a transition row
// (field, fromValue, toValue) of a run-originated write, through mutate,
// remove and ingest, with the embedded store and with a host store. The
// caller and the host still get the unmasked state.
// PROPERTY_SEED=<n> replays one seed; PROPERTY_RUNS=<n> changes the count.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createEngine } from "../../js/src/index.js";
import { Table, FakeClock, HostStore, quietLogger } from "./helpers.mjs";

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Secret alphabet: ASCII, regex and JSON specials, 2/3/4-byte UTF-8. No '*'
// (the mask itself; see tests/fuzz/fuzz_util.hpp plain_secret).
const ALPHABET = [..."abcxyzAB019-_.$\\\"'{}[]:,/ \n", "é", "ß", "€", "漢", "\uff5e", "😀", "\u{1F9D1}"];

function generator(rand) {
  const int = (n) => Math.floor(rand() * n);
  const pick = (xs) => xs[int(xs.length)];
  const word = (min, max) => {
    let s = "";
    const n = min + int(max - min + 1);
    for (let i = 0; i < n; i++) s += pick(ALPHABET);
    return s;
  };
  const secretsOf = () => {
    const list = [];
    const n = 1 + int(4);
    for (let i = 0; i < n; i++) {
      const base = word(1, 12);
      list.push(base);
      // overlapping and nested secrets
      if (rand() < 0.3) list.push(base + word(1, 4));
      if (rand() < 0.2 && [...base].length > 2) list.push([...base].slice(1).join(""));
    }
    return list;
  };
  // A string that embeds secrets (whole, cut, adjacent) among noise.
  const text = (secrets) => {
    let s = "";
    const parts = int(5);
    for (let i = 0; i < parts; i++) {
      const r = rand();
      if (r < 0.4 && secrets.length) s += pick(secrets);
      else if (r < 0.55 && secrets.length) {
        const x = [...pick(secrets)]; // code points: never a lone surrogate
        s += x.slice(0, int(x.length + 1)).join("");
      } else s += word(0, 6);
    }
    return s;
  };
  const value = (secrets, depth) => {
    const r = rand();
    if (depth > 3 || r < 0.15) return pick([null, true, false, 0, -1.5, 42, 1e21, NaN]);
    if (r < 0.5) return text(secrets);
    if (r < 0.7) return Array.from({ length: int(4) }, () => value(secrets, depth + 1));
    return object(secrets, depth + 1);
  };
  const key = (secrets) =>
    rand() < 0.3 ? text(secrets) : pick(["a", "b", "name", "k", "__proto__", "constructor", ""]);
  const object = (secrets, depth = 0) => {
    const o = {};
    const n = int(5);
    for (let i = 0; i < n; i++)
      Object.defineProperty(o, key(secrets), {
        value: value(secrets, depth),
        enumerable: true,
        configurable: true,
        writable: true,
      });
    return o;
  };
  return { int, pick, word, secretsOf, object };
}

// Strings in a value: every key and every string.
function stringsOf(v, out = []) {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out);
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) (out.push(k), stringsOf(x, out));
  return out;
}

// A row's value text: the string itself, or canonical JSON of a non-string
// (whose syntax — "null", "1e+21", braces — is not state).
function rowStrings(row) {
  const out = [row.field];
  for (const t of [row.fromValue, row.toValue]) {
    if (t === null) continue;
    let parsed;
    try {
      parsed = JSON.parse(t);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined && typeof parsed !== "string") stringsOf(parsed, out);
    else out.push(t);
  }
  return out;
}

const seedBase = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : 0x5eed;
const runs = process.env.PROPERTY_RUNS ? Number(process.env.PROPERTY_RUNS) : 60;

test(`no secret reaches an event or a row of a run-originated write (${runs} seeded runs)`, async () => {
  const looseSchema = { type: "object", additionalProperties: true };
  let writes = 0;
  let masked = 0;
  let refused = 0;
  for (let r = 0; r < runs; r++) {
    const seed = process.env.PROPERTY_SEED ? seedBase : seedBase + r;
    const rand = mulberry32(seed);
    const g = generator(rand);
    const store = r % 2 === 1 ? new HostStore() : undefined;
    const clock = new FakeClock();
    const events = [];
    const engine = await createEngine({
      now: clock.now,
      logger: quietLogger(),
      emit: (e) => events.push(e),
      transitions: store,
    });
    const table = new Table();
    const handle = engine.defineEntity({ kind: "k", state: looseSchema, read: table.read });
    // runs: some with secrets, one never registered, one dropped
    const runSecrets = new Map();
    for (const id of ["run-a", "run-b", g.word(1, 6)]) {
      const secrets = g.secretsOf();
      engine.secrets.register(id, secrets);
      runSecrets.set(id, (runSecrets.get(id) ?? []).concat(secrets));
    }
    const runIds = [...runSecrets.keys(), "run-unknown"];
    const all = [...runSecrets.values()].flat();
    const ids = ["e1", "e2", "__proto__"];
    const context = () => `seed ${seed} (replay: PROPERTY_SEED=${seed})`;

    const check = (runId, fromEvent, rows) => {
      const secrets = runSecrets.get(runId) ?? [];
      if (!secrets.length) return;
      const strings = [];
      for (const e of fromEvent) stringsOf([e.id, e.actor, e.prev, e.next, e.delta, e.changedFields], strings);
      for (const row of rows) strings.push(...rowStrings(row));
      for (const s of strings)
        for (const secret of secrets)
          assert.ok(
            !s.includes(secret),
            `${context()}: secret ${JSON.stringify(secret)} of ${runId} survives in ${JSON.stringify(s)}`,
          );
    };
    const newRows = async (id, before) => {
      if (store) return store.rows.slice(before);
      const rows = await handle.history(id);
      return rows.slice(0, rows.length - before);
    };
    const rowCount = async (id) => (store ? store.rows.length : (await handle.history(id)).length);
    // SPEC §7: a write whose id holds a secret of its run is refused before read.
    const holdsSecret = (runId, idList) =>
      (runSecrets.get(runId) ?? []).some((x) => idList.some((id) => id.includes(x)));
    const expectRefused = async (promise) => {
      const reads = table.reads.length;
      const before = events.length;
      await assert.rejects(promise, (e) => e.code === "ER_SECRET_IN_ID", context());
      assert.equal(table.reads.length, reads, `${context()}: read is not called`);
      assert.equal(events.length, before, `${context()}: no event`);
      refused++;
    };
    const actor = { type: "user", id: g.word(1, 8) + (all[0] ?? "") };

    for (let i = 0; i < 25; i++) {
      clock.advance(g.int(3));
      const runId = g.pick(runIds.concat([undefined]));
      const opts = runId === undefined ? undefined : { runId, actor };
      const op = g.int(10);
      if (op < 7) {
        const id = g.pick(ids);
        const state = g.object(g.pick([all, all, []]));
        const before = events.length;
        const rowsBefore = await rowCount(id);
        if (holdsSecret(runId, [id])) {
          await expectRefused(handle.mutate({ id, opts, apply: table.put(id, state) }));
          continue;
        }
        const out = await handle.mutate({ id, opts, apply: table.put(id, state) });
        writes++;
        assert.deepEqual(out, state, `${context()}: the caller gets the unmasked state`);
        assert.deepEqual(table.rows.get(id), state, `${context()}: the host keeps the unmasked state`);
        const emitted = events.slice(before);
        if (runId) check(runId, emitted, await newRows(id, rowsBefore));
        if (emitted.some((e) => JSON.stringify(e) !== JSON.stringify(state))) masked++;
      } else if (op < 8) {
        const id = g.pick(ids);
        const before = events.length;
        if (holdsSecret(runId, [id])) {
          await expectRefused(handle.remove({ id, opts, apply: table.del(id) }));
          continue;
        }
        await handle.remove({ id, opts, apply: table.del(id) });
        writes++;
        if (runId) check(runId, events.slice(before), []);
      } else {
        const entries = Array.from({ length: 1 + g.int(4) }, () => ({
          id: g.pick(ids),
          next: g.int(5) === 0 ? null : g.object(all),
        }));
        const before = events.length;
        const rowsBefore = store ? store.rows.length : 0;
        const apply = () => {
          for (const e of entries) {
            if (e.next) table.rows.set(e.id, structuredClone(e.next));
            else table.rows.delete(e.id);
          }
        };
        if (
          holdsSecret(
            runId,
            entries.map((e) => e.id),
          )
        ) {
          await expectRefused(engine.ingest("k", entries, { ...opts, apply }));
          continue;
        }
        const historyBefore = new Map();
        if (!store) for (const id of ids) historyBefore.set(id, await rowCount(id));
        const changes = await engine.ingest("k", entries, { ...(opts ?? {}), apply });
        writes += entries.length;
        let rows = [];
        if (store) rows = store.rows.slice(rowsBefore);
        else for (const id of ids) rows.push(...(await newRows(id, historyBefore.get(id))));
        if (runId) check(runId, [...changes, ...events.slice(before)], rows);
      }
      if (g.int(20) === 0 && runSecrets.size > 0) {
        // more secrets for a run mid-way, or a run dropped (its later writes are plain)
        const id = g.pick([...runSecrets.keys()]);
        if (g.int(2) === 0) {
          const more = g.secretsOf();
          engine.secrets.register(id, more);
          runSecrets.set(id, runSecrets.get(id).concat(more));
        } else {
          engine.secrets.drop(id);
          runSecrets.delete(id);
          runIds.splice(runIds.indexOf(id), 1, `${id}-dropped`);
        }
      }
    }
    assert.equal(engine.pendingWrites, 0);
    engine.close();
  }
  console.log(
    `property: ${runs} seeded runs, ${writes} writes, ${masked} events differed from the state (masked), ${refused} refused (secret in the id)`,
  );
  assert.ok(masked > writes / 20, "the generator must actually embed secrets");
  assert.ok(refused > 0, "the generator must produce ids that hold a secret");
});
