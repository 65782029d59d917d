"""The HTTP intake API every agency service gets (FastAPI).

Every intake endpoint needs `Authorization: Bearer <JWT>` (ZGW style, see
`intake.clients` and docs/intake-trust.md); the client may publish only for the agencies
bound to it. Refusals are RFC 9457 problem details (`application/problem+json`) that
name fields and rules, never input values.

- `POST /records`: one intake record (JSON). 202 only after the broker acknowledged the
  event (acks=all). 401 no/bad token (nothing read, nothing kept); 403 an agency the client
  may not publish for, or a type/agency this service does not serve; 400 not JSON; 413
  too large (cut off while reading); 409 the ref was published with other content; 422
  invalid fields. Every refusal after authentication is dead-lettered. 503 only when the
  broker does not acknowledge (nothing accepted, retry).
- `POST /agencies/{agency}/records`: the same, for one agency's endpoint: a record of
  another agency is refused (one municipality cannot publish as another).
- `POST /records:batch`: JSONL body, one record a line, each judged on its own: 202 all
  accepted, 207 some refused; none accepted: the status all refusals share (403 all for
  another agency, ...), else 422. The answer lists every accepted line (with its event)
  and every refused line (with its status and reason).
- `GET /healthz` (process alive), `/readyz` (broker reachable); `/metrics` (Prometheus),
  `/docs`, `/openapi.json`: loopback callers only unless
  KETENBUS_EXPOSE_OPERATIONS_ENDPOINTS=true.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from intake.audit import ACCEPTED, audit
from intake.base import IntakeItem
from intake.clients import Caller, ClientRegistry, Unauthenticated
from intake.core import guess_ref
from intake.errors import RecordRejected, RecordTooLarge
from intake.models import record_adapter
from intake.publisher import Accepted, IntakePublisher, Outcome, Rejected
from intake.redact import has_bsn_shape, scrub_text
from ketenbus.agencies import agency_from_slug
from ketenbus.errors import KetenbusError
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.producer import DeliveryFailed
from ketenbus.settings import Settings

log = get_logger("adapter.http")
READY_TIMEOUT_S = 3.0
PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:ketenbus:problem:"
#: Served to loopback callers only (unless configured otherwise): they describe the
#: service to whoever can reach it.
OPERATIONS_PATHS = frozenset(
    {"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_RECORD_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IntakeRecord"}}},
}
_BATCH_BODY = {
    "required": True,
    "content": {"application/x-ndjson": {"schema": {"type": "string", "description": "JSONL"}}},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    "400": {"description": "not JSON (problem+json; dead-lettered)"},
    "401": {"description": "no or bad bearer token (problem+json; nothing kept)"},
    "403": {"description": "agency not allowed for this client or service (dead-lettered)"},
    "409": {"description": "ref published before with other content (dead-lettered)"},
    "413": {"description": "body too large, cut off while reading (dead-lettered, no content)"},
    "422": {"description": "invalid record: one entry per field and rule (dead-lettered)"},
    "503": {"description": "broker did not acknowledge: not accepted, retry"},
}
_TITLES = {
    400: "Malformed record",
    401: "Not authenticated",
    403: "Not allowed",
    409: "Conflicting re-send",
    413: "Too large",
    422: "Invalid record",
    503: "Broker unavailable",
}


class Json(JSONResponse):
    """A JSON answer written by orjson (the same compact UTF-8 JSON as Starlette's, in a
    fraction of the time: a batch answer lists every record)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # what orjson refuses (a lone surrogate): Starlette's encoder
            return super().render(content)


def problem(
    status: int,
    reason: str,
    detail: str,
    request_id: str,
    *,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem details response; `reason` is our code for the rule broken."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + reason,
        "title": _TITLES.get(status, "Refused"),
        "status": status,
        "detail": detail,
        "reason": reason,
        "request_id": request_id,
        **(extensions or {}),
    }
    return Json(
        body,
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={"X-Request-ID": request_id, **(headers or {})},
    )


