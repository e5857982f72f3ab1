# planner: the memory planner's prediction against what llama.cpp allocates, for every seed
# architecture (Llama 3.1 8B, Mistral 7B v0.3, Gemma 2 9B, Phi-3 mini) x {q4_k_m, q8_0, f16} x
# {4k, 8k, 32k} context. Anchor: llama.cpp's own allocator, in no_alloc mode on a sparse
# full-size GGUF (exact sizes, nothing read) and in real loads (no mmap) where they fit in this
# machine's memory (TROIKA_BENCH_REAL_LIMIT_GIB, default 12). Goal: |error| <= 3% in every case.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cmake --build "$root/build/release" --target troika-bench-planner >/dev/null
work=${TROIKA_BENCH_WORK:-$root/build/bench-planner}
"$root/build/release/bin/troika-bench-planner" "$root/third_party/llama.cpp/models" "$work" \
  "${TROIKA_BENCH_REAL_LIMIT_GIB:-12}"
