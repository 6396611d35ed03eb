#!/usr/bin/env bash
# Runs every test. Neo4j tests need the server, which this script starts (and stops at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
$BIN/ruff check engine graph models api tests
$BIN/python -m pytest -q "$@"
