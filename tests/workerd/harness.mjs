// Shared by the workerd suites: the package's modules as a bundler resolves
// them (the "workerd" export condition), and a workerd process started from
// a capnp config on a free loopback port, stopped by its process group.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const pkgDir = path.join(root, "js");
export const workerdBin = path.join(root, "tests/node_modules/.bin/workerd");

/** capnp text literals use JSON's escapes. */
export const capnpString = (s) => JSON.stringify(s);

export function checkPrerequisites() {
  assert.ok(existsSync(workerdBin), `${workerdBin} is missing: run \`npm ci --prefix tests\``);
  assert.ok(
    existsSync(path.join(pkgDir, "wasm/entity-reactor.wasm")) &&
      existsSync(path.join(pkgDir, "src/generated/constants.js")),
    "js/wasm or js/src/generated is missing: run scripts/build-wasm.sh",
  );
}

async function listJs(dir, rel = "") {
  const out = [];
  for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listJs(dir, name)));
    else if (entry.name.endsWith(".js") || entry.name.endsWith(".mjs")) out.push(name);
  }
  return out.sort();
}

// The file an export resolves to under workerd's conditions, as wrangler's
// esbuild resolves it (conditions "workerd", "worker", then the defaults).
function resolveExport(target) {
  if (typeof target === "string") return target;
  if (target === null || typeof target !== "object") return null;
  for (const condition of ["workerd", "worker", "import", "default"])
    if (condition in target) {
      const hit = resolveExport(target[condition]);
      if (hit) return hit;
    }
  return null;
}

/**
 * capnp module entries for the package at `pkg` (a path relative to the
 * config, e.g. "node_modules/entity-reactor"): every JS file of js/src, the
 * glue, the .wasm, and one module per JS export ("entity-reactor",
 * "entity-reactor/catalog", ...) re-exporting the file it resolves to.
 * `only` limits the export modules to those subpaths.
 */
export async function packageModules(pkg, { only } = {}) {
  const manifest = JSON.parse(await readFile(path.join(pkgDir, "package.json"), "utf8"));
  assert.equal(
    typeof manifest.exports["."].workerd,
    "string",
    'js/package.json exports["."] has a "workerd" condition',
  );
  const modules = [];
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const file = resolveExport(target);
    if (!file || !/\.m?js$/.test(file)) continue;
    if (only && !only.includes(subpath)) continue;
    const name = subpath === "." ? "entity-reactor" : `entity-reactor/${subpath.slice(2)}`;
    const rel = path.posix.relative(path.posix.dirname(name), `${pkg}/${file.replace(/^\.\//, "")}`);
    modules.push(`(name = ${capnpString(name)}, esModule = ${capnpString(`export * from "./${rel}";`)})`);
  }
  for (const file of await listJs(path.join(pkgDir, "src")))
    modules.push(`(name = "${pkg}/src/${file}", esModule = embed "${pkg}/src/${file}")`);
  modules.push(`(name = "${pkg}/wasm/entity-reactor.mjs", esModule = embed "${pkg}/wasm/entity-reactor.mjs")`);
  modules.push(`(name = "${pkg}/wasm/entity-reactor.wasm", wasm = embed "${pkg}/wasm/entity-reactor.wasm")`);
  return modules;
}

/** wrangler.jsonc without its comments (strings kept as they are). */
export function parseJsonc(text) {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      out += text.slice(start, i + 1);
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2) + 1;
    } else out += c;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1"));
}

export function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Starts `workerd serve <config>` in `cwd` and waits until it listens on
 * `port`. Resolves to { log(), stop() }; stop() ends the process group it
 * started (SIGTERM, then SIGKILL after 5 s).
 */
export async function startWorkerd({ cwd, config = "config.capnp", port, args = [] }) {
  let log = "";
  // Own process group, so stop() can end it (and anything it started) by
  // its PID even if .bin/workerd were a wrapper script.
  const child = spawn(workerdBin, ["serve", config, ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const handle = {
    child,
    log: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const stop = (signal) => {
        try {
          process.kill(-child.pid, signal); // the group led by the workerd we spawned
        } catch {
          child.kill(signal);
        }
      };
      stop("SIGTERM");
      const timer = setTimeout(() => stop("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 100))]);
    if (status) throw new Error(`workerd exited (${JSON.stringify(status)}) before listening:\n${log}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`workerd did not listen on 127.0.0.1:${port} within 20 s:\n${log}`);
    }
  }
  return handle;
}
