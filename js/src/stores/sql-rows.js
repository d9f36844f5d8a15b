// Shared by the SQLite and PostgreSQL transition stores (not a public entry
// point): both tables have the columns of entity_transitions.

/** A row of an entity_transitions table as a TransitionRow. */
export function transitionFromSqlRow(r, transitionedAt) {
  return {
    kind: r.kind,
    entityId: r.entity_id,
    field: r.field,
    fromValue: r.from_value,
    toValue: r.to_value,
    transitionedAt,
  };
}
