// Fault injection through the public API: every host callback the engine
// calls — read, apply, the transition store's runInTransaction and
// appendTransitions, the emitter, a subscription handler and a deriver —
// throws (synchronously) or rejects, one at a time. After each fault:
//   * the host's data is what SPEC §5 says (a failed read/apply changed
//     nothing; after a failed transition append the host's write stands);
//   * no event (emitter or subscription) for a change that did not commit,
//     exactly one for one that did;
//   * no duplicate transition rows, none for a failed append;
//   * the next write works and diffs against the host's real data.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createEngine, EntityReactorError, ErrorCode } from "../../js/src/index.js";
import { Table, FakeClock, HostStore, quietLogger, systemSchema, sys } from "./helpers.mjs";

const settle = () => new Promise((r) => setTimeout(r, 5));

// fail("throw" | "reject", what) -> a function for the callback's place.
function failing(mode, what, fn) {
  return (...args) => {
    if (mode === "throw") throw new Error(`${what} threw`);
    if (mode === "reject") return Promise.reject(new Error(`${what} rejected`));
    return fn(...args);
  };
}

/** A host store whose runInTransaction / appendTransitions can fail on demand. */
class FaultyStore extends HostStore {
  fault = null; // { at: "runInTransaction" | "commit" | "appendTransitions", mode }
  async runInTransaction(fn) {
    const f = this.fault;
    if (f?.at === "runInTransaction") return failing(f.mode, "runInTransaction")();
    if (f?.at === "commit") {
      // The transaction body runs, then the commit fails: nothing is kept.
      this.transactions++;
      await fn({ staged: [] });
      return failing(f.mode, "commit")();
    }
    return super.runInTransaction(fn);
  }
  appendTransitions(args) {
    const f = this.fault;
    if (f?.at === "appendTransitions") return failing(f.mode, "appendTransitions")();
    return super.appendTransitions(args);
  }
}

async function world({ hostStore }) {
  const clock = new FakeClock();
  const table = new Table();
  const store = hostStore ? new FaultyStore() : undefined;
  const logger = quietLogger();
  const inject = { read: null, apply: null, emit: null, handler: null, deriver: null };
  const emitted = [];
  const handled = [];
  const engine = await createEngine({
    now: clock.now,
    logger,
    transitions: store,
    emit: (e) => {
      if (inject.emit) return failing(inject.emit, "emit")();
      emitted.push(e);
    },
  });
  const read = (ids) => (inject.read ? failing(inject.read, "read")() : table.read(ids));
  const handle = engine.defineEntity({ kind: "sys", state: systemSchema, read });
  engine.onEntityChanged({
    kind: "sys",
    handler: (e) => {
      handled.push(e);
      if (inject.handler) return failing(inject.handler, "handler")();
    },
  });
  engine.onEntityChanged({ kind: "sys", handler: () => {} }); // a bystander
  engine.registerChangeDeriver({
    kind: "sys",
    derive: (c) => (inject.deriver ? failing(inject.deriver, "deriver")() : [`sys.${c.next ? "up" : "gone"}`]),
  });
  engine.registerChangeDeriver({ kind: "sys", derive: () => ["sys.any"] });
  const history = async (id) => (store ? store.rows.filter((r) => r.entityId === id).reverse() : handle.history(id));
  const write = (id, state) =>
    handle.mutate({
      id,
      apply: inject.apply ? failing(inject.apply, "apply") : table.put(id, state),
    });
  return { engine, handle, table, store, logger, inject, emitted, handled, history, write, clock };
}

function assertNoDuplicateRows(rows) {
  const keys = rows.map((r) =>
    JSON.stringify([r.kind, r.entityId, r.field, r.fromValue, r.toValue, r.transitionedAt.getTime()]),
  );
  assert.equal(new Set(keys).size, keys.length, `duplicate transition rows: ${keys.join("\n")}`);
}

// The faults, each with what SPEC §5/§6 says happens to the write.
const faults = [
  // [name, where, modes, the write: "fails-before" (nothing happened) | "fails-after" (host write stands) | "succeeds"]
  ["read", "read", "fails-before"],
  ["apply", "apply", "fails-before"],
  ["runInTransaction", "store", "fails-after"],
  ["transaction commit", "store", "fails-after"],
  ["appendTransitions", "store", "fails-after"],
  ["emit", "emit", "succeeds"],
  ["subscription handler", "handler", "succeeds"],
  ["deriver", "deriver", "succeeds"],
];
const storeFault = {
  runInTransaction: "runInTransaction",
  "transaction commit": "commit",
  appendTransitions: "appendTransitions",
};

