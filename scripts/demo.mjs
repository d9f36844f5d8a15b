#!/usr/bin/env node
// The demo: builds the WebAssembly module when js/wasm is missing, then
// serves web-demo/ (at /) and the npm package js/ (at /js/) on 127.0.0.1 with
// a small static server, prints the URL and runs until Ctrl-C.
//
//   node scripts/demo.mjs [--port N] [--host H]
//
// Default: port 8080, or a free port when 8080 is taken; --port 0 always
// picks a free one. Nothing is fetched from anywhere else.
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const demoDir = path.join(root, "web-demo");
const pkgDir = path.join(root, "js");

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
};

function usage(message) {
  if (message) console.error(`demo: ${message}`);
  console.error("usage: node scripts/demo.mjs [--port N] [--host 127.0.0.1]");
  process.exit(2);
}

function parseArgs(argv) {
  const out = { port: undefined, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === "--port" || flag === "-p") {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0 || n > 65535) usage("--port must be an integer 0-65535");
      out.port = n;
    } else if (flag === "--host") out.host = value();
    else if (flag === "--help" || flag === "-h") usage();
    else usage(`unknown argument ${arg}`);
  }
  return out;
}

function ensureBuilt() {
  const needed = [
    "js/wasm/entity-reactor.wasm",
    "js/wasm/entity-reactor.mjs",
    "js/src/generated/constants.js",
    "js/src/generated/catalog-constants.js",
  ];
  const missing = needed.filter((f) => !existsSync(path.join(root, f)));
  if (missing.length === 0) return;
  console.log(`demo: ${missing.join(", ")} missing; building the WebAssembly module (scripts/build-wasm.sh)`);
  const steps = [
    ["bash", [path.join(root, "scripts/setup.sh")]],
    ["bash", [path.join(root, "scripts/build-wasm.sh")]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
    if (r.status !== 0) {
      console.error(`demo: ${args[0]} failed`);
      process.exit(1);
    }
  }
}

// URL path → file inside one of the two served folders, or null.
function resolveFile(urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  let base = demoDir;
  let rel = decoded;
  if (decoded === "/js" || decoded.startsWith("/js/")) {
    base = pkgDir;
    rel = decoded.slice(3);
  }
  if (rel === "" || rel.endsWith("/")) rel += "index.html";
  const file = path.resolve(base, "." + path.posix.normalize("/" + rel));
  // No way out of the served folder, and no dot-files (.gitignore, ...).
  if (file !== base && !file.startsWith(base + path.sep)) return null;
  if (
    path
      .relative(base, file)
      .split(path.sep)
      .some((part) => part.startsWith("."))
  )
    return null;
  return file;
}

function send(res, status, text) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function handle(req, res) {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return send(res, 405, "method not allowed\n");
  }
  const url = new URL(req.url, "http://localhost");
  const file = resolveFile(url.pathname);
  if (!file) return send(res, 404, "not found\n");
  let info;
  try {
    info = await stat(file);
  } catch {
    return send(res, 404, "not found\n");
  }
  if (!info.isFile()) return send(res, 404, "not found\n");
  res.writeHead(200, {
    "content-type": MIME[path.extname(file).toLowerCase()] ?? "application/octet-stream",
    "content-length": info.size,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  if (req.method === "HEAD") return res.end();
  createReadStream(file)
    .on("error", () => res.destroy())
    .pipe(res);
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    const onError = (e) => {
      server.off("listening", onListening);
      reject(e);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

async function main() {
  const { port, host } = parseArgs(process.argv.slice(2));
  ensureBuilt();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error("demo: request failed", e);
      if (!res.headersSent) send(res, 500, "internal error\n");
      else res.destroy();
    });
  });
  try {
    await listen(server, port ?? 8080, host);
  } catch (e) {
    if (port === undefined && e.code === "EADDRINUSE") await listen(server, 0, host);
    else {
      console.error(`demo: cannot listen on ${host}:${port}: ${e.message}`);
      process.exit(1);
    }
  }
  const address = server.address();
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  console.log(`entity-reactor demo: http://${shownHost}:${address.port}/`);
  console.log("(Ctrl-C to stop)");

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main();
