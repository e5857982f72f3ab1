# retrieval: ingest (chunks/s, no embeddings) and query latency p50/p99 for bm25, dense and hybrid
# on a synthetic corpus of chunks drawn from Debian's documentation on this machine, against
# SQLite FTS5 (BM25) and an exact FAISS flat scan (dense) over the same chunks and queries.
#   TROIKA_RETRIEVAL_SIZES=10000,100000,1000000   the sizes (default 10000,100000)
#   TROIKA_RETRIEVAL_FLAGS="--lexical-only --reuse"  BM25/FTS5 only; one size on the files left
#   TROIKA_BEIR=DIR [TROIKA_BEIR_EMBED=PATH.gguf]  nDCG@10 / recall@100 on a BEIR dataset instead
set -euo pipefail
source "$(dirname "$0")/common.sh"
work=$root/build/bench-retrieval
mkdir -p "$work"
bin=$root/build/release/bin/troika-bench-retrieval
if [ -n "${TROIKA_BEIR:-}" ]; then
  "$bin" --beir "$TROIKA_BEIR" --work "$work" ${TROIKA_BEIR_EMBED:+--embed-model "$TROIKA_BEIR_EMBED"}
  exit 0
fi
text=$work/debian-docs.txt
if [ ! -s "$text" ]; then
  find /usr/share/doc -type f | sort | while read -r f; do
    case "$f" in
      *.gz) zcat -f "$f" 2>/dev/null || true ;;
      *.html|*.htm|*.png|*.jpg|*.svg|*.pdf|*.js|*.css) ;;
      *) grep -Iq . "$f" 2>/dev/null && cat "$f" || true ;;
    esac
  done > "$text"
fi
"$bin" --text "$text" --work "$work" --sizes "${TROIKA_RETRIEVAL_SIZES:-10000,100000}" ${TROIKA_RETRIEVAL_FLAGS:-} > "$work/result.json"
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{'chunks':>8} {'ingest/s':>9} {'fts5/s':>8} {'bm25 p50/p99':>14} {'fts5 p50/p99':>14} {'freq bm25':>10} {'freq fts5':>10} {'dense':>12} {'flat':>12} {'hybrid':>12} {'recall':>6} {'B/chunk':>8}")
for l in r["levels"]:
    f = lambda k: f"{l[k]['p50_ms']:.2f}/{l[k]['p99_ms']:.2f}" if k in l else "-"
    g = lambda k, fmt: format(l[k], fmt) if k in l else "-"
    disk = l["sqlite_bytes_per_chunk"] + l["bm25_bytes_per_chunk"] + l.get("dense_bytes_per_chunk", 0)
    print(f"{l['chunks']:>8} {g('ingest_chunks_per_s', '.0f'):>9} {g('fts5_ingest_chunks_per_s', '.0f'):>8} {f('bm25_mid'):>14} {f('fts5_mid'):>14} {l['bm25_frequent']['p50_ms']:>10.2f} {l['fts5_frequent']['p50_ms']:>10.2f} {f('dense'):>12} {f('flat_exact'):>12} {f('hybrid'):>12} {g('dense_recall_at_10', '.3f'):>6} {disk:>8.0f}")
PY
python3 - "$work/result.json" <<'PY' | while read -r line; do result $line; done
import json, sys
r = json.load(open(sys.argv[1]))
for l in r["levels"]:
    n = l["chunks"]
    if "ingest_chunks_per_s" in l:
        print("retrieval", f"ingest_chunks_per_s_{n}", l["ingest_chunks_per_s"], "chunks/s", l["fts5_ingest_chunks_per_s"], 10000)
    print("retrieval", f"bm25_p50_ms_{n}", l["bm25_mid"]["p50_ms"], "ms", l["fts5_mid"]["p50_ms"], 5)
    print("retrieval", f"bm25_frequent_p50_ms_{n}", l["bm25_frequent"]["p50_ms"], "ms", l["fts5_frequent"]["p50_ms"], 5)
    if "dense" in l:
        print("retrieval", f"dense_p50_ms_{n}", l["dense"]["p50_ms"], "ms", l["flat_exact"]["p50_ms"], 10)
        print("retrieval", f"hybrid_p50_ms_{n}", l["hybrid"]["p50_ms"], "ms", "-", 10)
PY