describe("fault injection: one failing callback at a time", () => {
  for (const hostStore of [false, true]) {
    for (const [name, where, outcome] of faults) {
      if (where === "store" && !hostStore) continue;
      for (const mode of ["throw", "reject"]) {
        test(`${name} ${mode === "throw" ? "throws" : "rejects"} (${hostStore ? "host store" : "embedded store"})`, async () => {
          const w = await world({ hostStore });
          const { table, inject, emitted, handled, history, write, engine, logger, clock } = w;
          await write("a", sys("v1"));
          await settle();
          assert.equal(emitted.length, 1);
          const rowsBefore = (await history("a")).length;
          clock.advance(10);

          // ---- the fault
          if (where === "store") w.store.fault = { at: storeFault[name], mode };
          else inject[where] = mode;
          let error;
          try {
            await write("a", sys("v2"));
          } catch (e) {
            error = e;
          }
          await settle();
          if (where === "store") w.store.fault = null;
          else inject[where] = null;

          const rowsAfter = await history("a");
          assertNoDuplicateRows(rowsAfter);
          if (outcome === "fails-before") {
            assert.ok(error, "the failure propagates");
            assert.match(error.message, new RegExp(`${where} (threw|rejected)`));
            assert.deepEqual(table.rows.get("a"), sys("v1"), "the host's data is unchanged");
            assert.equal(rowsAfter.length, rowsBefore, "no transition row");
            assert.equal(emitted.length, 1, "no event");
            assert.equal(handled.length, 1, "no handler call");
            if (w.store) assert.equal(w.store.transactions, 1, "no transaction opened");
          } else if (outcome === "fails-after") {
            assert.ok(error instanceof EntityReactorError, `expected an EntityReactorError, got ${error}`);
            assert.equal(error.code, ErrorCode.ER_STORE);
            assert.match(error.cause.message, /(runInTransaction|commit|appendTransitions) (threw|rejected)/);
            assert.deepEqual(
              table.rows.get("a"),
              sys("v2"),
              "the host's write stands (a history gap, not a corrupted state)",
            );
            assert.equal(rowsAfter.length, rowsBefore, "the failed transaction kept no rows");
            assert.equal(emitted.length, 1, "no event for a change whose history was not written");
            assert.equal(handled.length, 1, "no handler call either");
          } else {
            assert.equal(error, undefined, `the write must succeed: ${error?.stack}`);
            assert.deepEqual(table.rows.get("a"), sys("v2"));
            assert.equal(rowsAfter.length, rowsBefore + 1, "one row (name)");
            assert.equal(handled.length, 2, "the handler ran once");
            if (where === "emit") {
              assert.equal(emitted.length, 1, "the failing emit delivered nothing");
              assert.ok(
                logger.errors.some((m) => /emit failed/.test(m)),
                logger.errors.join("\n"),
              );
            } else {
              assert.equal(emitted.length, 2, "emitted once");
            }
            if (where === "handler")
              assert.ok(
                logger.errors.some((m) => /handler for kind "sys" failed/.test(m)),
                logger.errors.join("\n"),
              );
            if (where === "deriver") {
              inject.deriver = mode;
              const ids = engine.derive(handled[1]);
              inject.deriver = null;
              assert.deepEqual(ids, ["sys.any"], "the failing deriver is skipped, the others count");
              await settle();
              assert.ok(
                logger.warnings.some((m) => /deriver for kind "sys"/.test(m)),
                logger.warnings.join("\n"),
              );
            }
          }
          assert.equal(engine.pendingWrites, 0, "no write left in line");

          // ---- the next write works and diffs against the host's real data
          clock.advance(10);
          const before = table.rows.get("a");
          await write("a", sys("v3"));
          await settle();
          const last = handled.at(-1);
          assert.equal(last.next.name, "v3");
          assert.deepEqual(last.prev, before, "prev is the host's data");
          assert.deepEqual(last.changedFields, ["name"]);
          assert.equal(emitted.at(-1).next.name, "v3");
          const final = await history("a");
          assertNoDuplicateRows(final);
          assert.equal(final.length, rowsAfter.length + 1);
          assert.deepEqual([final[0].fromValue, final[0].toValue], [before.name, "v3"]);
          assert.deepEqual(engine.derive(last), ["sys.up", "sys.any"]);
        });
      }
    }
  }
});

