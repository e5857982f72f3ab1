# pipelines: classify, rerank and vote against llama-server's best path on the same GGUF and the
# same rendered prompts, in the same run; json, tools and graph throughput (no anchor).
#   classify  64 texts x 5 labels: shared-prefix scoring vs one constrained generation per text
#             reading top-n probabilities; goal >= 2x faster
#   rerank    8 queries x 16 documents: one shared prefix per query vs one request per
#             (query, document) reading yes/no next-token probabilities; goal >= 2x faster
#   vote      8 questions, n = 8 samples of 64 tokens: forks vs llama-server n = 8; goal <= 0.9x wall
# Model: Llama 3 vocabulary (128k) at n_embd 256 x 4 layers (the scheduler bench's small model).
set -euo pipefail
source "$(dirname "$0")/common.sh"
# TROIKA_ANCHOR_SERVER: a llama-server built from the same pinned tree (e.g. build/release's,
# which the Release test build makes with the same options), instead of building build/anchors.
server_bin=${TROIKA_ANCHOR_SERVER:-}
if [ -z "$server_bin" ]; then build_anchor llama-server; server_bin=$anchors/bin/llama-server; fi
cmake --build "$root/build/release" --target troika-bench-pipelines >/dev/null
driver=$root/build/release/bin/troika-bench-pipelines
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

model=$bench_models/llama-256x4-f16.gguf
[ -f "$model" ] || "$troika" mkmodel -q --arch llama --n-embd 256 --n-layer 4 --n-head 4 \
  --n-head-kv 2 --n-ff 768 --type f16 --name bench-llama-256x4 -o "$model"

reps=${TROIKA_BENCH_REPS:-3}
lines=()

printf '\n%-28s %12s %12s %8s %8s\n' "pipelines (wall ms)" "troika" "llama-server" "ratio" "goal"
for sc in classify rerank vote; do
  "$driver" --emit "$work/$sc.json" --scenario "$sc" --model "$model"
  ours_runs=(); theirs_runs=()
  # Alternating sides, each cold (a fresh process; the server restarted: no prompt cache carried).
  for _ in $(seq "$reps"); do
    ours_runs+=("$("$driver" --run "$work/$sc.json" --model "$model" --threads "$threads")")
    start_server "$model" 64
    theirs_runs+=("$(python3 "$root/bench/clients/llama_server_pipelines.py" "$work/$sc.json" "$port")")
    stop_server
  done
  ours=$(field "$(median_run "${ours_runs[@]}")" wall_ms)
  theirs=$(field "$(median_run "${theirs_runs[@]}")" wall_ms)
  case $sc in vote) goal=1.11;; *) goal=2.0;; esac
  # Speed as 1/wall: ratio = anchor wall / our wall.
  v=$(python3 -c "print(1000/$ours)"); an=$(python3 -c "print(1000/$theirs)")
  printf '%-28s %12.1f %12.1f %8.3f %8.2f\n' "$sc" "$ours" "$theirs" "$(python3 -c "print($theirs/$ours)")" "$goal"
  lines+=("$(result "pipelines/$sc" runs_per_s "$v" 1/s "$an" "$goal")")
done
echo "ratios are llama-server wall / troika wall: goal 1.11 means troika takes <= 0.9x the time."

printf '\n%-28s %12s %12s\n' "pipelines (ours only)" "requests/s" "tokens/s"
for sc in json tools graph; do
  r=$("$driver" --throughput "$sc" --model "$model" --threads "$threads")
  printf '%-28s %12.2f %12.1f\n' "$sc" "$(field "$r" requests_per_s)" "$(field "$r" tokens_per_s)"
  lines+=("$(result "pipelines/$sc" requests_per_s "$(field "$r" requests_per_s)" 1/s - 0)")
done
echo
printf '%s\n' "${lines[@]}"
