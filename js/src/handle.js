// An entity kind's handle (SPEC §5): what defineEntity returns. Every
// method routes to the engine; the handle holds the kind's read accessor
// and its write queue.
import { badArgument } from "./errors.js";
import { WriteQueue } from "./queue.js";

export class EntityHandle {
  #engine;
  /** @internal */ read;
  /** @internal */ index;
  /** @internal */ fields;
  /** @internal */ queue = new WriteQueue();
  /** @internal */ states;

  constructor(engine, kind, index, fields, read, states) {
    this.#engine = engine;
    this.kind = kind;
    this.index = index;
    this.fields = fields;
    this.read = read;
    this.states = states;
  }
  mutate(args) {
    return this.#engine.write(this, args, false);
  }
  remove(args) {
    return this.#engine.write(this, args, true);
  }
  /** The state validated (and normalised) as a write would: throws ER_SCHEMA. */
  validate(state) {
    return this.#engine.validate(this, state);
  }
  get(id) {
    if (typeof id !== "string") return Promise.reject(badArgument("get(id): id must be a string", "id"));
    return this.#engine.readState(this, id);
  }
  async getMany(ids) {
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string"))
      throw badArgument("getMany(ids): ids must be an array of strings", "ids");
    return this.#engine.readMany(this, ids);
  }
  inStateSince(id, field) {
    return this.#engine.inStateSince(this, id, field);
  }
  async inStateForMs(id, field) {
    const since = await this.inStateSince(id, field);
    return since === null ? 0 : Math.max(0, this.#engine.clockNow() - since.getTime());
  }
  transitionCount(args) {
    return this.#engine.transitionCount(this, args);
  }
  history(id, options) {
    return this.#engine.history(this, id, options);
  }
}
