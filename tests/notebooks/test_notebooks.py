"""The notebooks run top to bottom on a small world, and say what they promise.

They are executed with the project's own Python (nbclient + ipykernel), so an API change that
breaks a notebook breaks CI rather than a data scientist's afternoon.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="install the dev extra: pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="install the dev extra: pip install -e '.[dev]'")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

pytestmark = pytest.mark.slow


def run(name: str, cwd: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> str:
    """Every text and HTML output of the executed notebook, as one string."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.append(data.get("text/plain", ""))
            parts.append(data.get("text/html", ""))
    return "\n".join(parts)


def images(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


@pytest.fixture(scope="module")
def resolved_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a small synthetic world ingested, resolved and published (embedded store)."""
    from engine.ingest.mapping import load_mapping
    from engine.ingest.run import ingest_file
    from engine.ingest.store import RecordStore
    from engine.run import run_batch
    from graph.open import open_store
    from synth import WorldParameters, generate_world

    home = tmp_path_factory.mktemp("nb-home")
    world = home / "world"
    generate_world(WorldParameters(persons=1500, seed=5), world)
    with RecordStore(home / "records.sqlite") as store:
        for mapping in sorted(world.glob("*.yaml")):
            data = [p for p in world.glob(mapping.stem + ".*") if p.suffix != ".yaml"]
            ingest_file(store, load_mapping(mapping), data[0], reports_dir=home / "reports")
    with open_store("embedded", home) as graph:
        run_batch(home, graph)
    return home


def test_analyst_notebook_answers_every_question(
    resolved_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EKJON_HOME", str(resolved_home))
    notebook = run("analyst_findings.ipynb", resolved_home)
    text = outputs(notebook)
    assert "findings" in text and "suspicious identifiers" in text
    # the world plants double dipping and suspicious wallets: the pictures show them
    assert (resolved_home / "notebooks" / "findings" / "riskiest.png").stat().st_size > 0
    assert images(notebook) >= 2


def test_retrain_notebook_writes_a_model_that_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.quality.training import load_model

    monkeypatch.setenv("EKJON_HOME", str(tmp_path))
    monkeypatch.setenv("EKJON_NB_PERSONS", "1500")
    notebook = run("retrain_match_model.ipynb", tmp_path)
    text = outputs(notebook)
    assert "use it: ekjon resolve --model" in text
    artifacts = sorted((tmp_path / "notebooks" / "retrain").glob("model-*.json"))
    assert len(artifacts) == 1
    model = load_model(artifacts[0])
    summary = json.loads(artifacts[0].read_text())
    assert "1500" in json.dumps(summary)
    assert hasattr(model, "predict_proba")
    assert images(notebook) >= 2
