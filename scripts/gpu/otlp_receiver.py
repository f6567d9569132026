#!/usr/bin/env python3
"""A small OTLP/HTTP trace receiver for scripts/gpu/mesh-run.sh: Python 3 standard library only, because the GPU
machine has nothing else we can count on (no collector, no protobuf package).

  otlp_receiver.py serve PORT SPANS_JSONL
      POST /v1/traces with a protobuf ExportTraceServiceRequest (gzip or identity) -> one JSON line per span in
      SPANS_JSONL; answers 200 with an empty ExportTraceServiceResponse. GET /stats -> {"spans", "requests",
      "rejected", "last_s"}, so a client can wait until the exporters' batches have arrived.
  otlp_receiver.py table SPANS_JSONL FROM_NS TO_NS TITLE OUT_JSON [STATS_URL]
      "Where the time goes" for the traces that started in [FROM_NS, TO_NS]: see trace_table.py.

The protobuf wire format is decoded by hand; field numbers from opentelemetry-proto (collector/trace/v1,
trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto).
"""
import gzip
import json
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def fields(buf):
    """Yields (field number, wire type, value) of one message: ints for varint/fixed, bytes for length-delimited."""
    i, n = 0, len(buf)
    while i < n:
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError("field number 0 at byte %d" % i)
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            if i + 8 > n:
                raise ValueError("truncated fixed64 at byte %d" % i)
            v, i = struct.unpack_from("<Q", buf, i)[0], i + 8
        elif wt == 2:
            ln, i = varint(buf, i)
            if i + ln > n:
                raise ValueError("length %d at byte %d runs past the end (%d bytes)" % (ln, i, n))
            v, i = bytes(buf[i:i + ln]), i + ln
        elif wt == 5:
            if i + 4 > n:
                raise ValueError("truncated fixed32 at byte %d" % i)
            v, i = struct.unpack_from("<I", buf, i)[0], i + 4
        else:
            raise ValueError("unsupported wire type %d (field %d)" % (wt, num))
        yield num, wt, v


def varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def any_value(buf):
    """AnyValue: string 1, bool 2, int 3 (int64), double 4; arrays, kvlists and bytes are kept as a marker."""
    for num, wt, v in fields(buf):
        if num == 1 and wt == 2:
            return v.decode("utf-8", "replace")
        if num == 2 and wt == 0:
            return bool(v)
        if num == 3 and wt == 0:
            return v - (1 << 64) if v >= 1 << 63 else v
        if num == 4 and wt == 1:
            return struct.unpack("<d", struct.pack("<Q", v))[0]
        if num in (5, 6, 7):
            return "<%s>" % {5: "array", 6: "kvlist", 7: "bytes"}[num]
    return None


def attributes(kvs):
    out = {}
    for kv in kvs:
        key, value = None, None
        for num, wt, v in fields(kv):
            if num == 1 and wt == 2:
                key = v.decode("utf-8", "replace")
            elif num == 2 and wt == 2:
                value = any_value(v)
        if key is not None:
            out[key] = value
    return out


def span(buf, service):
    s = {"service": service, "trace_id": "", "span_id": "", "parent_span_id": "", "name": "", "kind": "unspecified",
         "start_ns": 0, "end_ns": 0, "status": 0}
    attrs = []
    for num, wt, v in fields(buf):
        if num in (1, 2, 4) and wt == 2:
            s[{1: "trace_id", 2: "span_id", 4: "parent_span_id"}[num]] = v.hex()
        elif num == 5 and wt == 2:
            s["name"] = v.decode("utf-8", "replace")
        elif num == 6 and wt == 0:
            s["kind"] = SPAN_KINDS.get(v, str(v))
        elif num == 7 and wt == 1:
            s["start_ns"] = v
        elif num == 8 and wt == 1:
            s["end_ns"] = v
        elif num == 9 and wt == 2:
            attrs.append(v)
        elif num == 15 and wt == 2:
            s["status"] = next((c for n2, w2, c in fields(v) if n2 == 3 and w2 == 0), 0)
    s["attributes"] = attributes(attrs)
    s["duration_ms"] = (s["end_ns"] - s["start_ns"]) / 1e6
    return s


def decode_request(body):
    """ExportTraceServiceRequest bytes -> a list of span dicts, each with its resource's service.name."""
    spans = []
    for num, wt, rs in fields(body):
        if num != 1 or wt != 2:
            continue
        resource_attrs, scope_spans = {}, []
        for n2, w2, v in fields(rs):
            if n2 == 1 and w2 == 2:
                resource_attrs = attributes([kv for n3, w3, kv in fields(v) if n3 == 1 and w3 == 2])
            elif n2 == 2 and w2 == 2:
                scope_spans.append(v)
        service = str(resource_attrs.get("service.name", "unknown"))
        for ss in scope_spans:
            spans.extend(span(v, service) for n3, w3, v in fields(ss) if n3 == 2 and w3 == 2)
    return spans


def inflate(body, encoding):
    encoding = (encoding or "identity").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "identity":
        return body
    raise ValueError("unsupported Content-Encoding %s" % encoding)


class Receiver:
    def __init__(self, path):
        self.path, self.lock = path, threading.Lock()
        self.spans = self.requests = self.rejected = 0
        self.last = 0.0
        open(path, "w").close()

    def accept(self, body, encoding):
        spans = decode_request(inflate(body, encoding))
        now = time.time()
        with self.lock, open(self.path, "a") as f:
            for s in spans:
                s["received_s"] = now
                f.write(json.dumps(s, separators=(",", ":")) + "\n")
            self.spans += len(spans)
            self.requests += 1
            self.last = now

    def stats(self):
        with self.lock:
            return {"spans": self.spans, "requests": self.requests, "rejected": self.rejected, "last_s": self.last}


def handler(receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            # /v1/traces, or the bare endpoint where an exporter is configured with the full traces URL
            if self.path.rstrip("/").endswith(("/v1/metrics", "/v1/logs")):
                return self.reply(404, b"only traces are received here", "text/plain")
            if "json" in (self.headers.get("Content-Type") or ""):
                return self.reply(415, b"send application/x-protobuf (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)", "text/plain")
            try:
                receiver.accept(body, self.headers.get("Content-Encoding"))
            except (ValueError, OSError, EOFError, zlib.error) as e:
                with receiver.lock:
                    receiver.rejected += 1
                return self.reply(400, ("bad ExportTraceServiceRequest: %s" % e).encode(), "text/plain")
            self.reply(200, b"", "application/x-protobuf")  # an empty ExportTraceServiceResponse

        def do_GET(self):
            if self.path != "/stats":
                return self.reply(404, b"GET /stats or POST /v1/traces", "text/plain")
            self.reply(200, json.dumps(receiver.stats()).encode(), "application/json")

        def reply(self, code, body, ctype):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def serve(port, path):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(Receiver(path)))
    print("OTLP/HTTP receiver on 127.0.0.1:%d, spans to %s" % (port, path), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "serve":
        serve(int(a[1]), a[2])
    elif len(a) in (6, 7) and a[0] == "table":
        import trace_table
        trace_table.main(a[1], int(a[2]), int(a[3]), a[4], a[5], a[6] if len(a) == 7 else None)
    else:
        print(__doc__)
        sys.exit(2)
