"""Tests of otlp_receiver.py and trace_table.py on ExportTraceServiceRequests built by a tiny protobuf encoder here
(field numbers written out from opentelemetry-proto, independently of the decoder's)."""
import gzip
import http.client
import json
import os
import struct
import tempfile
import threading
import unittest
from http.server import ThreadingHTTPServer

import otlp_receiver
import trace_table


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(num, wire):
    return varint(num << 3 | wire)


def ld(num, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return tag(num, 2) + varint(len(payload)) + payload


def fixed64(num, v):
    return tag(num, 1) + struct.pack("<Q", v)


def kv(key, value):
    if isinstance(value, str):
        any_value = ld(1, value)
    elif isinstance(value, bool):
        any_value = tag(2, 0) + varint(int(value))
    elif isinstance(value, int):
        any_value = tag(3, 0) + varint(value & (1 << 64) - 1)
    else:
        any_value = fixed64(4, struct.unpack("<Q", struct.pack("<d", value))[0])
    return ld(1, key) + ld(2, any_value)


def span(trace, sid, parent, name, start, end, attrs=(), kind=1):
    body = ld(1, trace) + ld(2, sid) + ld(3, "") + (ld(4, parent) if parent else b"") + ld(5, name)
    body += tag(6, 0) + varint(kind) + fixed64(7, start) + fixed64(8, end)
    body += b"".join(ld(9, kv(k, v)) for k, v in attrs)
    body += tag(16, 5) + struct.pack("<I", 1)  # flags, fixed32: skipped
    return body


def request(services):
    """services: [(service name, [span bytes])] -> ExportTraceServiceRequest bytes."""
    out = b""
    for name, spans in services:
        resource = ld(1, kv("service.name", name)) + ld(1, kv("host.name", "h"))
        scope = ld(1, ld(1, "io.vqwen") + ld(2, "1.0")) + b"".join(ld(2, s) for s in spans)
        out += ld(1, ld(1, resource) + ld(2, scope) + ld(3, "https://opentelemetry.io/schemas/1.24.0"))
    return out


T = bytes(range(16))
MS = 1_000_000
BASE = 1_764_800_000_000_000_000


def chat_trace(trace=T, t0=BASE, prefill_ms=30):
    return request([
        ("gateway", [span(trace, b"\x01" * 8, None, "POST /v1/chat/completions", t0, t0 + 100 * MS, [("http.status", 200)], 2),
                     span(trace, b"\x02" * 8, b"\x01" * 8, "encode", t0 + 1 * MS, t0 + 41 * MS)]),
        ("decoder-service", [span(trace, b"\x03" * 8, b"\x01" * 8, "prefill", t0 + 45 * MS, t0 + (45 + prefill_ms) * MS,
                                  [("tokens", 592), ("ratio", 0.5), ("cached", False)])])])


class DecodeTest(unittest.TestCase):
    def test_spans_with_their_service_ids_times_and_attributes(self):
        spans = otlp_receiver.decode_request(chat_trace())
        self.assertEqual([(s["service"], s["name"]) for s in spans],
                         [("gateway", "POST /v1/chat/completions"), ("gateway", "encode"), ("decoder-service", "prefill")])
        root, enc, pre = spans
        self.assertEqual(root["trace_id"], T.hex())
        self.assertEqual(root["span_id"], "01" * 8)
        self.assertEqual(root["parent_span_id"], "")
        self.assertEqual(enc["parent_span_id"], "01" * 8)
        self.assertEqual(root["kind"], "server")
        self.assertEqual(enc["start_ns"], BASE + MS)
        self.assertAlmostEqual(enc["duration_ms"], 40.0)
        self.assertEqual(pre["attributes"], {"tokens": 592, "ratio": 0.5, "cached": False})
        self.assertEqual(root["attributes"], {"http.status": 200})

    def test_negative_int_and_unknown_fields(self):
        body = request([("x", [span(T, b"\x09" * 8, None, "s", 5, 6, [("delta", -3)]) + ld(99, b"future field")])])
        (s,) = otlp_receiver.decode_request(body)
        self.assertEqual(s["attributes"], {"delta": -3})

    def test_truncated_body_is_an_error(self):
        body = chat_trace()
        with self.assertRaisesRegex(ValueError, "runs past the end|truncated"):
            otlp_receiver.decode_request(body[:-5])

    def test_empty_request_has_no_spans(self):
        self.assertEqual(otlp_receiver.decode_request(b""), [])


class ServerTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "spans.jsonl")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), otlp_receiver.handler(otlp_receiver.Receiver(self.path)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def post(self, body, headers):
        c = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=5)
        c.request("POST", "/v1/traces", body, headers)
        r = c.getresponse()
        out = (r.status, r.getheader("Content-Type"), r.read())
        c.close()
        return out

    def stats(self):
        c = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=5)
        c.request("GET", "/stats")
        out = json.loads(c.getresponse().read())
        c.close()
        return out

    def test_gzip_and_identity_bodies_are_written_as_json_lines(self):
        proto = {"Content-Type": "application/x-protobuf"}
        self.assertEqual(self.post(gzip.compress(chat_trace()), dict(proto, **{"Content-Encoding": "gzip"})),
                         (200, "application/x-protobuf", b""))
        self.assertEqual(self.post(chat_trace(trace=b"\x07" * 16), proto)[0], 200)
        lines = trace_table.load_spans(self.path)
        self.assertEqual(len(lines), 6)
        self.assertEqual({s["trace_id"] for s in lines}, {T.hex(), "07" * 16})
        self.assertEqual(self.stats()["spans"], 6)

    def test_garbage_json_and_bad_encoding_are_rejected(self):
        self.assertEqual(self.post(b"\x0a\xff\xff\xff", {"Content-Type": "application/x-protobuf"})[0], 400)
        self.assertEqual(self.post(b"{}", {"Content-Type": "application/json"})[0], 415)
        self.assertEqual(self.post(chat_trace(), {"Content-Encoding": "br"})[0], 400)
        self.assertEqual(self.stats(), dict(self.stats(), spans=0, rejected=2))


