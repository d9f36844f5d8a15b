#!/usr/bin/env bash
# The demo command: builds the WebAssembly module if it is missing, serves
# web-demo/ and the package on 127.0.0.1 and prints the URL (Ctrl-C stops it).
# Arguments pass through: --port N (default 8080, or a free port), --host H.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec node "$root/scripts/demo.mjs" "$@"
