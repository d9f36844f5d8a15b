// A typed kind map: createEngine<{ todo: Todo }>() types every call that
// takes a kind — unknown kinds are rejected, handlers, derivers, ingest and
// the emitter see ChangeEvent<Todo, "todo">. Without a map any kind goes.
import { z } from "zod";
import {
  createEngine,
  type ChangeEvent,
  type EntityHandle,
  type EntityState,
} from "entity-reactor";
import type { Equal, Expect } from "./expect.js";

interface Todo {
  title: string;
  done: boolean;
}
interface User {
  name: string;
}
type Kinds = { todo: Todo; user: User };

const engine = await createEngine<Kinds>({
  emit: (event) => {
    // A union discriminated on kind.
    if (event.kind === "todo") event.next?.done satisfies boolean | undefined;
    else event.next?.name satisfies string | undefined;
  },
});

const todoSchema: Record<string, unknown> = { type: "object" };
const todos = engine.defineEntity({ kind: "todo", state: todoSchema, read: async () => ({}) });
type _mapWins = Expect<Equal<typeof todos, EntityHandle<Todo, Todo, "todo">>>;
// @ts-expect-error "tood" is not a kind of this engine
engine.defineEntity({ kind: "tood", state: todoSchema, read: () => ({}) });

// A zod schema with a kind map: the map names the state, zod's input type types apply.
const UserSchema = z.object({ name: z.string().default("anonymous") });
const users = engine.defineEntity({ kind: "user", state: UserSchema, read: () => ({}) });
await users.mutate({ id: "u1", apply: () => ({}) });
type _userState = Expect<Equal<Awaited<ReturnType<typeof users.mutate>>, User>>;

engine.onEntityChanged({
  kind: "todo",
  handler: (change) => {
    type _change = Expect<Equal<typeof change, ChangeEvent<Todo, "todo">>>;
    change.prev?.title satisfies string | undefined;
    change.delta.done satisfies boolean | null | undefined;
    change.changedFields satisfies ("title" | "done")[];
    // @ts-expect-error Todo has no field "titel"
    change.delta.titel;
  },
});
engine.onEntityChanged({ kind: "user", handler: (change) => change.next?.name, delivery: { mode: "work-queue", workerGroup: "mail", maxRetries: 3 } });
// @ts-expect-error "tood" is not a kind of this engine
engine.onEntityChanged({ kind: "tood", handler: () => {} });
// @ts-expect-error a work-queue needs its workerGroup
engine.onEntityChanged({ kind: "todo", handler: () => {}, delivery: { mode: "work-queue" } });

engine.registerChangeDeriver({
  kind: "todo",
  derive: (change) => (change.prev ? (change.next?.done ? ["todo.done"] : ["todo.updated"]) : ["todo.created"]),
  toPayload: (change) => ({ todoId: change.id, title: change.next?.title }),
});
// @ts-expect-error Todo has no field "titel"
engine.registerChangeDeriver({ kind: "todo", derive: (change) => (change.next?.titel ? ["x"] : []) });
// @ts-expect-error "tood" is not a kind of this engine
engine.registerChangeDeriver({ kind: "tood", derive: () => [] });

const changes = await engine.ingest("todo", [
  { id: "a", next: { title: "A", done: false } },
  { id: "b", next: null },
]);
type _ingest = Expect<Equal<typeof changes, ChangeEvent<Todo, "todo">[]>>;
// @ts-expect-error a todo's title is a string
await engine.ingest("todo", [{ id: "a", next: { title: 1, done: false } }]);
// @ts-expect-error "tood" is not a kind of this engine
await engine.ingest("tood", []);
await engine.ingest("todo", [], { actor: { type: "user", id: "u1" }, apply: async () => {} });

engine.wire((event) => {
  switch (event.kind) {
    case "todo":
      event.delta.title satisfies string | null | undefined;
      break;
    case "user":
      event.delta.name satisfies string | null | undefined;
      break;
    default:
      event satisfies never;
  }
});
engine.derive(changes[0]!) satisfies string[];
engine.payload(changes[0]!) satisfies unknown;

// ---------------------------------------------------------------- no kind map: any kind

const open = await createEngine();
open.onEntityChanged({
  kind: "anything",
  handler: (change) => {
    type _open = Expect<Equal<typeof change, ChangeEvent<EntityState, "anything">>>;
  },
});
// Naming the state type per call still works.
open.onEntityChanged<Todo>({ kind: "todo", handler: (change) => change.next?.title });
open.registerChangeDeriver<Todo>({ kind: "todo", derive: (change) => (change.next?.done ? ["done"] : []) });
const openChanges = await open.ingest<Todo>("todo", [{ id: "a", next: { title: "A", done: true } }]);
type _openIngest = Expect<Equal<typeof openChanges, ChangeEvent<Todo>[]>>;