def _accepted_body(accepted: Accepted) -> dict[str, Any]:
    return {
        "event_id": accepted.event_id,
        "agency": accepted.agency,
        "type": accepted.type,
        "ref": accepted.ref,
        "key": accepted.key,
        "topic": accepted.topic,
        "partition": accepted.partition,
        "offset": accepted.offset,
    }


def _rejected_body(rejected: Rejected) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": rejected.status,
        "reason": rejected.reason,
        "message": rejected.message,
        "errors": rejected.errors,
        "dead_lettered": True,
    }
    if rejected.line is not None:
        body["line"] = rejected.line
    return body


class BodyTooLarge(Exception):
    """The body went past its limit while being read (the rest was not read)."""


@dataclass(frozen=True)
class Line:
    number: int
    data: bytes
    too_large: bool = False


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk; `BodyTooLarge` as soon as it passes `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def read_lines(
    request: Request, *, max_total: int, max_line: int, max_lines: int
) -> list[Line]:
    """The non-blank lines of a JSONL body, read as a stream: a line over `max_line` is
    kept as a too-large marker (its bytes skipped, not stored); `BodyTooLarge` when the
    whole body passes `max_total` or holds more than `max_lines` records."""
    lines: list[Line] = []
    pending = bytearray()
    skipping = False
    number = 1
    size = 0

    def finish(data: bytes, too_large: bool) -> None:
        nonlocal number
        data = data.rstrip(b"\r")
        if too_large or data.strip():
            lines.append(Line(number, b"" if too_large else data, too_large))
            if len(lines) > max_lines:
                raise BodyTooLarge
        number += 1

    async for chunk in request.stream():
        size += len(chunk)
        if size > max_total:
            raise BodyTooLarge
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not skipping:
                pending += piece
                if len(pending) > max_line:
                    skipping = True
                    pending.clear()
            if end < 0:
                break
            finish(bytes(pending), skipping)
            pending.clear()
            skipping = False
            start = end + 1
    if pending or skipping:
        finish(bytes(pending), skipping)
    return lines


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    if _REQUEST_ID.match(given) and not has_bsn_shape(given):
        return given
    return secrets.token_hex(16)


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class OperationsOnLoopback:
    """Answers 404 to non-loopback callers of the operations paths (pure ASGI: no cost
    for the intake endpoints)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in OPERATIONS_PATHS:
            client = scope.get("client")
            if not _loopback(client[0] if client else None):
                response = JSONResponse({"detail": "Not Found"}, status_code=404)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class _Service:
    """What every route of one agency service shares."""

    publisher: IntakePublisher
    settings: Settings
    clients: ClientRegistry
    name: str

    @property
    def source(self) -> str:
        return f"http:{self.name}"

    @property
    def too_large(self) -> RecordTooLarge:
        return RecordTooLarge(
            f"a record may hold at most {self.settings.intake_max_record_bytes} bytes"
        )


def create_app(publisher: IntakePublisher, *, service: str) -> FastAPI:
    """The intake API of one agency service over its publisher."""
    settings: Settings = publisher.topics.settings
    ctx = _Service(publisher, settings, ClientRegistry(settings), service)
    app = FastAPI(
        title=f"ketenbus {service} intake",
        version="1",
        description=__doc__,
        lifespan=_lifespan(publisher, service),
    )
    if not settings.expose_operations_endpoints:
        app.add_middleware(OperationsOnLoopback)
    _add_record_routes(app, ctx)
    _add_batch_route(app, ctx)
    app.add_middleware(IntakeFastPath, ctx=ctx)  # outermost: added last
    _add_probe_routes(app, AdminClient(client_config(settings)), service)
    app.exception_handler(Exception)(_unexpected)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _lifespan(
    publisher: IntakePublisher, service: str
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Log the start, and close the publisher (flushing its producers) on the way out."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("service_started", service=service)
        yield
        publisher.close()
        log.info("service_stopped", service=service)

    return lifespan


def _unavailable(exc: Exception, request_id: str) -> JSONResponse:
    log.error("broker_unavailable", error=type(exc).__name__, request_id=request_id)
    return problem(
        503,
        "broker_unavailable",
        "the broker did not acknowledge; nothing was accepted, retry",
        request_id,
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    # the service boundary: say nothing of the input, keep serving
    log.error("request_failed", error=type(exc).__name__, path=request.url.path)
    return problem(500, "internal_error", "the request could not be handled", _request_id(request))


def _authenticate(
    ctx: _Service, request: Request, request_id: str, endpoint: str
) -> Caller | JSONResponse:
    """The caller, or the 401 answer (audited; nothing of the body is read)."""
    try:
        return ctx.clients.authenticate(request.headers.get("authorization"))
    except Unauthenticated as exc:
        audit(
            service=ctx.name,
            request_id=request_id,
            client=None,
            outcome=exc.reason,
            status=401,
            endpoint=endpoint,
        )
        return problem(
            401,
            exc.reason,
            exc.message,
            request_id,
            headers={"WWW-Authenticate": 'Bearer realm="ketenbus-intake"'},
        )


def _refused(
    ctx: _Service,
    exc: RecordRejected,
    rejected: Rejected,
    request_id: str,
    caller: Caller,
    endpoint: str,
    ref: str | None,
) -> JSONResponse:
    """The problem answer of a refused record (dead-lettered already), audited."""
    audit(
        service=ctx.name,
        request_id=request_id,
        client=caller.client_id,
        outcome=exc.reason,
        status=exc.status,
        endpoint=endpoint,
        agency=exc.agency,
        ref=ref,
    )
    return problem(
        exc.status,
        exc.reason,
        rejected.message,
        request_id,
        extensions={"errors": rejected.errors, "dead_lettered": True},
    )


async def _refuse_unread(
    ctx: _Service,
    exc: RecordTooLarge,
    request_id: str,
    caller: Caller,
    endpoint: str,
) -> JSONResponse:
    """A body cut off for its size: dead-lettered without content, answered 413."""
    item = IntakeItem(payload=b"", original=b"", too_large=True)
    try:
        rejected = await run_in_threadpool(ctx.publisher.refuse, item, exc, source=ctx.source)
    except (DeliveryFailed, KafkaException, KetenbusError) as failure:
        return _unavailable(failure, request_id)
    return _refused(ctx, exc, rejected, request_id, caller, endpoint, None)


def _rejected_of(exc: RecordRejected) -> Rejected:
    return Rejected(
        reason=exc.reason,
        message=scrub_text(exc.message),
        errors=[
            {"field": scrub_text(e.field), "message": scrub_text(e.message)} for e in exc.errors
        ],
        status=exc.status,
        agency=exc.agency,
        type=exc.type,
    )


async def _one_record(
    ctx: _Service, request: Request, endpoint: str, expected_agency: str | None
) -> Response:
    """Authenticate, read (bounded), publish one record; answer 202 or a problem."""
    request_id = _request_id(request)
    caller = _authenticate(ctx, request, request_id, endpoint)
    if isinstance(caller, JSONResponse):
        return caller
    try:
        body = await read_limited(request, ctx.settings.intake_max_record_bytes)
    except BodyTooLarge:
        return await _refuse_unread(ctx, ctx.too_large, request_id, caller, endpoint)
    try:
        accepted = await ctx.publisher.submit_async(
            IntakeItem(payload=body, original=body),
            source=ctx.source,
            expected_agency=expected_agency,
            allowed_agencies=caller.agencies,
            log_published=False,  # the audit line below says where it went
        )
    except RecordRejected as exc:
        return _refused(ctx, exc, _rejected_of(exc), request_id, caller, endpoint, guess_ref(body))
    except (DeliveryFailed, KafkaException, KetenbusError, TimeoutError) as exc:
        return _unavailable(exc, request_id)
    audit(
        service=ctx.name,
        request_id=request_id,
        client=caller.client_id,
        outcome=ACCEPTED,
        status=202,
        endpoint=endpoint,
        agency=accepted.agency,
        ref=accepted.ref,
        published=accepted,
    )
    return Json(
        _accepted_body(accepted) | {"request_id": request_id},
        status_code=202,
        headers={"X-Request-ID": request_id},
    )


def _add_record_routes(app: FastAPI, ctx: _Service) -> None:
    """`POST /records` and `POST /agencies/{agency}/records`: one record, 202 once acked."""

    @app.post(
        "/records", status_code=202, openapi_extra={"requestBody": _RECORD_BODY}, responses=_ERRORS
    )
    async def post_record(request: Request) -> Response:
        """Publish one intake record."""
        return await _one_record(ctx, request, "/records", None)

    @app.post(
        "/agencies/{agency}/records",
        status_code=202,
        openapi_extra={"requestBody": _RECORD_BODY},
        responses=_ERRORS,
    )
    async def post_agency_record(agency: str, request: Request) -> Response:
        """Publish one intake record of `agency` (`gemeente:0599` or `gemeente.0599`)."""
        return await _one_record(
            ctx, request, "/agencies/{agency}/records", agency_from_slug(agency)
        )


def _batch_items(ctx: _Service, lines: list[Line]) -> list[IntakeItem]:
    return [
        IntakeItem(
            payload=line.data,
            original=line.data,
            line=line.number,
            too_large=line.too_large,
            error=ctx.too_large if line.too_large else None,
        )
        for line in lines
    ]


def _audit_batch(
    ctx: _Service, outcome: Outcome, lines: list[Line], caller: Caller, request_id: str
) -> None:
    by_line = {line.number: line.data for line in lines}
    for accepted in outcome.accepted:
        audit(
            service=ctx.name,
            request_id=request_id,
            client=caller.client_id,
            outcome=ACCEPTED,
            status=202,
            endpoint="/records:batch",
            agency=accepted.agency,
            ref=accepted.ref,
            line=accepted.line,
            published=accepted,
        )
    for rejected in outcome.rejected:
        audit(
            service=ctx.name,
            request_id=request_id,
            client=caller.client_id,
            outcome=rejected.reason,
            status=rejected.status,
            endpoint="/records:batch",
            agency=rejected.agency,
            ref=guess_ref(by_line.get(rejected.line or 0, b"")),
            line=rejected.line,
        )


def _batch_answer(outcome: Outcome, request_id: str) -> JSONResponse:
    body: dict[str, Any] = {
        "request_id": request_id,
        "published": len(outcome.accepted),
        "rejected": len(outcome.rejected),
        "accepted": [_accepted_body(a) | {"line": a.line} for a in outcome.accepted],
        "refused": [_rejected_body(r) for r in outcome.rejected],
    }
    if not outcome.rejected:
        return Json(body, status_code=202, headers={"X-Request-ID": request_id})
    if outcome.accepted:
        return Json(body, status_code=207, headers={"X-Request-ID": request_id})
    # one cause for every record (e.g. all for another agency): answer with its status
    statuses = {r.status for r in outcome.rejected}
    status = statuses.pop() if len(statuses) == 1 else 422
    return problem(
        status,
        "batch_refused",
        "no record of the batch was accepted; see refused",
        request_id,
        extensions={k: v for k, v in body.items() if k != "request_id"},
    )


def _submit_batch(
    ctx: _Service, lines: list[Line], caller: Caller, request_id: str
) -> JSONResponse:
    try:
        outcome: Outcome = ctx.publisher.submit_many(
            _batch_items(ctx, lines),
            source=ctx.source,
            allowed_agencies=caller.agencies,
            log_published=False,  # each record's audit line says where it went
        )
    except (DeliveryFailed, KafkaException, KetenbusError, TimeoutError) as exc:
        return _unavailable(exc, request_id)
    _audit_batch(ctx, outcome, lines, caller, request_id)
    return _batch_answer(outcome, request_id)


async def _batch(ctx: _Service, request: Request) -> Response:
    """Authenticate, read the JSONL body (bounded), publish each record on its own."""
    request_id = _request_id(request)
    caller = _authenticate(ctx, request, request_id, "/records:batch")
    if isinstance(caller, JSONResponse):
        return caller
    settings = ctx.settings
    try:
        lines = await read_lines(
            request,
            max_total=settings.intake_max_batch_bytes,
            max_line=settings.intake_max_record_bytes,
            max_lines=settings.intake_max_batch_records,
        )
    except BodyTooLarge:
        exc = RecordTooLarge(
            f"a batch may hold at most {settings.intake_max_batch_bytes} bytes and"
            f" {settings.intake_max_batch_records} records"
        )
        return await _refuse_unread(ctx, exc, request_id, caller, "/records:batch")
    return await _in_thread(_submit_batch, ctx, lines, caller, request_id)


def _add_batch_route(app: FastAPI, ctx: _Service) -> None:
    """`POST /records:batch`: JSONL, each line judged on its own."""

    @app.post("/records:batch", openapi_extra={"requestBody": _BATCH_BODY}, responses=_ERRORS)
    async def post_batch(request: Request) -> Response:
        """Publish many intake records (JSONL body), each judged on its own."""
        return await _batch(ctx, request)


class IntakeFastPath:
    """The three intake endpoints straight to their handlers (pure ASGI), the same
    handlers the FastAPI routes call: FastAPI's routing, dependency solving and middleware
    layers cost about a third of a one-record request. The FastAPI routes stay for the
    OpenAPI document (and answer whatever this does not take). An unexpected error gets
    the same 500 problem answer as the app's catch-all handler."""

    def __init__(self, app: ASGIApp, ctx: _Service) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        request = Request(scope, receive)
        handler: Callable[[], Awaitable[Response]]
        if path == "/records":
            handler = partial(_one_record, self.ctx, request, "/records", None)
        elif path == "/records:batch":
            handler = partial(_batch, self.ctx, request)
        else:
            parts = path.split("/")  # "", "agencies", "<agency>", "records"
            if len(parts) != 4 or parts[1] != "agencies" or parts[3] != "records" or not parts[2]:
                await self.app(scope, receive, send)
                return
            agency = agency_from_slug(parts[2])
            handler = partial(_one_record, self.ctx, request, "/agencies/{agency}/records", agency)
        try:
            response = await handler()
        except Exception as exc:
            response = await _unexpected(request, exc)
        await response(scope, receive, send)


def _add_probe_routes(app: FastAPI, admin: AdminClient, service: str) -> None:
    """`/healthz`, `/readyz` (the broker answers) and `/metrics`."""

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "service": service}

    def ready() -> JSONResponse:
        try:
            metadata = admin.list_topics(timeout=READY_TIMEOUT_S)
        except KafkaException:
            return JSONResponse({"status": "unavailable", "error": "broker"}, status_code=503)
        if not metadata.brokers:
            return JSONResponse({"status": "unavailable", "error": "no brokers"}, status_code=503)
        return JSONResponse({"status": "ready", "brokers": len(metadata.brokers)})

    @app.get("/readyz")
    async def readyz() -> Response:
        """The broker answers metadata requests."""
        return await _in_thread(ready)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics of this process (loopback callers only by default)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document: the intake record's JSON schema as the request body, and the
    bearer token (ZGW `JWT-Claims`) as its security scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=__doc__
            )
            record = record_adapter().json_schema(ref_template="#/components/schemas/{model}")
            defs = record.pop("$defs", {})
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(defs)
            components["schemas"]["IntakeRecord"] = record
            components["securitySchemes"] = {
                "JWT-Claims": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            schema["security"] = [{"JWT-Claims": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


async def _in_thread(func: Callable[..., Response], *args: Any) -> Response:
    return await run_in_threadpool(func, *args)
