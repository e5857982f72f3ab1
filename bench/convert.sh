# convert: throughput (GB/s) and peak resident memory converting a synthetic full-size
# Llama-3.1-8B BF16 checkpoint (generated here; weight values do not matter), to q8_0 and to f16.
# Anchor: copying a shard of the same bytes with cat (what the disk alone allows); llama.cpp's own converter
# is Python with torch/numpy, which this machine does not have. Goal: peak memory near one
# tensor plus buffers (well under the 16 GB checkpoint), throughput a good fraction of the copy.
# Disk: the q8_0 run needs ~25 GB free; the f16 run uses a 16-layer checkpoint (same tensor
# shapes, half the layers) so input and output fit beside each other (TROIKA_BENCH_F16_LAYERS).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cmake --build "$root/build/release" --target troika troika-bench-mkcheckpoint >/dev/null
mk=$root/build/release/bin/troika-bench-mkcheckpoint
work=${TROIKA_BENCH_WORK:-$root/build/bench-convert}
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
tokdir=$root/../shared/fixtures/llama31

# run_one LAYERS TYPE: generate, copy anchor, convert; prints one result line per metric.
run_one() {
  local layers=$1 type=$2 src=$work/ckpt-$1
  [ -d "$src" ] || "$mk" "$src" "$layers" "$tokdir" >&2
  local bytes; bytes=$(du -sb --apparent-size "$src" | cut -f1)
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  local t0 t1; t0=$(date +%s.%N)
  # The anchor copies the first shard only: a whole second copy would not fit beside the output.
  local shard; shard=$(ls "$src"/*.safetensors | head -1)
  cat "$shard" > "$work/copy.bin"; sync
  t1=$(date +%s.%N); rm -f "$work/copy.bin"
  local copy_gbs; copy_gbs=$(python3 -c "print($(stat -c %s "$shard")/1e9/($t1-$t0))")
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -v -o "$work/time.txt" "$troika" convert "$src" -o "$work/out.gguf" --type "$type" -q --json \
    -t "$threads" > "$work/report.json"
  sync
  local secs rss_kb
  secs=$(python3 -c "import json;print(json.load(open('$work/report.json'))['seconds'])")
  rss_kb=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
  local gbs; gbs=$(python3 -c "print($bytes/1e9/$secs)")
  echo "convert $layers layers bf16 -> $type: $(python3 -c "print(round($bytes/1e9,2))") GB in ${secs}s = ${gbs} GB/s; copy ${copy_gbs} GB/s; peak RSS $((rss_kb/1024)) MiB" >&2
  result convert "gbps_${type}_${layers}l" "$gbs" GB/s "$copy_gbs" 0.5
  result convert "peak_rss_gb_${type}_${layers}l" "$(python3 -c "print($rss_kb*1024/1e9)")" GB - 4
  rm -f "$work/out.gguf"
}

run_one "${TROIKA_BENCH_Q8_LAYERS:-32}" q8_0
rm -rf "$work/ckpt-${TROIKA_BENCH_Q8_LAYERS:-32}"
run_one "${TROIKA_BENCH_F16_LAYERS:-16}" f16
