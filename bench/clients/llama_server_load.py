"""Drives llama-server (the anchor) with a workload written by troika-bench-scheduler --emit.

Sends every request of the workload at once (one thread each) to /completion on 127.0.0.1 and
prints one JSON line: wall time from the first send to the last answer, and tokens produced.
Usage: llama_server_load.py WORKLOAD.json PORT
"""
import concurrent.futures
import http.client
import json
import sys
import time


def post(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request("POST", "/completion", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"llama-server answered {resp.status}: {data}")
    return data


def count(res):
    if isinstance(res, list):
        return sum(count(r) for r in res)
    return res.get("tokens_predicted", res.get("timings", {}).get("predicted_n", 0))


def bodies(w):
    sc = w["scenario"]
    if sc == "c":
        # The best llama-server offers for classification: one constrained generation per text,
        # reading the top-n probabilities of the generated tokens.
        grammar = "root ::= " + " | ".join(f'"{label}"' for label in w["labels"])
        return [{"prompt": p, "n_predict": 4, "grammar": grammar, "n_probs": len(w["labels"]),
                 "temperature": 0, "cache_prompt": True} for p in w["prompts"]]
    return [{"prompt": p, "n_predict": w["max_tokens"], "n": w["n"], "temperature": 0,
             "ignore_eos": True, "cache_prompt": True} for p in w["prompts"]]


def main():
    w = json.load(open(sys.argv[1]))
    port = int(sys.argv[2])
    reqs = bodies(w)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(reqs)) as pool:
        results = list(pool.map(lambda b: post(port, b), reqs))
    wall_ms = (time.perf_counter() - t0) * 1000
    tokens = len(results) * len(w["labels"]) if w["scenario"] == "c" else sum(map(count, results))
    print(json.dumps({"scenario": w["scenario"], "wall_ms": wall_ms, "tokens": tokens,
                      "tokens_per_s": tokens * 1000 / wall_ms}))


if __name__ == "__main__":
    main()
