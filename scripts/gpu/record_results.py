#!/usr/bin/env python3
"""A mesh run's figures, from scripts/gpu/mesh-run.sh's outputs, as issue 12 asks them to be recorded.

  record_results.py collect RES_DIR OUT_JSON
      (on the GPU machine, by mesh-run.sh) the phases' JSON files -> one results.json.
  record_results.py record RESULTS_JSON [--jsonl docs/gpu-results.jsonl] [--dry-run] [--force]
      one JSON line per figure appended to the JSONL file ({date, commit, metric, value, unit[, baseline]}, the
      baseline being the in-process engine's figure from the same call), and a markdown table on stdout for
      docs/gpu-results.md: ours, baseline, the physical limit where known, the ratios and the issue's target, then
      each phase's trace table. A run with other counts than the issue's (a local smoke test) is refused unless --force.
The metric names are documented at the top of docs/gpu-results.md.
"""
import glob
import json
import os
import sys

import trace_table

# metric, unit, where ours is, where the same call's engine figure is, where the physical limit is, target
# (a number, or "x0.95" = that share of the baseline), and whether lower is better.
METRICS = [
    ("mesh_ttft_ms_b1", "ms", ("single", "ttft_ms_p50"), "ttft_ms", "limit_ttft_ms", 40, True),
    ("mesh_decode_tokens_per_s_b1", "tokens/s", ("single", "decode_tokens_per_s_p50"), "decode_b1_tok_s_per_seq",
     "limit_decode_tok_s_per_seq", "x0.95", False),
    ("mesh_tokens_per_s_64", "tokens/s", ("load", "aggregate_tokens_per_s"), "streams_aggregate_tok_s",
     "limit_decode_b64_tok_s", 3500, False),
    ("mesh_ttft_p50_ms_64", "ms", ("load", "ttft_ms_p50"), "streams_ttft_ms_p50", None, 300, True),
    ("mesh_ttft_p99_ms_64", "ms", ("load", "ttft_ms_p99"), "streams_ttft_ms_p99", None, 1000, True),
    ("mesh_decode_tokens_per_s_per_stream_64", "tokens/s", ("load", "decode_tokens_per_s_p50"),
     "streams_per_stream_tok_s", None, None, False),
    ("mesh_images_per_s", "images/s", ("intake", "images_per_s"), "vision_b32_images_s", "limit_vision_images_s", 500, False),
    ("engine_ttft_ms_b1", "ms", ("engine", "ttft_ms"), None, "limit_ttft_ms", None, True),
    ("engine_tokens_per_s_64", "tokens/s", ("engine", "streams_aggregate_tok_s"), None, "limit_decode_b64_tok_s", None, False),
    ("engine_raw_tokens_per_s_64", "tokens/s", ("engine", "decode_b64_aggregate_tok_s"), None, "limit_decode_b64_tok_s", None, False),
    ("scheduler_decode_vs_raw_64", "ratio", ("engine", "scheduler_decode_vs_raw"), None, None, 0.9, False),
]


def collect(res_dir, out_path):
    out = {"load_rounds": []}
    for path in sorted(glob.glob(os.path.join(res_dir, "*.json"))):
        name = os.path.basename(path)[:-5]
        with open(path) as f:
            data = json.load(f)
        if name.startswith("load-"):
            out["load_rounds"].append(data)
        elif name.startswith("traces-"):
            out.setdefault("traces", {})[name[len("traces-"):]] = data
        else:
            out[name] = data
    # The load figures are the last round's: the first pays first-use costs (JIT, CUDA graphs, allocator growth).
    if out["load_rounds"]:
        out["load"] = dict(out["load_rounds"][-1], round=len(out["load_rounds"]))
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    print("results of %s -> %s" % (", ".join(k for k in out if out[k]), out_path))


