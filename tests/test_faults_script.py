"""benchmarks/faults.py, small: kills of resolve, ingest and the API server, each checked (the full
run, 50 kills each, is a benchmark; this keeps the script and its guarantees from rotting)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_few_kills_of_resolve_ingest_and_serve_lose_nothing_and_mislead_no_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("faults", ROOT / "benchmarks" / "faults.py")
    assert spec is not None and spec.loader is not None
    faults = importlib.util.module_from_spec(spec)
    sys.modules["faults"] = faults
    spec.loader.exec_module(faults)
    code = faults.main(
        ["--persons", "600", "--ingest-persons", "1500", "--kills", "2", "--serve-kills", "1"]
        + ["--work", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all checks held" in out
    assert "resolve: 2 kills" in out and "ingest: 2 kills" in out and "serve: 1 kills" in out
