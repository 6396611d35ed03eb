"""The HTTP API: ``create_app(service)`` builds the FastAPI app; ``ekjon serve`` runs it.

Routes live under ``/v1``, one router per resource (:mod:`api.routers`); who may call each is the
role alias it takes (:mod:`api.deps`). OpenAPI at ``/openapi.json``, its pages at ``/docs``; the
committed ``docs/openapi.json`` is kept equal to it by a test.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.service import Service
from engine.errors import EkjonError
from engine.homelock import HomeBusy
from graph.store import PublishInterrupted, StoreUnavailable, StoreWriteFailed

__all__ = ["create_app"]

log = logging.getLogger(__name__)

VERSION = "1"


def create_app(service: Service) -> FastAPI:
    """The app serving ``service`` (started, or started by the app's lifespan)."""
    from api.jobs import IngestJobs
    from api.routers import admin, explain, findings, health, identifiers, jobs, persons, resolve

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Lifespans may nest (a test client, or a tool such as schemathesis, opening the app
        # while another holds it): the jobs start with the first and the service is closed only
        # when the last ends, so an inner one never closes the stores an outer one still serves.
        app.state.lifespans += 1
        if app.state.lifespans == 1:
            app.state.jobs.start()
        try:
            yield
        finally:
            app.state.lifespans -= 1
            if app.state.lifespans == 0:
                app.state.jobs.stop()
                service.close()

    app = FastAPI(
        title="ekjon",
        summary="One person, one file: entity resolution for Bangladesh's social-protection "
        "Single Registry.",
        version=VERSION,
        max_body_size=service.settings.max_body_bytes,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.jobs = IngestJobs(service)
    app.state.lifespans = 0
    for router in (
        health.router,
        persons.router,
        findings.router,
        identifiers.router,
        explain.router,
        jobs.router,
        resolve.router,
        admin.router,
    ):
        app.include_router(router, prefix="/v1")

    @app.exception_handler(EkjonError)
    async def refused(request: Request, exc: EkjonError) -> JSONResponse:
        # a deliberate error of ekjon's (bad input, a store it cannot read): said, never a 500
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(HomeBusy)
    @app.exception_handler(PublishInterrupted)
    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(StoreWriteFailed)
    async def unavailable(request: Request, exc: EkjonError) -> JSONResponse:
        # the graph cannot answer now: a publish cut short (or running), Neo4j unreachable, a
        # full disk; or a resolve run holds the home (a record is not stored meanwhile)
        detail = str(exc)
        if isinstance(exc, PublishInterrupted) and service.backend == "embedded":
            detail += " The embedded store is held by this server: stop `ekjon serve` first."
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "60"})

    _document_refusals(app)
    return app


def _document_refusals(app: FastAPI) -> None:
    """Say in the OpenAPI document that any operation may be refused as malformed JSON (400) or
    too large (413), which FastAPI answers before a route runs."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                responses.setdefault("400", {"description": "The body is not valid JSON."})
                responses.setdefault("413", {"description": "The body is too large."})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
