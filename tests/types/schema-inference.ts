// State types inferred from the schema: zod 4 (output for states, input for
// apply) and JSON Schema literals (json-schema-to-ts, read with the engine's
// strip-unknown-keys semantics); field-name parameters take only the kind's
// fields; validate() and get() return what the engine returns.
import { z } from "zod";
import { createEngine, type EntityHandle, type EntityState, type InputOf, type StateOf } from "entity-reactor";
import type { Equal, Expect } from "./expect.js";

const engine = await createEngine();

// ---------------------------------------------------------------- zod 4

const Todo = z.object({
  title: z.string().min(1),
  done: z.boolean().default(false),
  tags: z.array(z.string()).optional(),
});
type TodoState = z.output<typeof Todo>;
type TodoInput = z.input<typeof Todo>;

const todos = engine.defineEntity({ kind: "todo", state: Todo, read: async () => ({}) });
type _zodHandle = Expect<Equal<typeof todos, EntityHandle<TodoState, TodoInput, "todo">>>;
type _zodStateOf = Expect<Equal<StateOf<typeof Todo>, TodoState>>;
type _zodInputOf = Expect<Equal<InputOf<typeof Todo>, TodoInput>>;

const written = await todos.mutate({ id: "t1", apply: () => ({ title: "Write docs" }) }); // done has a default: may be omitted
type _mutateResolvesToOutput = Expect<Equal<typeof written, TodoState>>;
written.done satisfies boolean;
// @ts-expect-error title is required in the input too
await todos.mutate({ id: "t1", apply: () => ({ done: true }) });
// @ts-expect-error title is a string
await todos.mutate({ id: "t1", apply: async () => ({ title: 1 }) });

const found = await todos.get("t1");
type _getIsUndefinedWhenAbsent = Expect<Equal<typeof found, TodoState | undefined>>;
const many = await todos.getMany(["t1", "t2"]);
type _getMany = Expect<Equal<typeof many, Record<string, TodoState>>>;

const checked = todos.validate(JSON.parse('{"title":"x"}') as unknown);
type _validate = Expect<Equal<typeof checked, TodoState>>;

await todos.history("t1", { field: "done", limit: 1 });
await todos.history("t1");
// @ts-expect-error "dne" is not a field of todo
await todos.history("t1", { field: "dne" });
await todos.inStateSince("t1", "title");
// @ts-expect-error "titel" is not a field of todo
await todos.inStateSince("t1", "titel");
await todos.inStateForMs("t1", "tags");
// @ts-expect-error "nope" is not a field of todo
await todos.inStateForMs("t1", "nope");
await todos.transitionCount({ id: "t1", field: "done", windowMs: 60_000 });
// @ts-expect-error "don" is not a field of todo
await todos.transitionCount({ id: "t1", field: "don", windowMs: 60_000 });

// A zod schema typed only as "some zod type" gives no precise state.
declare const someZod: z.ZodType;
type _wideZod = Expect<Equal<StateOf<typeof someZod>, EntityState>>;

// ---------------------------------------------------------------- JSON Schema, inline

const notes = engine.defineEntity({
  kind: "note",
  state: {
    type: "object",
    properties: {
      text: { type: "string", minLength: 1 },
      pinned: { type: "boolean", default: false },
      color: { type: "string", enum: ["red", "green"] },
      due: { type: ["string", "null"] },
      where: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      extra: { type: "object", additionalProperties: true },
    },
    required: ["text", "pinned"],
  },
  read: () => ({}),
});
type _noteKind = Expect<Equal<typeof notes.kind, "note">>;
const note = await notes.mutate({ id: "n1", apply: () => ({ text: "hello" }) }); // pinned has a default
note.text satisfies string;
note.pinned satisfies boolean;
type _noteFields = Expect<Equal<keyof typeof note, "text" | "pinned" | "color" | "due" | "where" | "extra">>;
type _enum = Expect<Equal<NonNullable<typeof note.color>, "red" | "green">>;
type _nullable = Expect<Equal<NonNullable<typeof note.due> | null, string | null>>;
note.where?.city satisfies string | undefined;
// @ts-expect-error unknown keys are stripped: no index signature, nested objects included
note.where?.zip;
// @ts-expect-error unknown keys are stripped at the top level too
note.other;
note.extra?.["anything"] satisfies unknown; // additionalProperties: true keeps them
// @ts-expect-error text is required
await notes.mutate({ id: "n1", apply: () => ({ pinned: true }) });
// @ts-expect-error pinned is a boolean
await notes.mutate({ id: "n1", apply: () => ({ text: "x", pinned: "yes" }) });
// @ts-expect-error "txt" is not a field of note
await notes.history("n1", { field: "txt" });

// ---------------------------------------------------------------- JSON Schema, `as const`

const TaskSchema = {
  type: "object",
  properties: { name: { type: "string" }, priority: { type: "integer", default: 0 } },
  required: ["name", "priority"],
  additionalProperties: false,
} as const;
type Task = StateOf<typeof TaskSchema>;
type TaskInput = InputOf<typeof TaskSchema>;
type _task = Expect<Equal<keyof Task, "name" | "priority">>;
declare const task: Task;
task.priority satisfies number; // defaulted: always present in the state
declare const taskInput: TaskInput;
// @ts-expect-error defaulted: optional in the input
taskInput.priority satisfies number;
const tasks = engine.defineEntity({ kind: "task", state: TaskSchema, read: () => ({}) });
await tasks.mutate({ id: "k1", apply: () => ({ name: "n" }) });
await tasks.inStateSince("k1", "priority");
// @ts-expect-error "prio" is not a field of task
await tasks.inStateSince("k1", "prio");

// A schema typed as a plain record (not a literal): states are EntityState.
declare const loose: Record<string, unknown>;
const looseHandle = engine.defineEntity({ kind: "loose", state: loose, read: () => ({}) });
type _loose = Expect<Equal<Awaited<ReturnType<typeof looseHandle.mutate>>, EntityState>>;
await looseHandle.history("l1", { field: "anything" });

// ---------------------------------------------------------------- naming the state type yourself

interface Legacy {
  title: string;
}
const legacy = engine.defineEntity<Legacy>({ kind: "legacy", state: loose, read: () => ({}) });
type _legacy = Expect<Equal<typeof legacy, EntityHandle<Legacy>>>;
await legacy.inStateSince("x", "title");
// @ts-expect-error "name" is not a field of Legacy
await legacy.inStateSince("x", "name");

// @ts-expect-error a state schema is an object
engine.defineEntity({ kind: "bad", state: "object", read: () => ({}) });
// @ts-expect-error read is required
engine.defineEntity({ kind: "bad", state: Todo });
