"""The HTTP intake API every agency service gets (FastAPI).

- `POST /records`: one intake record (JSON). 202 only after the broker acknowledged the
  event (acks=all); 400 malformed JSON, 422 invalid fields, 403 an agency/type this
  service may not publish; every refusal is dead-lettered. 503 when the broker does not
  acknowledge (nothing accepted, retry).
- `POST /agencies/{agency}/records`: the same, for one agency's endpoint: a record of
  another agency is refused (one municipality cannot publish as another).
- `POST /records:batch`: JSONL body, one record a line; 202 all accepted, 207 some
  refused, 422 none accepted; refused lines are reported by number.
- `GET /healthz` (process alive), `/readyz` (broker reachable), `/metrics` (Prometheus),
  `/openapi.json`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from intake.base import IntakeItem
from intake.errors import RecordRejected
from intake.models import record_adapter
from intake.publisher import Accepted, IntakePublisher, Outcome, Rejected
from intake.redact import scrub_text
from ketenbus.agencies import agency_from_slug
from ketenbus.errors import KetenbusError
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.producer import DeliveryFailed

log = get_logger("adapter.http")
MAX_BODY_BYTES = 1 << 20  # one record is a few hundred bytes
MAX_BATCH_BYTES = 32 << 20
READY_TIMEOUT_S = 3.0

_RECORD_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IntakeRecord"}}},
}
_BATCH_BODY = {
    "required": True,
    "content": {"application/x-ndjson": {"schema": {"type": "string", "description": "JSONL"}}},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    "400": {"description": "malformed JSON"},
    "403": {"description": "agency or event type not allowed here (dead-lettered)"},
    "413": {"description": "body too large"},
    "422": {"description": "invalid record: one message per field (dead-lettered)"},
    "503": {"description": "broker did not acknowledge: not accepted, retry"},
}


def _accepted_body(accepted: Accepted) -> dict[str, Any]:
    return {
        "event_id": accepted.event_id,
        "agency": accepted.agency,
        "type": accepted.type,
        "key": accepted.key,
        "topic": accepted.topic,
        "partition": accepted.partition,
        "offset": accepted.offset,
    }


def _rejected_body(rejected: Rejected) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reason": rejected.reason,
        "message": rejected.message,
        "errors": rejected.errors,
        "dead_lettered": True,
    }
    if rejected.line is not None:
        body["line"] = rejected.line
    return body


def _refusal(exc: RecordRejected) -> JSONResponse:
    body = {
        "reason": exc.reason,
        "message": scrub_text(exc.message),
        "errors": [{"field": e.field, "message": scrub_text(e.message)} for e in exc.errors],
        "dead_lettered": True,
    }
    return JSONResponse(body, status_code=exc.status)


def _unavailable(exc: Exception) -> JSONResponse:
    log.error("broker_unavailable", error=str(exc))
    return JSONResponse(
        {"reason": "broker_unavailable", "message": "the broker did not acknowledge; retry"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _body(request: Request, limit: int) -> bytes | JSONResponse:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return JSONResponse({"reason": "too_large", "message": f"body over {limit} bytes"}, 413)
    body = await request.body()
    if len(body) > limit:
        return JSONResponse({"reason": "too_large", "message": f"body over {limit} bytes"}, 413)
    return body


def create_app(publisher: IntakePublisher, *, service: str) -> FastAPI:
    """The intake API of one agency service over its publisher."""
    app = FastAPI(
        title=f"ketenbus {service} intake",
        version="1",
        description=__doc__,
        lifespan=_lifespan(publisher, service),
    )
    source = f"http:{service}"
    admin = AdminClient(client_config(publisher.topics.settings))
    _add_record_routes(app, publisher, source)
    _add_batch_route(app, publisher, source)
    _add_probe_routes(app, admin, service)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _lifespan(
    publisher: IntakePublisher, service: str
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Log the start, and close the publisher (flushing its producer) on the way out."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("service_started", service=service)
        yield
        publisher.close()
        log.info("service_stopped", service=service)

    return lifespan


def _add_record_routes(app: FastAPI, publisher: IntakePublisher, source: str) -> None:
    """`POST /records` and `POST /agencies/{agency}/records`: one record, 202 once acked."""

    async def submit(body: bytes, expected_agency: str | None) -> JSONResponse:
        try:
            accepted = await publisher.submit_async(
                IntakeItem(payload=body, original=body),
                source=source,
                expected_agency=expected_agency,
            )
        except RecordRejected as exc:
            return _refusal(exc)
        except (DeliveryFailed, KafkaException, KetenbusError, TimeoutError) as exc:
            return _unavailable(exc)
        return JSONResponse(_accepted_body(accepted), status_code=202)

    @app.post(
        "/records", status_code=202, openapi_extra={"requestBody": _RECORD_BODY}, responses=_ERRORS
    )
    async def post_record(request: Request) -> Response:
        """Publish one intake record."""
        body = await _body(request, MAX_BODY_BYTES)
        if isinstance(body, JSONResponse):
            return body
        return await submit(body, None)

    @app.post(
        "/agencies/{agency}/records",
        status_code=202,
        openapi_extra={"requestBody": _RECORD_BODY},
        responses=_ERRORS,
    )
    async def post_agency_record(agency: str, request: Request) -> Response:
        """Publish one intake record of `agency` (`gemeente:0599` or `gemeente.0599`)."""
        body = await _body(request, MAX_BODY_BYTES)
        if isinstance(body, JSONResponse):
            return body
        return await submit(body, agency_from_slug(agency))


def _add_batch_route(app: FastAPI, publisher: IntakePublisher, source: str) -> None:
    """`POST /records:batch`: JSONL; 202 all accepted, 207 some refused, 422 none."""

    def submit_batch(body: bytes) -> JSONResponse:
        items = [
            IntakeItem(payload=line.rstrip(b"\r"), original=line.rstrip(b"\r"), line=n)
            for n, line in enumerate(body.split(b"\n"), start=1)
            if line.strip()
        ]
        try:
            outcome: Outcome = publisher.submit_many(items, source=source)
        except (DeliveryFailed, KafkaException, KetenbusError) as exc:
            return _unavailable(exc)
        status = 202 if not outcome.rejected else (207 if outcome.accepted else 422)
        return JSONResponse(
            {
                "published": len(outcome.accepted),
                "rejected": len(outcome.rejected),
                "accepted": [_accepted_body(a) | {"line": a.line} for a in outcome.accepted],
                "refused": [_rejected_body(r) for r in outcome.rejected],
            },
            status_code=status,
        )

    @app.post("/records:batch", openapi_extra={"requestBody": _BATCH_BODY}, responses=_ERRORS)
    async def post_batch(request: Request) -> Response:
        """Publish many intake records (JSONL body); refused lines are reported by number."""
        body = await _body(request, MAX_BATCH_BYTES)
        if isinstance(body, JSONResponse):
            return body
        return await _in_thread(submit_batch, body)


def _add_probe_routes(app: FastAPI, admin: AdminClient, service: str) -> None:
    """`/healthz` (alive), `/readyz` (the broker answers), `/metrics` (Prometheus)."""

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "service": service}

    def ready() -> JSONResponse:
        try:
            metadata = admin.list_topics(timeout=READY_TIMEOUT_S)
        except KafkaException as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        if not metadata.brokers:
            return JSONResponse({"status": "unavailable", "error": "no brokers"}, status_code=503)
        return JSONResponse({"status": "ready", "brokers": len(metadata.brokers)})

    @app.get("/readyz")
    async def readyz() -> Response:
        """The broker answers metadata requests."""
        return await _in_thread(ready)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics of this process."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with the intake record's JSON schema as the request body."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            record = record_adapter().json_schema(ref_template="#/components/schemas/{model}")
            defs = record.pop("$defs", {})
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs)
            components["IntakeRecord"] = record
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


async def _in_thread(func: Callable[..., Response], *args: Any) -> Response:
    return await run_in_threadpool(func, *args)