class TableTest(unittest.TestCase):
    def test_phase_window_percentiles_and_share_of_root(self):
        spans = []
        for i in range(10):
            spans += otlp_receiver.decode_request(chat_trace(trace=bytes([i]) * 16, t0=BASE + i * 1000 * MS, prefill_ms=10 + i))
        late = otlp_receiver.decode_request(chat_trace(trace=b"\xee" * 16, t0=BASE + 60_000 * MS))
        summary = trace_table.summarize(trace_table.phase_traces(spans + late, BASE, BASE + 20_000 * MS))
        self.assertEqual(summary["traces"], 10)
        self.assertEqual(summary["services_per_trace_p50"], 2)
        self.assertEqual(summary["orphan_spans"], 0)
        self.assertEqual(summary["roots"], [dict(root="gateway/POST /v1/chat/completions", count=10, p50_ms=100.0, p99_ms=100.0)])
        rows = {(r["service"], r["span"]): r for r in summary["rows"]}
        pre = rows[("decoder-service", "prefill")]
        self.assertEqual(pre["count"], 10)
        self.assertAlmostEqual(pre["p50_ms"], 14.0)
        self.assertAlmostEqual(pre["p99_ms"], 19.0)
        self.assertAlmostEqual(rows[("gateway", "encode")]["share_of_root_p50"], 0.4)
        text = trace_table.render("load", summary, len(spans))
        self.assertIn("| decoder-service | prefill | 10 | 14.00 | 19.00 | 14% |", text)
        self.assertIn("traces by root span: gateway/POST /v1/chat/completions x10 (p50 100.0 ms, p99 100.0 ms)", text)

    def test_no_spans_is_said_plainly(self):
        self.assertIn("no spans received", trace_table.render("single", trace_table.summarize({}), 0))


if __name__ == "__main__":
    unittest.main()
