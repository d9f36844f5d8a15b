#!/usr/bin/env bash
# Type tests of the package's .d.ts files:
#  1. tsc --noEmit (strict) over the expectations in tests/types/*.ts, once per
#     environment a user may compile in: tsconfig.dom.json (a browser project:
#     DOM lib, no @types/node), tsconfig.node.json ("lib": ["ES2022"] and
#     @types/node, no DOM lib), tsconfig.esnext.json (ESNext + DOM + node);
#  2. exports.test.mjs: the names and members the .d.ts files declare exist at
#     runtime, and every runtime export is declared.
# Needs `npm ci --prefix tests` and the built package (scripts/build-wasm.sh).
# Every step runs; exit status 1 if any failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tsc="$root/tests/node_modules/.bin/tsc"
if [ ! -x "$tsc" ]; then
  echo "tests/types: typescript is missing: run npm ci --prefix tests" >&2
  exit 2
fi
if [ ! -f "$root/js/src/generated/constants.d.ts" ] || [ ! -f "$root/js/wasm/entity-reactor.wasm" ]; then
  echo "tests/types: the package is not built: run bash scripts/build-wasm.sh" >&2
  exit 2
fi
# The tests import "entity-reactor" as a consumer does: through node_modules,
# here a link to js/ (git-ignored).
mkdir -p "$here/node_modules"
ln -sfn ../../../js "$here/node_modules/entity-reactor"

status=0
for env in dom node esnext; do
  echo "tsc -p tests/types/tsconfig.$env.json"
  "$tsc" -p "$here/tsconfig.$env.json" || status=1
done
node --test "$here/exports.test.mjs" || status=1
exit "$status"
