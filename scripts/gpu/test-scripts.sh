#!/usr/bin/env bash
# The GPU scripts' own tests, no Maven and no GPU: the OTLP receiver and trace table (on hand-encoded protobuf),
# record_results.py, and bash -n of the shell scripts.
set -euo pipefail
cd "$(dirname "$0")"
for f in *.sh; do bash -n "$f"; done
python3 -m unittest -v test_otlp_receiver test_record_results
