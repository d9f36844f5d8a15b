#!/usr/bin/env bash
# Formatting and lint: clang-format for C++ (.clang-format), Prettier
# (.prettierrc.json) and ESLint (tests/eslint.config.mjs) for JavaScript,
# over the files git tracks. Checks by default; --fix rewrites in place.
#   bash scripts/lint.sh [--fix]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
fix=0
[ "${1:-}" = "--fix" ] && fix=1

bash scripts/setup.sh lint
[ -x tests/node_modules/.bin/prettier ] && [ -x tests/node_modules/.bin/eslint ] ||
  npm ci --prefix tests --no-audit --no-fund >/dev/null

mapfile -t cpp < <(git ls-files '*.cpp' '*.hpp' '*.h' | grep -v '^tests/fixtures/')
mapfile -t js < <(git ls-files '*.js' '*.mjs' '*.cjs' | grep -v -e '^js/src/generated/' -e '^tests/fixtures/')
status=0
if [ "$fix" = 1 ]; then
  clang-format-14 -i "${cpp[@]}"
  tests/node_modules/.bin/prettier --log-level warn --write "${js[@]}"
  tests/node_modules/.bin/eslint -c tests/eslint.config.mjs --fix "${js[@]}" || status=1
else
  echo "clang-format: ${#cpp[@]} files"
  clang-format-14 --dry-run --Werror "${cpp[@]}" || status=1
  echo "prettier: ${#js[@]} files"
  tests/node_modules/.bin/prettier --log-level warn --check "${js[@]}" || status=1
  echo "eslint: ${#js[@]} files"
  tests/node_modules/.bin/eslint -c tests/eslint.config.mjs --max-warnings 0 "${js[@]}" || status=1
fi
[ "$status" = 0 ] && echo "lint: clean" || echo "lint: problems above (bash scripts/lint.sh --fix rewrites the formatting)"
exit "$status"
