#!/usr/bin/env bash
# Builds the libFuzzer targets into build-fuzz/ (separate from the main CMake build).
#   fuzz/build.sh            configure (first time) and build every target
#   FUZZ_BUILD_DIR=dir       another build directory
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
CXX=${FUZZ_CXX:-clang++-14}
if ! command -v "$CXX" >/dev/null || [ ! -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]; then
  echo "installing clang-14 and libclang-rt-14-dev" >&2
  apt-get update -qq && apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT/fuzz" -B "$BUILD" -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
fi
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}"
