"""Tests of record_results.py: collect merges a run's phase files, record writes one JSON line per figure."""
import io
import json
import os
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

import record_results


def read(path):
    with open(path) as f:
        return json.load(f)


def write(d, name, obj):
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump(obj, f)


class RecordTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        res = os.path.join(self.dir, "res")
        os.mkdir(res)
        write(res, "meta", dict(commit="abc123", tree="clean", date="2026-12-04", backend="cuda", devices="0"))
        write(res, "single", dict(requests=20, ttft_ms_p50=35.0, decode_tokens_per_s_p50=270.0))
        write(res, "load-1", dict(aggregate_tokens_per_s=1000.0, ttft_ms_p50=2000.0, ttft_ms_p99=5000.0))
        write(res, "load-2", dict(requests=64, new_tokens_each=128, aggregate_tokens_per_s=3000.0, ttft_ms_p50=250.0, ttft_ms_p99=1200.0,
                                  decode_tokens_per_s_p50=60.0))
        write(res, "intake", dict(uploads=512, in_flight=128, images_per_s=600.0))
        write(res, "engine", dict(ttft_ms=24.0, decode_b1_tok_s_per_seq=280.0, streams_aggregate_tok_s=3000.0,
                                  streams_ttft_ms_p50=200.0, decode_b64_aggregate_tok_s=7000.0,
                                  scheduler_decode_vs_raw=0.8, limit_ttft_ms=6.0, limit_decode_b64_tok_s=34000.0))
        write(res, "traces-single", dict(traces=0, rows=[], received_in_all=0))
        self.results = os.path.join(self.dir, "results.json")
        with redirect_stdout(io.StringIO()):
            record_results.collect(res, self.results)

    def test_collect_keeps_the_last_load_round_and_the_trace_tables(self):
        r = read(self.results)
        self.assertEqual(r["load"]["aggregate_tokens_per_s"], 3000.0)
        self.assertEqual(r["load"]["round"], 2)
        self.assertEqual(len(r["load_rounds"]), 2)
        self.assertEqual(r["traces"]["single"]["received_in_all"], 0)

    def test_record_appends_one_line_per_figure_with_the_engine_baseline(self):
        jsonl = os.path.join(self.dir, "out.jsonl")
        with open(jsonl, "w") as f:
            f.write('{"old": 1}\n')
        out = io.StringIO()
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            record_results.record(self.results, jsonl, False)
        with open(jsonl) as f:
            lines = [json.loads(x) for x in f]
        self.assertEqual(lines[0], {"old": 1})
        by = {x["metric"]: x for x in lines[1:]}
        self.assertEqual(by["mesh_tokens_per_s_64"], dict(date="2026-12-04", commit="abc123", metric="mesh_tokens_per_s_64",
                                                          value=3000.0, unit="tokens/s", baseline=3000.0))
        self.assertEqual(by["mesh_ttft_ms_b1"]["baseline"], 24.0)
        self.assertNotIn("baseline", by["scheduler_decode_vs_raw_64"])
        self.assertEqual(by["engine_raw_tokens_per_s_64"]["value"], 7000.0)
        self.assertNotIn("mesh_images_per_s_missing", by)
        table = out.getvalue()
        self.assertIn("| mesh_ttft_ms_b1 (ms, lower is better) | 35.0 | 24.0 | 6.000 | 1.46 | 5.83 | <= 40.0 | yes |", table)
        self.assertIn("| mesh_ttft_p99_ms_64 (ms, lower is better) | 1200 | - | - | - | - | <= 1000 | NO |", table)
        # decode b1 target is 95% of the engine's: 266 <= 270
        self.assertIn("| mesh_decode_tokens_per_s_b1 (tokens/s) | 270 | 280 | - | 0.96 | - | >= 266 | yes |", table)
        self.assertIn("| scheduler_decode_vs_raw_64 (ratio) | 0.800 | - | - | - | - | >= 0.900 | NO |", table)
        self.assertIn("| engine_ttft_ms_b1 (ms, lower is better) | 24.0 | - | 6.000 | - | 4.00 | - | - |", table)
        self.assertIn("== where the time goes: single\nno spans received", table)
        self.assertNotIn("Not the issue's workload", table)

    def test_a_smoke_test_workload_is_not_recorded_without_force(self):
        r = read(self.results)
        r["load"]["requests"] = 4
        write(self.dir, "results", r)
        jsonl = os.path.join(self.dir, "smoke.jsonl")
        with self.assertRaisesRegex(SystemExit, "load requests = 4 \\(the issue's: 64\\)"):
            record_results.record(self.results, jsonl, False)
        self.assertFalse(os.path.exists(jsonl))
        with redirect_stdout(io.StringIO()) as out, redirect_stderr(io.StringIO()):
            record_results.record(self.results, jsonl, False, force=True)
        self.assertIn("Not the issue's workload: load requests = 4", out.getvalue())
        self.assertTrue(os.path.exists(jsonl))

    def test_dry_run_writes_nothing_and_a_run_without_commit_is_refused(self):
        jsonl = os.path.join(self.dir, "none.jsonl")
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            record_results.record(self.results, jsonl, True)
        self.assertFalse(os.path.exists(jsonl))
        r = read(self.results)
        r["meta"]["commit"] = None
        write(self.dir, "results", r)
        with self.assertRaisesRegex(SystemExit, "no meta.commit"):
            record_results.record(self.results, jsonl, True)


if __name__ == "__main__":
    unittest.main()
