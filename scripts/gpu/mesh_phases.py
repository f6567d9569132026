#!/usr/bin/env python3
"""The request mixes of scripts/gpu/mesh-run.sh against a running mesh's gateway (standard library only).

  mesh_phases.py single GATEWAY_URL N OUT_JSON [SEED]
      One stream at a time: 5 warm-ups, then N (20) sequential requests, each 1 new image + 16 new tokens (EOS
      ignored). Client TTFT = send -> first SSE content delta; decode tokens/s per request = (tokens - 1) / (time from
      the first to the last delta). Reports medians.
  mesh_phases.py load GATEWAY_URL N TOKENS OUT_JSON [SEED]
      N concurrent streams, each its own image, TOKENS new tokens, EOS ignored: aggregate tokens/s, TTFT p50/p99 and
      per-stream decode tokens/s p50.
  mesh_phases.py intake GATEWAY_URL N IN_FLIGHT OUT_JSON [SEED]
      N POST /v1/images uploads, each its own image, IN_FLIGHT at a time. The upload answers once the encode has
      STARTED (status "encoding", or "ready" when it was quick): each worker then polls GET /v1/images/sha256:<hex>
      until "ready" (every INTAKE_POLL_MS, 10), so an image counts when its embeddings exist.
      images/s = N / (first send -> last ready).
Exit status 1 when a request fails.
"""
import hashlib
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

from mesh_check import IMAGE_PROMPT, answer, chat, pct, png, request

# How often a worker asks whether its image is ready: each ask is a request the gateway serves while it encodes,
# and up to one interval is added to each image's time (about 2% of the images/s at 500/s with 128 in flight).
POLL_S = float(os.environ.get("INTAKE_POLL_MS", "10")) / 1000


def stream(base, seed, tokens):
    """One streamed image request; a dict of its client-side figures (ttft_ms, decode_tokens_per_s, tokens...)."""
    body = request(IMAGE_PROMPT, png(336, 336, seed), tokens)
    body["ignore_eos"] = True
    t = time.perf_counter()
    status, chunks, err, ttft, total = chat(base, body, timeout=600)
    end = time.perf_counter()
    items, usage, timings = answer(chunks)
    n = (usage or {}).get("completion_tokens", len(items))
    decode = (n - 1) / (total - ttft) if ttft is not None and n > 1 and total > ttft else None
    return dict(start=t, end=end, status=status, error=err, ttft_ms=None if ttft is None else ttft * 1000, tokens=n,
                decode_tokens_per_s=decode, timings=timings)


def failed(rs):
    return [r for r in rs if r["status"] != 200 or r["error"] or r["ttft_ms"] is None]


def single(base, n, out_path, seed=0, warmups=5, tokens=16):
    for i in range(warmups):
        r = stream(base, seed + 50_000 + i, tokens)
        if failed([r]):
            print("single: warm-up failed: HTTP %s %s" % (r["status"], r["error"]))
            return 1
    rs = [stream(base, seed + i, tokens) for i in range(n)]
    bad = failed(rs)
    good = [r for r in rs if r not in bad]
    ttfts = [r["ttft_ms"] for r in good]
    rates = [r["decode_tokens_per_s"] for r in good if r["decode_tokens_per_s"]]
    gw = [r["timings"] for r in good if r["timings"]]
    rep = dict(requests=n, warmups=warmups, new_tokens_each=tokens, failed=len(bad),
               ttft_ms_p50=pct(ttfts, 50) if ttfts else None, ttft_ms_min=min(ttfts) if ttfts else None,
               ttft_ms_max=max(ttfts) if ttfts else None, ttft_ms_all=ttfts,
               decode_tokens_per_s_p50=pct(rates, 50) if rates else None,
               gateway_timings_p50={k: pct([g[k] for g in gw if isinstance(g.get(k), (int, float))], 50)
                                    for k in (gw[0] if gw else {}) if isinstance(gw[0].get(k), (int, float))},
               errors=[r["error"] for r in bad][:3])
    print("single: %d sequential requests (1 image + %d tokens) after %d warm-ups: %d failed, TTFT p50 %s ms "
          "(min %s, max %s), decode p50 %s tokens/s; gateway's timings p50 %s" % (
              n, tokens, warmups, len(bad), f(rep["ttft_ms_p50"]), f(rep["ttft_ms_min"]), f(rep["ttft_ms_max"]),
              f(rep["decode_tokens_per_s_p50"]), rep["gateway_timings_p50"]))
    write(out_path, rep)
    return 1 if bad else 0


