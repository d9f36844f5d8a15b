// The hand-written .d.ts files against what the package really exports.
// For every entry of js/package.json "exports", the names its "types" file
// declares as values are read with the TypeScript compiler and compared with
// the module's runtime exports, both ways: a declared name that is missing at
// runtime, or a runtime export no declaration mentions, fails. Declared
// functions and classes must be functions; declared string literals and
// objects of literals (ErrorCode, trigger ids) must have those values. The
// members declared for an engine, a handle and the secret masker must exist on
// real ones. Only public surfaces are compared: no implementation detail.
//
//   node --test tests/types/exports.test.mjs      (needs js/wasm: scripts/build-wasm.sh)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const pkgDir = path.join(root, "js");
const manifest = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));

// entry → { types, runtime: { condition: file } }
const entries = [];
for (const [subpath, target] of Object.entries(manifest.exports)) {
  if (typeof target !== "object" || !target.types) continue; // the .wasm and package.json
  const runtime = Object.fromEntries(Object.entries(target).filter(([condition]) => condition !== "types"));
  entries.push({ subpath, types: path.join(pkgDir, target.types), runtime });
}

// One program over every declaration file and the JS entries (allowJs), so
// conditions that cannot run under Node (workerd) are still read.
const runtimeFiles = entries.flatMap((e) => Object.values(e.runtime).map((f) => path.join(pkgDir, f)));
const program = ts.createProgram([...entries.map((e) => e.types), ...runtimeFiles], {
  allowJs: true,
  checkJs: false,
  noEmit: true,
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  types: [],
});
const checker = program.getTypeChecker();

function moduleExports(file) {
  const source = program.getSourceFile(file);
  assert.ok(source, `${path.relative(root, file)} is in the program`);
  const symbol = checker.getSymbolAtLocation(source);
  return symbol ? checker.getExportsOfModule(symbol) : [];
}

const resolve = (symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);

/** Declared value exports: name → { kind, type }. Types and interfaces are skipped. */
function declaredValues(file) {
  const out = new Map();
  for (const exported of moduleExports(file)) {
    const symbol = resolve(exported);
    if (!(symbol.flags & ts.SymbolFlags.Value)) continue;
    const kind = symbol.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class) ? "function" : "value";
    out.set(exported.name, { kind, symbol });
  }
  return out;
}

/** The literal value a declared type pins down, or undefined when it pins none. */
function literalOf(type, depth = 0) {
  if (type.isStringLiteral() || type.isNumberLiteral()) return { value: type.value };
  if (
    depth > 3 ||
    !(type.flags & ts.TypeFlags.Object) ||
    checker.getSignaturesOfType(type, ts.SignatureKind.Call).length
  )
    return undefined;
  const props = checker.getPropertiesOfType(type);
  if (props.length === 0) return undefined;
  const value = {};
  for (const prop of props) {
    const inner = literalOf(checker.getTypeOfSymbol(prop), depth + 1);
    if (!inner) return undefined;
    value[prop.name] = inner.value;
  }
  return { value };
}

/** Member names declared by an interface or class exported from a declaration file. */
function declaredMembers(file, name) {
  const symbol = moduleExports(file)
    .map(resolve)
    .find((s) => s.name === name);
  assert.ok(symbol, `${name} is declared in ${path.relative(root, file)}`);
  return checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).map((p) => {
    const wellKnown = /^__@(\w+)@\d+$/.exec(p.escapedName);
    return wellKnown ? Symbol[wellKnown[1]] : p.name;
  });
}

for (const entry of entries) {
  const label = entry.subpath === "." ? "entity-reactor" : `entity-reactor/${entry.subpath.slice(2)}`;
  const declared = declaredValues(entry.types);

  test(`${label}: the declared values and the runtime exports are the same names`, async () => {
    const runtime = await import(pathToFileURL(path.join(pkgDir, entry.runtime.default)).href);
    const names = Object.keys(runtime).sort();
    const missing = [...declared.keys()].filter((n) => !(n in runtime)).sort();
    const undeclared = names.filter((n) => !declared.has(n));
    assert.deepEqual(
      missing,
      [],
      `${label}: declared in ${manifest.exports[entry.subpath].types} but not exported at runtime`,
    );
    assert.deepEqual(
      undeclared,
      [],
      `${label}: exported at runtime but declared nowhere (add it to ${manifest.exports[entry.subpath].types})`,
    );
    for (const [name, { kind, symbol }] of declared) {
      if (kind === "function")
        assert.equal(typeof runtime[name], "function", `${label}: ${name} is declared as a function or class`);
      else assert.notEqual(runtime[name], undefined, `${label}: ${name} is declared as a value`);
      const literal = literalOf(checker.getTypeOfSymbol(symbol));
      if (literal)
        assert.deepEqual(runtime[name], literal.value, `${label}: ${name} has the value its declaration names`);
    }
  });

  for (const [condition, file] of Object.entries(entry.runtime)) {
    if (condition === "default") continue;
    test(`${label} ("${condition}" condition, read statically): exports the same names as the default`, () => {
      const names = moduleExports(path.join(pkgDir, file))
        .map((s) => s.name)
        .sort();
      assert.deepEqual(
        names,
        [...declared.keys()].sort(),
        `${file} exports what ${manifest.exports[entry.subpath].types} declares`,
      );
    });
  }
}

test("an engine, a handle and the secret masker have every member their types declare", async () => {
  const index = path.join(pkgDir, manifest.exports["."].types);
  const { createEngine } = await import(pathToFileURL(path.join(pkgDir, manifest.exports["."].default)).href);
  const engine = await createEngine();
  try {
    const handle = engine.defineEntity({
      kind: "probe",
      state: { type: "object", properties: { a: { type: "string" } }, required: ["a"] },
      read: () => ({}),
    });
    const checks = [
      ["Engine", engine],
      ["EntityHandle", handle],
      ["SecretMasker", engine.secrets],
    ];
    for (const [name, instance] of checks) {
      const members = declaredMembers(index, name);
      assert.ok(members.length > 3, `${name} declares members`);
      const missing = members.filter((m) => !(m in instance)).map(String);
      assert.deepEqual(missing, [], `${name}: declared in index.d.ts but missing at runtime`);
    }
  } finally {
    engine.close();
  }
});
