# constrain: the JSON-Schema constraint engine against llama.cpp's grammar path, in the same run.
#   (1) masks on the official suite (draft 2020-12 required tests), Llama 3 vocabulary (128,256
#       tokens): mask p50 <= 20 us, p99 <= 500 us, compile p50 <= 2 ms; anchor: llama.cpp's
#       json_schema_to_grammar + grammar sampler over the full vocabulary on the same instances.
#   (2) end to end on a synthetic 128k-vocabulary model (256 x 4 layers, decode-light so that
#       mask cost shows): constrained decode rate / unconstrained >= 0.95, and the time to a
#       schema-valid object against llama-server with the same json_schema: goal >= 3x faster.
set -euo pipefail
source "$(dirname "$0")/common.sh"
build_anchor llama-server
cmake --build "$root/build/release" --target troika-bench-grammar-anchor >/dev/null
anchor_bin=$root/build/release/bin/troika-bench-grammar-anchor
vocab=$root/third_party/llama.cpp/models/ggml-vocab-llama-bpe.gguf
suite=$root/../shared/json-schema-test-suite/tests/draft2020-12
work=$(mktemp -d)
server_pid=""
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# ---- (1) masks -------------------------------------------------------------------------------
ours=$("$troika" constrain-bench --vocab "$vocab" "$suite")
theirs=$("$anchor_bin" "$vocab" "${TROIKA_BENCH_ANCHOR_MASKS:-1500}" "$suite")
echo "troika constrain-bench: $ours"
echo "llama.cpp grammar:      $theirs"
printf '\n%-40s %12s %12s %10s %8s\n' "masks, draft2020-12, 128k vocab" "troika" "llama.cpp" "speedup" "goal"
for m in mask_p50_us mask_p99_us compile_p50_us; do
  a=$(field "$ours" $m); b=$(field "$theirs" $m)
  goal=$(case $m in mask_p50_us) echo "<=20us";; mask_p99_us) echo "<=500us";; *) echo "<=2000us";; esac)
  printf '%-40s %12.1f %12.1f %9.1fx %8s\n' "$m" "$a" "$b" "$(python3 -c "print($b/max($a,1e-9))")" "$goal"
done
printf '%-40s %12s %12s\n' "tests pass / false accepts / refused" \
  "$(field "$ours" pass)/$(field "$ours" false_accept)/$(field "$ours" refused)" "-"
echo "(published MaskBench figures, not re-run here: llguidance mask p50/p99 46/533 us,"
echo " XGrammar 9/5,687 us, llama.cpp 17,021/60,371 us)"
mask_lines=()
mask_lines+=("$(result constrain mask_p50_us "$(field "$ours" mask_p50_us)" us "$(field "$theirs" mask_p50_us)" 20)")
mask_lines+=("$(result constrain mask_p99_us "$(field "$ours" mask_p99_us)" us "$(field "$theirs" mask_p99_us)" 500)")
mask_lines+=("$(result constrain compile_p50_us "$(field "$ours" compile_p50_us)" us "$(field "$theirs" compile_p50_us)" 2000)")

# ---- (2) end to end --------------------------------------------------------------------------
model=$bench_models/llama-256x4-f16.gguf
[ -f "$model" ] || "$troika" mkmodel -q --arch llama --n-embd 256 --n-layer 4 --n-head 4 \
  --n-head-kv 2 --n-ff 768 --type f16 --name bench-llama-256x4 -o "$model"
# Every path through this schema closes within a bounded number of tokens, so a random model's
# greedy output is a complete object on both sides.
cat >"$work/schema.json" <<'EOF'
{"type":"object","properties":{
  "name":{"type":"string","maxLength":16},
  "age":{"type":"integer","minimum":0,"maximum":150},
  "email":{"type":"string","format":"email","maxLength":40},
  "tags":{"type":"array","items":{"enum":["red","green","blue"]},"maxItems":4},
  "active":{"type":"boolean"}},
 "required":["name","age","email","tags","active"],"additionalProperties":false}
