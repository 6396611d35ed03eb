#!/usr/bin/env bash
# Runs every test. The Neo4j contract tests need a real server: this script starts the project's own
# (`ekjon neo4j start`, built from Maven Central on first use) unless one already runs, and stops
# what it started when the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export EKJON_HOME="${EKJON_HOME:-$PWD/.ekjon}"
$BIN/ruff check ekjon engine synth graph models api tests benchmarks
if ! $BIN/ekjon neo4j status >/dev/null; then
  # HTTP (Neo4j Browser) is not needed by the tests: off, so only the Bolt port must be free.
  $BIN/ekjon neo4j start --heap 2g --pagecache 512m --http-port 0 --timeout 600
  trap '$BIN/ekjon neo4j stop' EXIT
fi
$BIN/python -m pytest -q "$@"
