// The README's quick start is examples/quickstart.mjs, verbatim, and it runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

test("README quick start is the example file and prints what it says", () => {
  const example = readFileSync(`${root}examples/quickstart.mjs`, "utf8");
  const readme = readFileSync(`${root}README.md`, "utf8");
  assert.ok(readme.includes(example.trim()), "README.md must include examples/quickstart.mjs verbatim");
  // Resolve "entity-reactor" the way an installed package would be.
  mkdirSync(`${root}examples/node_modules`, { recursive: true });
  if (!existsSync(`${root}examples/node_modules/entity-reactor`))
    symlinkSync("../../js", `${root}examples/node_modules/entity-reactor`);
  const out = execFileSync(process.execPath, [`${root}examples/quickstart.mjs`], { encoding: "utf8" });
  assert.match(out, /changed: t1 \[ 'done', 'title' \] \{ done: false, title: 'Write docs' \}/);
  assert.match(out, /changed: t1 \[ 'done' \] \{ done: true \}/);
  assert.match(out, /done went false -> true/);
  assert.match(out, /ER_SCHEMA title/);
});
