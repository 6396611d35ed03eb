"""The committed OpenAPI document is the app's, and the app keeps to it: every operation, given
generated input by schemathesis, answers without a server error and as its document says.

After changing a route, write the document again with::

    .venv/bin/python -m tests.api.test_openapi
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Final

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from api.app import create_app
from api.service import Service
from engine.home import Home

from .conftest import Served

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
#: Generated requests per operation and generation mode, and the whole run's budget.
EXAMPLES: Final = 8
BUDGET_SECONDS: Final = 40.0
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def openapi_text(home: Path) -> str:
    """The app's OpenAPI document as committed (the app served from an empty home)."""
    service = Service(Home.of(home))
    try:
        return json.dumps(create_app(service).openapi(), indent=2, sort_keys=True) + "\n"
    finally:
        service.close()


def test_the_committed_openapi_document_is_the_apps(tmp_path: Path) -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == openapi_text(tmp_path), (
        "docs/openapi.json is out of date: write it again with "
        "`.venv/bin/python -m tests.api.test_openapi`."
    )


def test_every_operation_keeps_to_its_document(served: Served) -> None:
    """Generated requests (valid ones and invalid ones) to every operation, each sent with an
    key of every role (analyst, reviewer, mis, admin): no server error, and every answer as
    documented (a refusal for a role the route does not admit included). Bounded by
    examples per operation and by a time budget."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.client.app)
    started = time.monotonic()
    checked = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation schemathesis cannot read
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() - started > BUDGET_SECONDS:
                break

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                for role in ("analyst", "reviewer", "mis", "admin"):
                    case.call_and_validate(headers=served.headers(role), checks=CHECKS)

            label = f"{operation.method.upper()} {operation.path} ({mode.value})"
            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, label
                continue  # nothing about it can be wrong (no parameters, no body)
            except Exception as exc:
                exc.add_note(f"while checking {label}")
                raise
            checked.append(label)
    assert len(checked) >= 20, checked


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as empty:
        DOCUMENT.write_text(openapi_text(Path(empty)), encoding="utf-8")
    print(f"wrote {DOCUMENT}", file=sys.stderr)
