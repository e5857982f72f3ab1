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

# wait_healthy PID LOG NAME: returns once http://127.0.0.1:$port/health answers; fails (printing
# the log) when the process dies or two minutes pass.
wait_healthy() {
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    kill -0 "$1" 2>/dev/null || { cat "$2" >&2; return 1; }
    sleep 0.2
  done
  echo "$3 did not become healthy" >&2
  return 1
}

# llama-server on a loopback port for the anchor side. Set `server_bin` (default: the anchor
# build's) and `work` (for its log) first; the pid is in $server_pid, the port in $port.
#   start_server MODEL PARALLEL   returns once /health answers
port=$((20000 + RANDOM % 20000))
server_pid=""
start_server() {
  "${server_bin:-$anchors/bin/llama-server}" -m "$1" -np "$2" -c 32768 --kv-unified \
    -t "$threads" --host 127.0.0.1 --port "$port" --no-webui >"$work/server.log" 2>&1 &
  server_pid=$!
  wait_healthy "$server_pid" "$work/server.log" llama-server
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

# field JSON KEY: one value of a JSON line.
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# The run (a JSON line) with the median wall time.
median_run() {
  python3 -c 'import json,sys; r=sorted((json.loads(a) for a in sys.argv[1:]), key=lambda d: d["wall_ms"]); print(json.dumps(r[len(r)//2]))' "$@"
}
