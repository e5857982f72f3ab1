# engine: `troika generate` decode speed against llama.cpp's own (llama-bench, same GGUF, same
# threads), prompt 256 tokens, 128 new tokens. Goal: ratio >= 0.98 (our layer adds nothing).
set -euo pipefail
source "$(dirname "$0")/common.sh"
build_anchor llama-bench

# A mid-size Llama-3 model (real 128k vocabulary, 8 layers of width 1024), big enough that one
# decode step dominates the loop's bookkeeping, small enough for 2 CPU cores.
model=$bench_models/llama-1024x8-q8_0.gguf
[ -f "$model" ] || "$troika" mkmodel -q --arch llama --n-embd 1024 --n-layer 8 --n-head 16 \
  --n-head-kv 4 --n-ff 2816 --type q8_0 --name bench-llama-1024x8 -o "$model"

n_prompt=256; n_gen=128; reps=${TROIKA_BENCH_REPS:-7}
# " hello" is one token in Llama 3's vocabulary: BOS + "hello" + 254 x " hello" = 256 tokens.
prompt="hello$(printf ' hello%.0s' $(seq $((n_prompt - 2))))"
got=$("$troika" tokenize -m "$model" "$prompt" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$got" = "$n_prompt" ] || { echo "bench engine: prompt is $got tokens, wanted $n_prompt" >&2; exit 1; }

# This machine is shared and noisy: runs alternate (ours, anchor, ours, ...) so that drift hits
# both sides alike, and each side reports its median.
ours=(); theirs=()
for r in $(seq "$reps"); do
  stats=$("$troika" generate -m "$model" -p "$prompt" -n $n_gen --temp 0 --ignore-eos -t "$threads" \
    -c 1024 --flash-attn off --stats 2>&1 >/dev/null | tail -n 1)
  # Decode steps per second: n_generated samples take n_generated - 1 decodes.
  ours+=("$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print((s["n_generated"]-1)*1000/s["gen_ms"])' "$stats")")
  anchor_json=$("$anchors/bin/llama-bench" -m "$model" -p 0 -n $n_gen -d $n_prompt -t "$threads" \
    -r 1 -fa 0 -o json 2>/dev/null)
  theirs+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["avg_ts"])' "$anchor_json")")
done
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }
value=$(median "${ours[@]}")
anchor=$(median "${theirs[@]}")

printf '%-44s %12s %12s %8s\n' "engine (llama 1024x8 q8_0, $threads threads)" "troika t/s" "llama.cpp" "ratio"
printf '%-44s %12.2f %12.2f %8.3f\n' "decode after a $n_prompt-token prompt (median of $reps)" "$value" "$anchor" \
  "$(python3 -c "print($value/$anchor)")"
echo "runs: troika ${ours[*]}; llama-bench ${theirs[*]}"
result engine gen_tokens_per_s "$value" tokens/s "$anchor" 0.98
