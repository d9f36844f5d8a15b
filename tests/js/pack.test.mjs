// Packs js/ with `npm pack`, installs the tarball into an empty project and
// uses it from there as a consumer would. Needs js/wasm and js/src/generated
// (scripts/build-wasm.sh); `npm pack` runs the package's prepack script,
// scripts/build-js.sh, so the bundles in js/dist are built from js/src as it is
// now. Its one dependency (json-schema-to-ts, types) comes from the npm cache when it can.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const pkgDir = path.join(root, "js");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
// Settings inherited from an enclosing `npm --prefix ...` run would send the
// install elsewhere: drop them.
const env = {
  ...process.env,
  npm_config_update_notifier: "false",
  npm_config_audit: "false",
  npm_config_fund: "false",
};
for (const key of Object.keys(env))
  if (/^npm_config_(prefix|global|location|workspaces?|include_workspace_root)$/i.test(key)) delete env[key];
const STEP = { timeout: 45_000, env, maxBuffer: 16 << 20 };

let tmp;
let tarball;
let entries; // paths inside the tarball, without the "package/" prefix
let consumer;

async function walk(dir, rel = "") {
  const out = [];
  for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await walk(dir, name)));
    else out.push(name);
  }
  return out;
}

before(async () => {
  assert.ok(
    existsSync(path.join(pkgDir, "wasm/entity-reactor.wasm")) &&
      existsSync(path.join(pkgDir, "src/generated/constants.js")),
    "js/wasm or js/src/generated is missing: run scripts/build-wasm.sh",
  );
  tmp = await mkdtemp(path.join(os.tmpdir(), "er-pack-"));
  const packDir = path.join(tmp, "pack");
  consumer = path.join(tmp, "consumer");
  await run("mkdir", ["-p", packDir, consumer]);
  const { stdout } = await run(npm, ["pack", "--json", "--pack-destination", packDir], { ...STEP, cwd: pkgDir });
  const [info] = JSON.parse(stdout);
  tarball = path.join(packDir, info.filename);
  const listing = await run("tar", ["-tzf", tarball], STEP);
  entries = listing.stdout
    .split("\n")
    .filter(Boolean)
    .map((p) => p.replace(/^package\//, ""))
    .sort();
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("npm pack: the tarball holds the wasm, the glue, the bundle, the sources and the .d.ts files", async (t) => {
  const { size } = await stat(tarball);
  t.diagnostic(`tarball ${path.basename(tarball)}: ${size} bytes, ${entries.length} files`);
  console.log(`tarball size: ${size} bytes (${(size / 1024).toFixed(1)} KiB)`);
  for (const f of [
    "package.json",
    "wasm/entity-reactor.wasm",
    "wasm/entity-reactor.mjs",
    "src/index.js",
    "src/workerd.js",
    "src/load.js",
    "src/engine.js",
    "src/errors.js",
    "src/generated/constants.js",
  ])
    assert.ok(entries.includes(f), `${f} is packed (got ${entries.join(", ")})`);
  // Every runtime target of "exports" outside the workerd condition is a bundle in dist/.
  const manifest = JSON.parse(await readFile(path.join(pkgDir, "package.json"), "utf8"));
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (typeof target !== "object" || !target.types) continue; // the .wasm and package.json
    assert.match(target.default, /^\.\/dist\/.+\.js$/, `exports["${subpath}"].default is a bundle in dist/`);
    assert.ok(entries.includes(target.default.slice(2)), `${target.default} is packed`);
  }
  assert.equal(manifest.main, manifest.exports["."].default, "main is the bundled entry too");
  // Every declaration file in js/src (including generated ones) is packed.
  const dts = (await walk(path.join(pkgDir, "src"))).filter((f) => f.endsWith(".d.ts")).map((f) => `src/${f}`);
  assert.ok(dts.includes("src/generated/constants.d.ts"), "js/src/generated/constants.d.ts exists");
  for (const f of dts) assert.ok(entries.includes(f), `${f} is packed`);
});

test("npm pack: nothing but the package's own files (no tests, builds or sources of the core)", () => {
  const allowed =
    /^(package\.json|README(\.md)?|LICEN[CS]E(\.md)?|src\/.+\.(js|d\.ts)|dist\/.+\.js|wasm\/entity-reactor\.(mjs|wasm))$/i;
  for (const f of entries) {
    assert.match(f, allowed, `unexpected file in the tarball: ${f}`);
    assert.doesNotMatch(
      f,
      /(^|\/)(tests?|__tests__|fixtures)\/|\.(test|spec)\.[cm]?[jt]s$/,
      `test file in the tarball: ${f}`,
    );
  }
});

test("npm pack: dist holds ONE copy of the engine internals, shared by every entry, in ASCII", async () => {
  const dist = entries.filter((f) => f.startsWith("dist/") && f.endsWith(".js"));
  const text = Object.fromEntries(
    await Promise.all(dist.map(async (f) => [f, await readFile(path.join(pkgDir, f), "utf8")])),
  );
  const holding = (needle) => dist.filter((f) => text[f].includes(needle));
  // errors.js's class, load.js's cache (it finds the .wasm) and the Emscripten glue, each once.
  const errors = holding(`this.name = "EntityReactorError"`);
  const load = holding('new URL("../wasm/entity-reactor.wasm", import.meta.url)');
  const glue = holding("var createEntityReactorModule =");
  assert.equal(errors.length, 1, `EntityReactorError is defined once: ${errors.join(", ")}`);
  assert.deepEqual(load, errors, "load.js sits in the same chunk");
  assert.deepEqual(glue, errors, "the glue is bundled into the same chunk");
  // ../wasm/ resolves to the package's wasm/ only from directly inside dist/, as from src/.
  const [chunk] = errors;
  assert.equal(path.posix.dirname(chunk), "dist", `${chunk} is directly in dist/`);
  for (const entry of ["dist/index.js", "dist/catalog.js"])
    assert.ok(text[entry].includes(`from "./${path.posix.basename(chunk)}"`), `${entry} imports the shared chunk`);
  // esbuild escapes non-ASCII in code but not in comments: one such character
  // would make V8 hold and scan the whole file as two-byte (a slower cold start).
  for (const f of dist) assert.doesNotMatch(text[f], /[\u0080-\uffff]/, `${f} is ASCII`);
});

// Files package.json points at that are not written yet. Once they exist in
// js/src the next test stops being a todo and must pass.
const pending = ["src/index.d.ts", "src/catalog.js", "src/catalog.d.ts"].filter(
  (f) => !existsSync(path.join(pkgDir, f)),
);

test(
  "npm pack: every path package.json names (main, types, exports) is in the tarball",
  { todo: pending.length ? `not written yet: ${pending.join(", ")}` : false },
  async () => {
    const manifest = JSON.parse(await readFile(path.join(pkgDir, "package.json"), "utf8"));
    const targets = new Set([manifest.main, manifest.types]);
    const collect = (value) => {
      if (typeof value === "string") targets.add(value);
      else if (value && typeof value === "object") Object.values(value).forEach(collect);
    };
    collect(manifest.exports);
    const missing = [...targets]
      .filter(Boolean)
      .map((p) => p.replace(/^\.\//, ""))
      .filter((p) => !entries.includes(p));
    assert.deepEqual(missing, [], "package.json names files the tarball lacks");
  },
);

test("npm pack: installed into an empty project, the package works from node_modules", async () => {
  await run(npm, ["init", "-y"], { ...STEP, cwd: consumer });
  const manifestPath = path.join(consumer, "package.json");
  const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
  manifest.type = "module";
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  await run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { ...STEP, cwd: consumer });
  const installed = path.join(consumer, "node_modules/entity-reactor");
  assert.ok(existsSync(path.join(installed, "wasm/entity-reactor.wasm")), "installed with its wasm");
  assert.ok(!existsSync(path.join(consumer, "node_modules/esbuild")), "esbuild, a devDependency, is not installed");

  const script = `
import { readFile } from "node:fs/promises";
// Counts compilations of the packaged module (the glue's own tiny modules
// are smaller), before the package is imported: the entries must share one.
let compiles = 0;
const big = (bytes) => (bytes?.byteLength ?? 0) > 100_000;
const compile = WebAssembly.compile;
WebAssembly.compile = (bytes, ...rest) => (big(bytes) && compiles++, compile.call(WebAssembly, bytes, ...rest));
WebAssembly.Module = new Proxy(WebAssembly.Module, { construct: (target, args) => (big(args[0]) && compiles++, Reflect.construct(target, args)) });

const { createEngine, SYSTEM_ACTOR, ErrorCode, EntityReactorError } = await import("entity-reactor");
const catalog = await import("entity-reactor/catalog");
const redis = await import("entity-reactor/bus/redis");
const subpaths = ["entity-reactor", "entity-reactor/catalog", "entity-reactor/stores/indexeddb", "entity-reactor/stores/sqlite",
  "entity-reactor/stores/postgres", "entity-reactor/stores/durable-object", "entity-reactor/bus/redis"];
for (const s of subpaths.slice(3)) await import(s); // every entry loads
const resolvedAll = Object.fromEntries(subpaths.map((s) => [s, import.meta.resolve(s)]));

const table = new Map();
const read = (ids) => Object.fromEntries(ids.filter((id) => table.has(id)).map((id) => [id, table.get(id)]));
const state = {
  type: "object",
  properties: { name: { type: "string" }, description: { type: ["string", "null"] }, metadata: { type: "object", additionalProperties: {} } },
  required: ["name"],
};
const events = [];
const engine = await createEngine({ emit: (e) => events.push(JSON.parse(JSON.stringify(e))) });
const widgets = engine.defineEntity({ kind: "widget", state, read });
const next = await widgets.mutate({ id: "w1", apply: () => { const s = { name: "alpha", description: null, metadata: {} }; table.set("w1", s); return s; } });
const history = (await widgets.history("w1")).map(({ field, fromValue, toValue }) => ({ field, fromValue, toValue }));
let error = null;
try { await widgets.mutate({ id: "w2", apply: () => ({ name: 42 }) }); } catch (e) { error = { code: e.code, isEntityReactorError: e instanceof EntityReactorError }; }

// entity-reactor/catalog on the same engine: a write, then its derivation.
const { systemEntity } = catalog.registerCatalogEntities(engine, { readSystems: read, readGroups: () => ({}) });
const billing = catalog.toCatalogSystemState({ name: "billing", description: null, metadata: { tier: 1 } });
await catalog.writeCatalogSystemEntity({ handle: systemEntity, systemId: "s1", apply: () => (table.set("s1", billing), billing) });
const systemEvent = events.find((e) => e.kind === catalog.CATALOG_SYSTEM_ENTITY_KIND);
const derived = { triggers: catalog.deriveCatalogSystemTriggerEvents(systemEvent), payload: catalog.catalogSystemChangeToPayload(systemEvent) };
// Its helpers throw the very EntityReactorError class "entity-reactor" exports.
const catalogErrors = [() => catalog.toCatalogSystemState(null), () => catalog.deriveCatalogSystemTriggerEvents("nope")].map((f) => {
  try { f(); return null; } catch (e) { return { code: e.code, isEntityReactorError: e instanceof EntityReactorError }; }
});
const redisError = await redis.createRedisBus(null).then(() => null, (e) => ({ name: e.name, code: e.code }));
const compilesBeforeBytes = compiles;
engine.close();

// The raw module is exported too: an engine from its bytes.
const wasmPath = new URL(import.meta.resolve("entity-reactor/wasm"));
const second = await createEngine({ wasm: await readFile(wasmPath) });
second.defineEntity({ kind: "other", state, read });
const secondKinds = second.kinds();
second.close();

console.log(JSON.stringify({
  resolved: import.meta.resolve("entity-reactor"),
  resolvedAll,
  wasm: wasmPath.pathname.endsWith("/node_modules/entity-reactor/wasm/entity-reactor.wasm"),
  next, events: events.filter((e) => e.kind === "widget"), history, error, secondKinds, SYSTEM_ACTOR,
  schemaCode: ErrorCode.ER_SCHEMA,
  catalogExports: Object.keys(catalog).sort(),
  derived, catalogErrors, redisError, compilesBeforeBytes,
}));
`;
  await writeFile(path.join(consumer, "use.mjs"), script);
  const { stdout } = await run(process.execPath, ["use.mjs"], { ...STEP, cwd: consumer });
  const out = JSON.parse(stdout.trim().split("\n").at(-1));

  // The bundle is what a consumer loads (exports "default"), not src/.
  assert.ok(out.resolved.endsWith("/node_modules/entity-reactor/dist/index.js"), `main entry: ${out.resolved}`);
  for (const [subpath, url] of Object.entries(out.resolvedAll))
    assert.match(url, /\/node_modules\/entity-reactor\/dist\/[a-z/-]+\.js$/, `${subpath} resolves into dist/: ${url}`);
  assert.equal(out.wasm, true, '"entity-reactor/wasm" resolves to the packed .wasm');
  assert.deepEqual(out.next, { name: "alpha", description: null, metadata: {} });
  assert.equal(out.events.length, 1);
  const [event] = out.events;
  assert.match(event.changeId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(event.occurredAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  delete event.changeId;
  delete event.occurredAt;
  assert.deepEqual(event, {
    kind: "widget",
    id: "w1",
    prev: null,
    next: { name: "alpha", description: null, metadata: {} },
    delta: { metadata: {}, name: "alpha" },
    changedFields: ["metadata", "name"],
    actor: { type: "system" },
  });
  assert.deepEqual(
    out.history.sort((a, b) => a.field.localeCompare(b.field)),
    [
      { field: "metadata", fromValue: null, toValue: "{}" },
      { field: "name", fromValue: null, toValue: "alpha" },
    ],
  );
  assert.deepEqual(out.error, { code: "ER_SCHEMA", isEntityReactorError: true });
  assert.equal(out.schemaCode, "ER_SCHEMA");
  assert.deepEqual(out.secondKinds, ["other"]);
  assert.deepEqual(out.SYSTEM_ACTOR, { type: "system" });
  assert.ok(out.catalogExports.includes("registerCatalogEntities"), "entity-reactor/catalog exports its API");
  assert.deepEqual(out.derived, {
    triggers: ["catalog.created"],
    payload: { changedFields: ["metadata", "name"], systemId: "s1", systemName: "billing" },
  });
  assert.deepEqual(out.catalogErrors, [
    { code: "ER_BAD_ARGUMENT", isEntityReactorError: true },
    { code: "ER_BAD_ARGUMENT", isEntityReactorError: true },
  ]);
  assert.deepEqual(
    out.redisError,
    { name: "TypeError", code: "ER_BAD_ARGUMENT" },
    "entity-reactor/bus/redis loads beside them",
  );
  // createEngine and the catalog helpers used one loaded module (one load.js).
  assert.equal(out.compilesBeforeBytes, 1, "the packaged .wasm is compiled once for every entry");
});
