# server: `troika serve` against llama-server (same pinned tree, same GGUF, same greedy sampling
# and fixed-length answers, same chat requests from the same load client), in the same run.
#   1, 8 and 32 concurrent clients, each sending requests one after another (closed loop), 64 new
#   tokens each: throughput (completion tokens/s, goal >= 1.0x) and p50/p99 latency per request
#   (goal: p99 no worse, i.e. llama-server p99 / troika p99 >= 1.0).
# Both servers: 32 sequences, a 32768-cell unified KV cache, all threads.
# Model: Llama 3 vocabulary (128k) at n_embd 256 x 4 layers (the scheduler bench's small model);
# TROIKA_BENCH_SERVER_MODEL overrides it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
server_bin=${TROIKA_ANCHOR_SERVER:-}
if [ -z "$server_bin" ]; then build_anchor llama-server; server_bin=$anchors/bin/llama-server; fi
work=$(mktemp -d)
troika_pid=""
trap 'kill $server_pid $troika_pid 2>/dev/null || true; rm -rf "$work"' EXIT

model=${TROIKA_BENCH_SERVER_MODEL:-$bench_models/llama-256x4-f16.gguf}
[ -f "$model" ] || "$troika" mkmodel -q --arch llama --n-embd 256 --n-layer 4 --n-head 4 \
  --n-head-kv 2 --n-ff 768 --type f16 --name bench-llama-256x4 -o "$model"
cat >"$work/troika.toml" <<TOML
[roles.brain]
model = "$model"
ctx = 32768
parallel = 32
TOML

start_troika() {
  "$troika" serve --config "$work/troika.toml" --port "$port" -t "$threads" --no-smoke -q \
    --queue 64 >"$work/troika.log" 2>&1 &
  troika_pid=$!
  wait_healthy "$troika_pid" "$work/troika.log" "troika serve"
}
stop_troika() { kill "$troika_pid" 2>/dev/null || true; wait "$troika_pid" 2>/dev/null || true; troika_pid=""; }

reps=${TROIKA_BENCH_REPS:-3}
max_tokens=64
lines=()
printf '\n%-10s %10s %10s %7s %10s %10s %10s %10s %7s\n' clients "tok/s" "anchor" ratio \
  "p50 ms" "anchor" "p99 ms" "anchor" "p99 r"
for clients in 1 8 32; do
  per=$(( clients >= 32 ? 2 : (clients >= 8 ? 4 : 8) ))
  ours_runs=(); theirs_runs=()
  # Alternating sides, each server fresh (no prompt cache carried over).
  for _ in $(seq "$reps"); do
    start_troika
    ours_runs+=("$(python3 "$root/bench/clients/openai_load.py" "$port" "$clients" "$per" "$max_tokens")")
    stop_troika
    start_server "$model" 32
    theirs_runs+=("$(python3 "$root/bench/clients/openai_load.py" "$port" "$clients" "$per" "$max_tokens")")
    stop_server
  done
  ours=$(median_run "${ours_runs[@]}"); theirs=$(median_run "${theirs_runs[@]}")
  tps=$(field "$ours" tokens_per_s); atps=$(field "$theirs" tokens_per_s)
  p50=$(field "$ours" p50_ms); ap50=$(field "$theirs" p50_ms)
  p99=$(field "$ours" p99_ms); ap99=$(field "$theirs" p99_ms)
  printf '%-10s %10.1f %10.1f %7.3f %10.1f %10.1f %10.1f %10.1f %7.3f\n' "$clients" "$tps" "$atps" \
    "$(python3 -c "print($tps/$atps)")" "$p50" "$ap50" "$p99" "$ap99" "$(python3 -c "print($ap99/$p99)")"
  lines+=("$(result "server/c$clients" tokens_per_s "$tps" tok/s "$atps" 1.0)")
  # Latency as speed (1/p99), so that ratio >= 1 means our p99 is no worse.
  lines+=("$(result "server/c$clients" p99_per_s "$(python3 -c "print(1000/$p99)")" 1/s \
    "$(python3 -c "print(1000/$ap99)")" 1.0)")
  lines+=("$(result "server/c$clients" p50_per_s "$(python3 -c "print(1000/$p50)")" 1/s \
    "$(python3 -c "print(1000/$ap50)")" 1.0)")
done
echo "tok/s: completion tokens per second over the run; p99 r: llama-server p99 / troika p99."
echo
printf '%s\n' "${lines[@]}"
