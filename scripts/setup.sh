#!/usr/bin/env bash
# Installs what the build and tests need on a fresh Debian machine; skips
# whatever is already there (safe to run again).
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v emcc >/dev/null || need+=(emscripten)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
[ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)  # the oracle of the tests and fuzzing, and the bench's parse comparison
for extra in "$@"; do
  case "$extra" in
    chromium) command -v chromium >/dev/null || need+=(chromium) ;;
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql) ;;
    redis) command -v redis-server >/dev/null || need+=(redis-server) ;;
    lint) command -v clang-format-14 >/dev/null || need+=(clang-format-14) ;;
    sanitizers) [ -d /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux ] || need+=(clang libclang-rt-14-dev) ;;
  esac
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