def figures(results):
    """[(metric, unit, ours, baseline, limit, target, lower_is_better)] for the figures this run has."""
    engine = results.get("engine") or {}
    rows = []
    for metric, unit, (phase, key), base_key, limit_key, target, lower in METRICS:
        ours = (results.get(phase) or {}).get(key)
        if ours is None:
            continue
        base = engine.get(base_key) if base_key else None
        if isinstance(target, str):
            target = float(target[1:]) * base if base else None
        rows.append((metric, unit, ours, base, engine.get(limit_key) if limit_key else None, target, lower))
    return rows


# The workloads: a run with other counts (a local smoke test) is not recorded without --force.
WORKLOAD = [("single", "requests", 20), ("load", "requests", 64), ("load", "new_tokens_each", 128), ("load", "round", 2),
            ("intake", "uploads", 512), ("intake", "in_flight", 128)]


def off_workload(results):
    return ["%s %s = %s (the issue's: %s)" % (phase, key, (results.get(phase) or {}).get(key), want)
            for phase, key, want in WORKLOAD if results.get(phase) and results[phase].get(key) != want]


def fmt(v):
    if v is None:
        return "-"
    return "%.3f" % v if abs(v) < 10 else "%.1f" % v if abs(v) < 100 else "%.0f" % v


def table(results):
    meta = results.get("meta") or {}
    lines = ["Run of %s at %s (tree %s), backend %s, devices %s, properties: %s %s" % (
        meta.get("date"), meta.get("commit"), meta.get("tree"), meta.get("backend"), meta.get("devices"),
        meta.get("props_all") or "none", meta.get("props_one") or ""), "",
             "| metric | ours | engine, same call | physical limit | ours / engine | ours / limit | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for metric, unit, ours, base, limit, target, lower in figures(results):
        ratio = lambda ref: "-" if not ref else "%.2f" % (ours / ref)
        met = "-" if target is None else ("yes" if (ours <= target if lower else ours >= target) else "NO")
        lines.append("| %s (%s%s) | %s | %s | %s | %s | %s | %s | %s |" % (
            metric, unit, ", lower is better" if lower else "", fmt(ours), fmt(base), fmt(limit), ratio(base),
            ratio(limit), "-" if target is None else ("<= " if lower else ">= ") + fmt(target), met))
    off = off_workload(results)
    if off:
        lines += ["", "Not the issue's workload: " + "; ".join(off)]
    traces = results.get("traces") or {}
    for phase in sorted(traces):
        lines += ["", trace_table.render(phase, traces[phase], traces[phase].get("received_in_all", 0)).rstrip()]
    return "\n".join(lines) + "\n"


def record(results_path, jsonl, dry_run, force=False):
    with open(results_path) as f:
        results = json.load(f)
    meta = results.get("meta") or {}
    if not meta.get("commit"):
        raise SystemExit("%s has no meta.commit: the bundle did not say which commit it was built from" % results_path)
    if off_workload(results) and not (dry_run or force):
        raise SystemExit("not the issue's workload (%s): --dry-run to see the table, --force to record anyway"
                         % "; ".join(off_workload(results)))
    lines = []
    for metric, unit, ours, base, _, _, _ in figures(results):
        o = dict(date=meta["date"], commit=meta["commit"], metric=metric, value=round(ours, 4), unit=unit)
        if base is not None:
            o["baseline"] = round(base, 4)
        lines.append(json.dumps(o))
    if not dry_run:
        with open(jsonl, "a") as f:
            f.write("".join(line + "\n" for line in lines))
    sys.stdout.write(table(results))
    sys.stderr.write("%d figures %s %s\n" % (len(lines), "would be appended to" if dry_run else "appended to", jsonl))
    return lines


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "collect":
        collect(a[1], a[2])
    elif a and a[0] == "record" and len(a) >= 2:
        jsonl = a[a.index("--jsonl") + 1] if "--jsonl" in a else os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "gpu-results.jsonl")
        record(a[1], jsonl, "--dry-run" in a, "--force" in a)
    else:
        print(__doc__)
        sys.exit(2)
