# Shared by the bench suites: paths, the anchor build, and the JSON result line.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
troika=$root/build/release/bin/troika
anchors=$root/build/anchors
bench_models=$root/models/bench
threads=${TROIKA_BENCH_THREADS:-$(nproc)}
mkdir -p "$bench_models"

# Builds llama.cpp's own programs (llama-bench, llama-server, ...) from the same pinned tree into
# build/anchors, apart from Troika's build.
build_anchor() {
  local targets=("$@")
  if [ ! -f "$anchors/build.ninja" ]; then
    cmake -S "$root/third_party/llama.cpp" -B "$anchors" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_OPENSSL=OFF \
      ${TROIKA_ANCHOR_CMAKE_ARGS:-} \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
  fi
  cmake --build "$anchors" --target "${targets[@]}" -j "$(nproc)" >/dev/null
}

# result BENCH METRIC VALUE UNIT ANCHOR GOAL: one JSON line; ratio = value / anchor. ANCHOR "-"
# means the figure has no anchor (e.g. a share of our own time); then the goal bounds the value.
result() {
  python3 - "$@" <<'PY'
import json, sys
bench, metric, value, unit, anchor, goal = sys.argv[1:7]
value = float(value)
anchor = None if anchor == "-" else float(anchor)
print(json.dumps({"bench": bench, "metric": metric, "value": round(value, 4), "unit": unit,
                  "anchor": None if anchor is None else round(anchor, 4),
                  "ratio": round(value / anchor, 4) if anchor else None, "goal": float(goal)}))
PY
}