EOF
prompt="Extract the person as JSON: Ada Lovelace, 36, ada@example.com, likes red and blue, active."
reps=${TROIKA_BENCH_REPS:-5}
port=$((20000 + RANDOM % 20000))
"$anchors/bin/llama-server" -m "$model" -np 1 -c 4096 -t "$threads" --host 127.0.0.1 \
  --port "$port" --no-webui >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
server_request() {
  python3 - "$port" "$work/schema.json" "$prompt" <<'PY'
import json, sys, time, urllib.request
port, schema_path, prompt = sys.argv[1], sys.argv[2], sys.argv[3]
body = {"prompt": prompt, "n_predict": 512, "temperature": 0, "json_schema": json.load(open(schema_path)),
        "cache_prompt": False}
t0 = time.time()
req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
out = json.load(urllib.request.urlopen(req))
wall = (time.time() - t0) * 1000
json.loads(out["content"])  # must be one JSON value
t = out.get("timings", {})
print(json.dumps({"wall_ms": wall, "n": t.get("predicted_n", 0),
                  "gen_tps": t.get("predicted_per_second", 0), "text": out["content"]}))
PY
}
free=(); constrained=(); nojf=(); ours_ms=(); theirs_ms=(); theirs_tps=()
for r in $(seq "$reps"); do
  s=$("$troika" generate -m "$model" -p "$prompt" -n 64 --temp 0 --ignore-eos -t "$threads" --stats 2>&1 >/dev/null | tail -n 1)
  free+=("$(field "$s" gen_tokens_per_s)")
  s=$("$troika" json -m "$model" --schema "$work/schema.json" -p "$prompt" -t "$threads" --no-jump-forward --stats 2>&1 >/dev/null | tail -n 1)
  nojf+=("$(field "$s" gen_tokens_per_s)")
  s=$("$troika" json -m "$model" --schema "$work/schema.json" -p "$prompt" -t "$threads" --stats 2>"$work/stats" >"$work/out.json"; tail -n 1 "$work/stats")
  "$troika" validate --schema "$work/schema.json" "$work/out.json" >/dev/null
  constrained+=("$(field "$s" gen_tokens_per_s)")
  ours_ms+=("$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s["prompt_ms"]+s["gen_ms"])' "$s")")
  t=$(server_request)
  theirs_ms+=("$(field "$t" wall_ms)")
  theirs_tps+=("$(field "$t" gen_tps)")
done
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }
f=$(median "${free[@]}"); c=$(median "${nojf[@]}"); cj=$(median "${constrained[@]}")
o=$(median "${ours_ms[@]}"); t=$(median "${theirs_ms[@]}"); ttps=$(median "${theirs_tps[@]}")
echo "troika output: $(cat "$work/out.json")"
field "$(server_request)" text > "$work/anchor.json"
echo "llama-server output: $(cat "$work/anchor.json")"
if "$troika" validate --schema "$work/schema.json" "$work/anchor.json" >/dev/null 2>"$work/anchor.err"; then
  echo "llama-server output is schema-valid"
else
  echo "llama-server output is NOT schema-valid: $(grep -v '^troika: error' "$work/anchor.err" | tr -s ' ' | head -3 | tr '\n' ';')"
fi
printf '\n%-52s %12s %12s %8s\n' "end to end (llama 256x4 f16, 128k vocab)" "value" "anchor" "ratio"
printf '%-52s %12.1f %12.1f %8.3f\n' "constrained t/s, no jump-forward / free t/s" "$c" "$f" "$(python3 -c "print($c/$f)")"
printf '%-52s %12.1f %12.1f %8.3f\n' "llama-server constrained t/s / troika free t/s" "$ttps" "$f" "$(python3 -c "print($ttps/$f)")"
printf '%-52s %12.1f %12.1f %8.2fx\n' "ms to a schema-valid object: troika vs llama-server" "$o" "$t" "$(python3 -c "print($t/$o)")"
echo "runs: free ${free[*]}; constrained ${nojf[*]}; with jump-forward ${constrained[*]}"
echo "runs: troika ms ${ours_ms[*]}; llama-server ms ${theirs_ms[*]}"
for l in "${mask_lines[@]}"; do echo "$l"; done
result constrain constrained_over_free_tps "$c" tokens/s "$f" 0.95
result constrain ms_to_valid_object "$o" ms "$t" 0.333
