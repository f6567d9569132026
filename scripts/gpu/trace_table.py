"""Where the time goes in one phase of a mesh run, from the spans otlp_receiver.py wrote (one JSON object a line).

A phase's traces are those whose earliest span starts inside the phase's window. Per (service, span name): count,
p50 and p99 ms, and the median share of its trace's root span (the request as the first service saw it), so the
spans that make up a request's latency stand out. Per trace: the root's duration, how many spans and services.
"""
import json
import math
import time
import urllib.request


def pct(xs, q):
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))] if xs else None


def wait_quiet(stats_url, quiet_s=1.5, min_s=2.5, max_s=15.0):
    """Waits until the exporters' batches stop arriving: no new span for quiet_s, after at least min_s."""
    t0, last_n, last_change = time.time(), -1, time.time()
    while time.time() - t0 < max_s:
        try:
            n = json.load(urllib.request.urlopen(stats_url, timeout=2))["spans"]
        except OSError:
            return
        if n != last_n:
            last_n, last_change = n, time.time()
        elif time.time() - last_change >= quiet_s and time.time() - t0 >= min_s:
            return
        time.sleep(0.25)


def load_spans(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def phase_traces(spans, from_ns, to_ns):
    """trace id -> its spans, for the traces whose first span starts in [from_ns, to_ns]."""
    traces = {}
    for s in spans:
        traces.setdefault(s["trace_id"], []).append(s)
    return {t: ss for t, ss in traces.items() if from_ns <= min(s["start_ns"] for s in ss) <= to_ns}


def root_of(ss):
    ids = {s["span_id"] for s in ss}
    roots = [s for s in ss if not s["parent_span_id"] or s["parent_span_id"] not in ids]
    return min(roots, key=lambda s: s["start_ns"]) if roots else None


def summarize(traces):
    rows, per_trace = {}, []
    for ss in traces.values():
        root = root_of(ss)
        whole = root["duration_ms"] if root else None
        per_trace.append(dict(root=root and "%s/%s" % (root["service"], root["name"]), ms=whole, spans=len(ss),
                              services=len({s["service"] for s in ss}),
                              orphans=sum(1 for s in ss if s["parent_span_id"] and s["parent_span_id"] not in
                                          {x["span_id"] for x in ss})))
        for s in ss:
            r = rows.setdefault((s["service"], s["name"]), {"ms": [], "share": []})
            r["ms"].append(s["duration_ms"])
            if whole:
                r["share"].append(s["duration_ms"] / whole)
    table = [dict(service=svc, span=name, count=len(r["ms"]), p50_ms=pct(r["ms"], 50), p99_ms=pct(r["ms"], 99),
                  share_of_root_p50=pct(r["share"], 50)) for (svc, name), r in rows.items()]
    table.sort(key=lambda r: -(r["p50_ms"] or 0) * r["count"])
    # Per kind of trace (its root span): a phase's requests, but also e.g. the gateway's periodic mesh checks.
    by_root = {}
    for t in per_trace:
        if t["ms"] is not None:
            by_root.setdefault(t["root"], []).append(t["ms"])
    roots = [dict(root=r, count=len(ms), p50_ms=pct(ms, 50), p99_ms=pct(ms, 99)) for r, ms in by_root.items()]
    roots.sort(key=lambda r: -r["count"])
    return dict(traces=len(traces), spans=sum(len(ss) for ss in traces.values()), roots=roots,
                services_per_trace_p50=pct([t["services"] for t in per_trace], 50),
                orphan_spans=sum(t["orphans"] for t in per_trace), rows=table)


def render(title, summary, received):
    if received == 0:
        return ("== where the time goes: %s\nno spans received: no service exported any (is tracing in this build? "
                "OTEL_EXPORTER_OTLP_ENDPOINT set?)\n" % title)
    if summary["traces"] == 0:
        return "== where the time goes: %s\nno spans received for this phase (%d in all so far)\n" % (title, received)
    f = lambda x, d=1: "-" if x is None else ("%." + str(d) + "f") % x
    out = ["== where the time goes: %s: %d traces, %d spans; services per trace p50 %s; spans whose parent never "
           "arrived: %d" % (title, summary["traces"], summary["spans"], summary["services_per_trace_p50"],
                            summary["orphan_spans"]),
           "traces by root span: " + "; ".join("%s x%d (p50 %s ms, p99 %s ms)" % (r["root"], r["count"], f(r["p50_ms"]),
                                                                                 f(r["p99_ms"])) for r in summary["roots"]),
           "| service | span | count | p50 ms | p99 ms | share of root p50 |", "| --- | --- | --- | --- | --- | --- |"]
    for r in summary["rows"]:
        out.append("| %s | %s | %d | %s | %s | %s |" % (r["service"], r["span"], r["count"], f(r["p50_ms"], 2),
                                                        f(r["p99_ms"], 2), "-" if r["share_of_root_p50"] is None
                                                        else "%.0f%%" % (100 * r["share_of_root_p50"])))
    return "\n".join(out) + "\n"


def main(spans_path, from_ns, to_ns, title, out_json, stats_url=None):
    if stats_url:
        wait_quiet(stats_url)
    spans = load_spans(spans_path)
    summary = summarize(phase_traces(spans, from_ns, to_ns))
    summary.update(phase=title, received_in_all=len(spans))
    print(render(title, summary, len(spans)), flush=True)
    with open(out_json, "w") as f:
        json.dump(summary, f, indent=1)
