"""Closed-loop load on an OpenAI-compatible /v1/chat/completions endpoint (troika serve or
llama-server): C clients, each sending its requests one after another; every request has its own
prompt, greedy sampling and a fixed number of new tokens (ignore_eos). Prints one JSON line:
wall time, completion tokens, tokens/s, and per-request latency p50/p99 (ms).
Usage: openai_load.py PORT CLIENTS REQUESTS_PER_CLIENT MAX_TOKENS
"""
import http.client
import json
import sys
import threading
import time

TOPICS = ["a lighthouse", "a glacier", "the tax code", "a violin", "migrating birds", "a chess endgame",
          "bread", "a subway map", "volcanoes", "a library at night", "tides", "an old radio"]


def main():
    port, clients, per_client, max_tokens = (int(a) for a in sys.argv[1:5])
    latencies, tokens, errors = [], [0], []
    lock = threading.Lock()

    def client(c):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        for r in range(per_client):
            i = c * per_client + r
            body = {"model": "brain", "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
                    "messages": [{"role": "user", "content":
                                  f"Request {i}: write a short story about {TOPICS[i % len(TOPICS)]}."}]}
            t0 = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read())
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                if resp.status != 200:
                    errors.append(f"{resp.status}: {data}")
                    continue
                latencies.append(ms)
                tokens[0] += data["usage"]["completion_tokens"]
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall_ms = (time.perf_counter() - t0) * 1000
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))]

    print(json.dumps({"clients": clients, "requests": len(latencies), "wall_ms": wall_ms,
                      "tokens": tokens[0], "tokens_per_s": tokens[0] * 1000 / wall_ms,
                      "p50_ms": pct(50), "p99_ms": pct(99)}))


if __name__ == "__main__":
    main()