describe("fault injection: removal and ingest", () => {
  for (const hostStore of [false, true]) {
    test(`remove and ingest with failing read/apply/append (${hostStore ? "host store" : "embedded store"})`, async () => {
      const w = await world({ hostStore });
      const { table, inject, emitted, engine, handle } = w;
      await w.write("a", sys("a"));
      await w.write("b", sys("b"));
      for (const mode of ["throw", "reject"]) {
        inject.read = mode;
        await assert.rejects(handle.remove({ id: "a", apply: table.del("a") }), /read (threw|rejected)/);
        await assert.rejects(engine.ingest("sys", [{ id: "a", next: sys("a2") }]), /read (threw|rejected)/);
        inject.read = null;
        await assert.rejects(handle.remove({ id: "a", apply: failing(mode, "apply") }), /apply (threw|rejected)/);
        await assert.rejects(
          engine.ingest("sys", [{ id: "a", next: sys("a2") }], { apply: failing(mode, "apply") }),
          /apply (threw|rejected)/,
        );
        assert.ok(table.rows.has("a"));
        assert.equal(emitted.length, 2);
        if (w.store) {
          w.store.fault = { at: "appendTransitions", mode };
          const e = await engine.ingest("sys", [{ id: "b", next: sys("b2") }]).catch((x) => x);
          assert.equal(e.code, ErrorCode.ER_STORE);
          w.store.fault = null;
          assert.equal(emitted.length, 2, "no event for a batch whose append failed");
        }
        assert.equal(engine.pendingWrites, 0);
      }
      const changes = await engine.ingest("sys", [
        { id: "b", next: sys("b3") },
        { id: "a", next: null },
      ]);
      assert.deepEqual(
        changes.map((c) => [c.id, c.prev?.name, c.next?.name ?? null]),
        [
          ["b", "b", "b3"],
          ["a", "a", null],
        ],
      );
      assert.equal(emitted.length, 4);
      const rows = w.store ? w.store.rows : [...(await handle.history("a")), ...(await handle.history("b"))];
      assertNoDuplicateRows(rows);
    });
  }
});

describe("fault injection: callbacks that misbehave without throwing", () => {
  test("an async deriver that rejects is not an unhandled rejection", async () => {
    const w = await world({ hostStore: false });
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      w.engine.registerChangeDeriver({
        kind: "sys",
        derive: async () => {
          throw new Error("async deriver");
        },
      });
      await w.write("a", sys("a"));
      assert.deepEqual(w.engine.derive(w.handled[0]), ["sys.up", "sys.any"]);
      await settle();
      await settle();
      assert.deepEqual(unhandled.map(String), []);
      assert.ok(
        w.logger.warnings.some((m) => /deriver/.test(m)),
        w.logger.warnings.join("\n"),
      );
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("read returning garbage, apply returning non-objects: typed errors, the host store untouched", async () => {
    const w = await world({ hostStore: true });
    const { handle, table, engine, emitted } = w;
    await w.write("a", sys("a"));
    const bad = engine.defineEntity({ kind: "bad", state: systemSchema, read: async () => 42 });
    await assert.rejects(
      bad.mutate({ id: "x", apply: async () => sys("x") }),
      (e) => e.code === ErrorCode.ER_BAD_ARGUMENT,
    );
    for (const next of [null, 5, "s", [1], undefined]) {
      const e = await handle.mutate({ id: "a", apply: async () => next }).catch((x) => x);
      assert.equal(e.code, ErrorCode.ER_NOT_OBJECT, String(next));
    }
    assert.equal(w.store.transactions, 1);
    assert.equal(emitted.length, 1);
    assert.deepEqual(table.rows.get("a"), sys("a"));
    await w.write("a", sys("a2"));
    assert.equal(emitted.length, 2);
  });
});
