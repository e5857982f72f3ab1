"""Drives llama-server (the anchor) with a pipeline workload written by troika-bench-pipelines --emit.

The best llama-server path for each pipeline, every request in flight at once:
  classify  one constrained generation per text (a grammar of the labels), reading the top-n
            probabilities of the generated tokens;
  rerank    one request per (query, document), one token, reading the top-n next-token
            probabilities (yes / no);
  vote      one request per question with n samples.
Prints one JSON line: wall time from the first send to the last answer.
Usage: llama_server_pipelines.py WORKLOAD.json PORT
"""
import concurrent.futures
import json
import sys
import time

from llama_server_load import post  # the same /completion client as the scheduler bench


def bodies(w):
    sc = w["scenario"]
    if sc == "classify":
        grammar = "root ::= " + " | ".join(f'"{label}"' for label in w["labels"])
        return [{"prompt": p, "n_predict": 8, "grammar": grammar, "n_probs": len(w["labels"]),
                 "temperature": 0, "cache_prompt": True} for p in w["prompts"]]
    if sc == "rerank":
        return [{"prompt": p, "n_predict": 1, "n_probs": 10, "temperature": 0,
                 "cache_prompt": True} for p in w["prompts"]]
    return [{"prompt": p, "n_predict": w["max_tokens"], "n": w["n"], "temperature": 0.8,
             "seed": i, "cache_prompt": True} for i, p in enumerate(w["prompts"])]


def main():
    w = json.load(open(sys.argv[1]))
    port = int(sys.argv[2])
    reqs = bodies(w)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(reqs)) as pool:
        list(pool.map(lambda b: post(port, b), reqs))
    wall_ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"scenario": w["scenario"], "wall_ms": wall_ms, "requests": len(reqs)}))


if __name__ == "__main__":
    main()
