#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function,
// grouped into WASM (the core), the Emscripten glue, the package's JS
// (js/src), the bench's host code, Node internals, GC and the rest.
//
//   node bench/cpuprofile-top.mjs PROFILE.cpuprofile [--top 15] [--json]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "15" }, json: { type: "boolean", default: false } },
});
if (positionals.length !== 1) {
  console.error("usage: cpuprofile-top.mjs PROFILE.cpuprofile [--top N] [--json]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], "utf8"));

function category(frame) {
  const { url, functionName } = frame;
  if (url.startsWith("wasm://") || url.endsWith(".wasm")) return "WASM";
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(program)" || functionName === "(idle)" || functionName === "(root)") return functionName;
  if (url.endsWith("/wasm/entity-reactor.mjs")) return "glue";
  if (url.includes("/bench/")) return "bench host";
  if (url.includes("/src/")) return "JS (js/src)";
  if (url.startsWith("node:")) return "node";
  return url === "" ? "builtin/native" : "other JS";
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self]
  .filter(([id]) => byId.get(id).callFrame.functionName === "(idle)")
  .reduce((a, [, t]) => a + t, 0);
const busy = total - idle;

const functions = new Map();
const categories = new Map();
for (const [id, us] of self) {
  const f = byId.get(id).callFrame;
  const cat = category(f);
  if (cat === "(idle)") continue;
  const file = f.url.split("/").pop();
  const key = `${cat}\u0000${f.functionName || "(anonymous)"}\u0000${file}:${f.lineNumber + 1}`;
  functions.set(key, (functions.get(key) ?? 0) + us);
  categories.set(cat, (categories.get(cat) ?? 0) + us);
}
const pct = (us) => ((100 * us) / busy).toFixed(1);
const top = [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top));
const cats = [...categories].sort((a, b) => b[1] - a[1]);

if (args.json) {
  console.log(
    JSON.stringify(
      {
        busyMs: busy / 1000,
        categories: cats.map(([c, us]) => ({ category: c, ms: us / 1000, pct: Number(pct(us)) })),
        top: top.map(([k, us]) => {
          const [cat, fn, where] = k.split("\u0000");
          return { category: cat, function: fn, where, ms: us / 1000, pct: Number(pct(us)) };
        }),
      },
      null,
      2,
    ),
  );
} else {
  console.log(`busy ${(busy / 1000).toFixed(0)} ms (idle excluded)\n\nby category:`);
  for (const [c, us] of cats) console.log(`  ${pct(us).padStart(5)}%  ${c}`);
  console.log(`\ntop ${top.length} functions by self time:`);
  console.log("| # | self % | where | function |\n|---|---|---|---|");
  top.forEach(([k, us], i) => {
    const [cat, fn, where] = k.split("\u0000");
    const shown = fn.length > 90 ? `${fn.slice(0, 87)}...` : fn;
    console.log(
      `| ${i + 1} | ${pct(us)} | ${cat === "WASM" ? "WASM" : `${cat} ${where}`} | \`${shown.replace(/\|/g, "\\|")}\` |`,
    );
  });
}
