// The in-memory reference TransitionStore of the contract suite: the host
// store contract over an array (like tests/js/helpers.mjs's HostStore), with
// the same row constraints as the SQL tables (kind, entityId, field, toValue
// and transitionedAt required), so a bad row fails its transaction here too.
export function createMemoryTransitionStore() {
  const rows = [];
  let seq = 0;
  const newestFirst = (a, b) => b.transitionedAt.getTime() - a.transitionedAt.getTime() || b.seq - a.seq;
  const strip = ({ seq: _seq, ...row }) => ({ ...row, transitionedAt: new Date(row.transitionedAt) });
  const of = (kind, entityId, field) =>
    rows.filter((r) => r.kind === kind && r.entityId === entityId && (field === undefined || r.field === field)).sort(newestFirst);
  const check = (r) => {
    for (const key of ["kind", "entityId", "field", "toValue"])
      if (typeof r[key] !== "string") throw new Error(`memory store: ${key} must be text (NOT NULL)`);
    if (!(r.transitionedAt instanceof Date) || Number.isNaN(r.transitionedAt.getTime()))
      throw new Error("memory store: transitionedAt must be a Date (NOT NULL)");
  };
  return {
    name: "memory",
    rows,
    async runInTransaction(fn) {
      const tx = { staged: [], open: true };
      let result;
      try {
        result = await fn(tx);
      } finally {
        tx.open = false;
      }
      for (const r of tx.staged) check(r); // all or nothing
      for (const r of tx.staged) rows.push({ ...r, seq: ++seq });
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
}
