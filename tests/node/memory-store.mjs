// The in-memory reference TransitionStore of the contract suite: the host
// store contract over an array (like tests/js/helpers.mjs's HostStore), with
// the same row constraints as the SQL tables (kind, entityId, field, toValue
// and transitionedAt required), so a bad row fails its transaction here too.
// Rows are matched on kind, entityId and field as separate values, so no
// separator can merge two logs. With { outbox: true } it also keeps the
// outbox contract of the SQL stores (appendChanges, relayOutbox, ...), one
// relay at a time.
export function createMemoryTransitionStore({ outbox = false } = {}) {
  const rows = [];
  const changes = []; // { seq, changeId, kind, id, event, publishedAt }
  const watchers = new Set();
  let seq = 0;
  let changeSeq = 0;
  let relaying = false;
  const newestFirst = (a, b) => b.transitionedAt.getTime() - a.transitionedAt.getTime() || b.seq - a.seq;
  const strip = ({ seq: _seq, ...row }) => ({ ...row, transitionedAt: new Date(row.transitionedAt) });
  const of = (kind, entityId, field) =>
    rows
      .filter((r) => r.kind === kind && r.entityId === entityId && (field === undefined || r.field === field))
      .sort(newestFirst);
  const check = (r) => {
    for (const key of ["kind", "entityId", "field", "toValue"])
      if (typeof r[key] !== "string") throw new Error(`memory store: ${key} must be text (NOT NULL)`);
    if (!(r.transitionedAt instanceof Date) || Number.isNaN(r.transitionedAt.getTime()))
      throw new Error("memory store: transitionedAt must be a Date (NOT NULL)");
  };
  const store = {
    name: "memory",
    rows,
    outbox,
    async runInTransaction(fn) {
      const tx = { staged: [], changes: [], open: true };
      let result;
      try {
        result = await fn(tx);
      } finally {
        tx.open = false;
      }
      for (const r of tx.staged) check(r); // all or nothing
      for (const r of tx.staged) rows.push({ ...r, seq: ++seq });
      for (const c of tx.changes) changes.push({ ...c, seq: ++changeSeq, publishedAt: null });
      if (tx.changes.length) for (const w of watchers) w();
      return result;
    },
    async appendTransitions({ tx, kind, entityId, transitions }) {
      await Promise.resolve();
      if (!tx?.open) throw new Error("memory store: not in a transaction");
      for (const r of transitions) tx.staged.push({ ...r, kind: r.kind ?? kind, entityId: r.entityId ?? entityId });
    },
    async inStateSince({ kind, entityId, field, currentValue }) {
      const hit = of(kind, entityId, field).find((r) => r.toValue === currentValue);
      return hit ? new Date(hit.transitionedAt) : null;
    },
    async transitionCount({ kind, entityId, field, windowMs, now }) {
      return of(kind, entityId, field).filter((r) => r.transitionedAt.getTime() >= now.getTime() - windowMs).length;
    },
    async history({ kind, entityId, field, limit }) {
      const out = of(kind, entityId, field).map(strip);
      return limit ? out.slice(0, limit) : out;
    },
  };
  if (!outbox) return store;
  return Object.assign(store, {
    changes,
    async appendChanges({ tx, kind, changes: events }) {
      if (!tx?.open) throw new Error("memory store: not in a transaction");
      for (const c of events)
        tx.changes.push({ changeId: c.changeId, kind: c.kind ?? kind, id: c.id, event: JSON.stringify(c) });
    },
    async relayOutbox({ owner, limit = 100 }, publish) {
      if (typeof owner !== "string" || owner === "")
        throw new TypeError("relayOutbox: owner must be a non-empty string");
      if (relaying) return { locked: true, count: 0, published: 0 };
      relaying = true;
      try {
        const batch = changes.filter((c) => c.publishedAt === null).slice(0, limit);
        if (!batch.length) return { locked: false, count: 0, published: 0 };
        const published = Math.max(
          0,
          Math.min(
            batch.length,
            Number(
              await publish(batch.map(({ seq, changeId, kind, id, event }) => ({ seq, changeId, kind, id, event }))),
            ) || 0,
          ),
        );
        const at = new Date();
        for (const c of batch.slice(0, published)) c.publishedAt = at;
        return { locked: false, count: batch.length, published };
      } finally {
        relaying = false;
      }
    },
    async releaseOutbox() {},
    async pruneOutbox({ before }) {
      let n = 0;
      for (let i = changes.length - 1; i >= 0; i--)
        if (changes[i].publishedAt !== null && changes[i].publishedAt < before) {
          changes.splice(i, 1);
          n++;
        }
      return n;
    },
    async outboxBacklog() {
      return changes.filter((c) => c.publishedAt === null).length;
    },
    watchOutbox(listener) {
      const w = () => {
        try {
          listener();
        } catch {}
      };
      watchers.add(w);
      return () => void watchers.delete(w);
    },
  });
}
