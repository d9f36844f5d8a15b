// Shared by the browser tests: starts the demo server (scripts/demo.mjs) on a
// free port as a child process, launches Debian's Chromium headless through
// playwright-core, and records console errors and page errors.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Installs Debian's chromium when it is missing (scripts/setup.sh chromium). */
export function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  const r = spawnSync("bash", [path.join(root, "scripts/setup.sh"), "chromium"], { stdio: "inherit" });
  if (r.status !== 0 || !existsSync(CHROMIUM))
    throw new Error("could not install chromium (scripts/setup.sh chromium)");
}

/** Spawns scripts/demo.mjs --port 0; resolves with { url, pid, stop() } once it prints its URL. */
export function startServer({ timeoutMs = 120_000 } = {}) {
  const child = spawn(process.execPath, [path.join(root, "scripts/demo.mjs"), "--port", "0", "--host", "127.0.0.1"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`demo server printed no URL within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk) => {
      output += chunk;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[0], pid: child.pid, stop, output: () => output });
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", (c) => (output += c));
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`demo server exited (${code ?? signal}) before printing its URL:\n${output}`));
    });
  });
}

export async function launchBrowser() {
  ensureChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
}

/**
 * Collects console errors and uncaught page errors of a page; also fails on
 * any request that leaves 127.0.0.1.
 */
export function watch(page, errors) {
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.protocol.startsWith("http") && url.hostname !== "127.0.0.1")
      errors.push(`request off 127.0.0.1: ${req.url()}`);
  });
  page.on("requestfailed", (req) => errors.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ""}`));
  page.on("response", (res) => {
    if (res.status() >= 400) errors.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  return page;
}