def load(base, n, tokens, out_path, seed=0):
    warm = stream(base, seed + 100_000, 8)
    if failed([warm]):
        print("load: warm-up request failed: HTTP %s %s" % (warm["status"], warm["error"]))
        return 1
    results = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait()
        results[i] = stream(base, seed + i, tokens)

    run_threads([threading.Thread(target=one, args=(i,)) for i in range(n)])
    bad = failed(results)
    good = [r for r in results if r not in bad]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    toks = sum(r["tokens"] for r in good)
    ttfts = [r["ttft_ms"] for r in good]
    rates = [r["decode_tokens_per_s"] for r in good if r["decode_tokens_per_s"]]
    gw = lambda k, q=50: pct([r["timings"][k] for r in good if r["timings"] and k in r["timings"]], q) \
        if any(r["timings"] and k in r["timings"] for r in good) else None
    rep = dict(requests=n, failed=len(bad), new_tokens_each=tokens, wall_s=wall, tokens=toks,
               aggregate_tokens_per_s=toks / wall, images_per_s=len(good) / wall,
               ttft_ms_p50=pct(ttfts, 50) if ttfts else None, ttft_ms_p99=pct(ttfts, 99) if ttfts else None,
               ttft_ms_max=max(ttfts) if ttfts else None,
               decode_tokens_per_s_p50=pct(rates, 50) if rates else None,
               gateway_ttft_ms_p50=gw("ttft_ms"), gateway_ttft_ms_p99=gw("ttft_ms", 99), encode_ms_p50=gw("encode_ms"),
               queue_ms_p50=gw("queue_ms"), prefill_ms_p50=gw("prefill_ms"), errors=[r["error"] for r in bad][:3])
    print("load: %d concurrent streams x %d tokens: %d failed, wall %.2f s, %.0f tokens/s aggregate, TTFT p50 %s ms "
          "p99 %s ms, per-stream decode p50 %s tokens/s (gateway's: TTFT p50 %s, encode %s, queue %s, prefill %s ms)" % (
              n, tokens, len(bad), wall, rep["aggregate_tokens_per_s"], f(rep["ttft_ms_p50"]), f(rep["ttft_ms_p99"]),
              f(rep["decode_tokens_per_s_p50"]), f(rep["gateway_ttft_ms_p50"]), f(rep["encode_ms_p50"]),
              f(rep["queue_ms_p50"]), f(rep["prefill_ms_p50"])))
    write(out_path, rep)
    return 1 if bad else 0


def http_call(conn, method, path, body=None, headers=None):
    conn.request(method, path, body, headers or {})
    r = conn.getresponse()
    return r.status, r.read().decode("utf-8", "replace")


def upload_until_ready(base, image, deadline_s=300):
    """POST the image, then poll its status until ready: (seconds to ready, None) or (None, what failed)."""
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    t = time.perf_counter()
    try:
        status, body = http_call(conn, "POST", "/v1/images", image, {"Content-Type": "image/png"})
        if status != 200:
            return None, "upload: HTTP %d %s" % (status, body[:300])
        o = json.loads(body)
        want = "sha256:" + hashlib.sha256(image).hexdigest()
        if o.get("id") != want:
            return None, "upload answered id %s, expected %s" % (o.get("id"), want)
        while o.get("status") != "ready":
            if o.get("status") == "failed":
                return None, "encode failed: %s" % o.get("error")
            if time.perf_counter() - t > deadline_s:
                return None, "not ready after %d s (status %s)" % (deadline_s, o.get("status"))
            time.sleep(POLL_S)
            status, body = http_call(conn, "GET", "/v1/images/" + want)
            if status != 200:
                return None, "status poll: HTTP %d %s" % (status, body[:300])
            o = json.loads(body)
        return time.perf_counter() - t, None
    finally:
        conn.close()


def intake(base, n, in_flight, out_path, seed=0):
    images = [png(336, 336, seed + 200_000 + i) for i in range(n)]
    lat, errors, lock, next_i = [], [], threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= n:
                return
            s, err = upload_until_ready(base, images[i])
            with lock:
                (errors.append(err) if err else lat.append(s * 1000))

    t = time.perf_counter()
    run_threads([threading.Thread(target=worker) for _ in range(min(in_flight, n))])
    wall = time.perf_counter() - t
    rep = dict(uploads=n, in_flight=in_flight, failed=len(errors), wall_s=wall, images_per_s=len(lat) / wall,
               ready_ms_p50=pct(lat, 50) if lat else None, ready_ms_p99=pct(lat, 99) if lat else None,
               measured="POST /v1/images answers when the encode has started; each image counts when GET "
                        "/v1/images/<id> says ready (embeddings exist)", errors=errors[:3])
    print("intake: %d uploads, %d in flight: %d failed, wall %.2f s, %.1f images/s; upload -> ready p50 %s ms p99 %s ms" % (
        n, in_flight, len(errors), wall, rep["images_per_s"], f(rep["ready_ms_p50"]), f(rep["ready_ms_p99"])))
    write(out_path, rep)
    return 1 if errors else 0


def run_threads(ts):
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def f(x):
    return "-" if x is None else "%.1f" % x


def write(path, rep):
    with open(path, "w") as out:
        json.dump(rep, out, indent=1)


if __name__ == "__main__":
    a = sys.argv[1:]
    seed = lambda k: int(a[k]) if len(a) > k else 0
    if len(a) in (4, 5) and a[0] == "single":
        sys.exit(single(a[1], int(a[2]), a[3], seed(4)))
    if len(a) in (5, 6) and a[0] == "load":
        sys.exit(load(a[1], int(a[2]), int(a[3]), a[4], seed(5)))
    if len(a) in (5, 6) and a[0] == "intake":
        sys.exit(intake(a[1], int(a[2]), int(a[3]), a[4], seed(5)))
    print(__doc__)
    sys.exit(2)
