// With @types/node: bytes read from disk, file URLs, `using`.
import { readFile } from "node:fs/promises";
import { createEngine } from "entity-reactor";

await createEngine({ wasm: await readFile("entity-reactor.wasm") });
await createEngine({ wasm: new URL("file:///opt/app/entity-reactor.wasm") });
{
  using engine = await createEngine();
  engine.kinds();
}
