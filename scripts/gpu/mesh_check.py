#!/usr/bin/env python3
"""Clients of a running mesh's gateway, for scripts/gpu/mesh-run.sh (standard library only, so it runs anywhere).

  mesh_check.py golden GATEWAY_URL MODEL_DIR OUT_JSON
      The fixture's three requests through /v1/chat/completions (SSE): image.png and image2.png with "Describe this
      image in detail." (greedy, 24 tokens), the text prompt (16 tokens), top_logprobs 5, checked against
      golden.safetensors with the bf16 tolerances of the fixture README: greedy ids identical up to the first step
      whose reference top-1/top-2 gap is below 0.05; the chosen token's log-probability within 5e-2 of the reference
      top-1 up to the first step where the ids part (after it the contexts differ). Exit status 1 if any fails.

The request mixes (single stream, load, image intake) are in mesh_phases.py.
"""
import http.client
import json
import base64
import random
import struct
import sys
import time
import urllib.parse
import zlib

NEAR_TIE = 0.05
LOGPROB_TOL = 5e-2
IMAGE_PROMPT = "Describe this image in detail."


def read_safetensors(path):
    """name -> (dtype, shape, flat list) for the F32 and I64 tensors of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        fmt = {"F32": "f", "I64": "q"}.get(t["dtype"])
        if fmt is None:
            continue
        count = (b - a) // struct.calcsize(fmt)
        out[name] = (t["shape"], struct.unpack("<%d%s" % (count, fmt), data[a:b]))
    return out


def chat(base, body, timeout=600):
    """POST a streamed chat; returns (status, chunks, error body, seconds to first token, seconds in all)."""
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        err = r.read().decode("utf-8", "replace")
        conn.close()
        return r.status, [], err, None, time.perf_counter() - t0
    chunks, ttft = [], None
    for raw in r:
        line = raw.decode("utf-8").rstrip("\n")
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            break
        c = json.loads(data)
        if "error" in c:
            conn.close()
            return r.status, chunks, json.dumps(c["error"]), ttft, time.perf_counter() - t0
        # The first token: its logprobs, or its text (the role chunk's content is empty; so is a held-back byte).
        if ttft is None and any((ch.get("logprobs") or {}).get("content") or (ch.get("delta") or {}).get("content")
                                for ch in c.get("choices", [])):
            ttft = time.perf_counter() - t0
        chunks.append(c)
    conn.close()
    return 200, chunks, None, ttft, time.perf_counter() - t0


def answer(chunks):
    """(per-token logprob items, usage, timings) of a streamed answer."""
    items, usage, timings = [], None, None
    for c in chunks:
        for ch in c.get("choices", []):
            lp = ch.get("logprobs")
            if lp and lp.get("content"):
                items.extend(lp["content"])
        if c.get("usage"):
            usage = c["usage"]
        if "timings" in c:
            timings = c["timings"]
    return items, usage, timings


def token_id(token):
    if not token.startswith("token_id:"):
        raise ValueError("expected token_id:N (return_tokens_as_token_ids), got %r" % token)
    return int(token[len("token_id:"):])


def image_url(path_or_bytes):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def request(prompt, image, max_tokens, top_logprobs=None):
    content = prompt if image is None else [
        {"type": "image_url", "image_url": {"url": image_url(image)}},
        {"type": "text", "text": prompt}]
    r = {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0,
         "stream": True, "stream_options": {"include_usage": True}}
    if top_logprobs is not None:
        r.update(logprobs=True, top_logprobs=top_logprobs, return_tokens_as_token_ids=True)
    return r


def golden(base, model_dir, out_path):
    g = read_safetensors(model_dir + "/golden.safetensors")
    text_prompt = json.load(open(model_dir + "/golden.json"))["text_prompt"]
    cases = [("image", "", model_dir + "/image.png", IMAGE_PROMPT, 591),
             ("image2", "image2_", model_dir + "/image2.png", IMAGE_PROMPT, 591),
             ("text", "text_", None, text_prompt, 15)]
    report, ok = {}, True
    for name, pre, image, prompt, prompt_tokens in cases:
        ref_ids = g[pre + "generated_ids"][1]
        (steps, k), values = g[pre + "step_topk_values"]
        topk_ids = g[pre + "step_topk_ids"][1]
        lse = g[pre + "step_logsumexp"][1]
        status, chunks, err, ttft, total = chat(base, request(prompt, image, len(ref_ids), 5))
        r = {"status": status}
        if status != 200 or err:
            r.update(ok=False, error=err)
            report[name], ok = r, False
            print("%s: FAILED, HTTP %s: %s" % (name, status, err))
            continue
        items, usage, timings = answer(chunks)
        ids = [token_id(it["token"]) for it in items]
        gaps = [values[s * k] - values[s * k + 1] for s in range(steps)]
        first_tie = next((s for s in range(steps) if gaps[s] < NEAR_TIE), steps)
        first_diff = next((s for s in range(min(len(ids), steps)) if ids[s] != ref_ids[s]), None)
        equal_steps = first_diff if first_diff is not None else min(len(ids), steps)
        ids_ok = len(ids) == steps and (first_diff is None or first_diff >= first_tie)
        # Log-probabilities are comparable while the contexts are the same: up to the first step whose id differs.
        last = first_diff if first_diff is not None else steps - 1
        worst_top1, worst_top5 = 0.0, 0.0
        for s in range(min(last + 1, len(items))):
            ref_top1 = values[s * k] - lse[s]
            worst_top1 = max(worst_top1, abs(items[s]["logprob"] - ref_top1))
            ref = {topk_ids[s * k + j]: values[s * k + j] - lse[s] for j in range(k)}
            for t in items[s].get("top_logprobs", []):
                tid = token_id(t["token"])
                if tid in ref:
                    worst_top5 = max(worst_top5, abs(t["logprob"] - ref[tid]))
        lp_ok = worst_top1 <= LOGPROB_TOL
        usage_ok = usage is not None and usage.get("prompt_tokens") == prompt_tokens and usage.get("completion_tokens") == steps
        case_ok = ids_ok and lp_ok and usage_ok
        r.update(ok=case_ok, steps=steps, equal_steps=equal_steps, first_near_tie=first_tie if first_tie < steps else None,
                 worst_top1_logprob_error=worst_top1, worst_top5_logprob_error=worst_top5, usage=usage, timings=timings,
                 ttft_s=ttft, total_s=total, ids=ids, reference_ids=list(ref_ids))
        report[name] = r
        ok &= case_ok
        print("%s: %s; greedy ids equal %d/%d (first reference near-tie: %s), worst top-1 logprob error %.2e "
              "(top-5 %.2e), usage %s, timings %s" % (name, "PASS" if case_ok else "FAIL", equal_steps, steps,
                                                       r["first_near_tie"], worst_top1, worst_top5, usage, timings))
    report["ok"] = ok
    with open(out_path, "w") as f:
        json.dump(report, f, indent=1)
    return 0 if ok else 1


def png(width, height, seed):
    """A PNG of seeded noise: each load-test request has its own image, so the gateway's embedding cache misses."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q / 100 * len(xs) + 0.5)) - 1))]


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "golden":
        sys.exit(golden(a[1], a[2], a[3]))
    print(__doc__)
    sys.exit(2)
