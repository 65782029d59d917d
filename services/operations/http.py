"""The small HTTP endpoint every operations service (lag monitor, webhook bridge) serves:
`/metrics` (Prometheus text), `/healthz` (JSON, 200 while its `ok` is true, else 503) and
any further JSON routes a service names. Anything else: 404 `not found`.

The standard library's threading server is enough for a probe and a scrape every few
seconds; it runs in a daemon thread so the service's own loop keeps the main thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

#: What a route answers: (HTTP status, JSON document).
Answer = tuple[int, Mapping[str, object]]
Route = Callable[[], Answer]


def healthz(document: Callable[[], Mapping[str, object]]) -> Route:
    """The `/healthz` route: the document as is, 200 while its `ok` is true, else 503."""

    def answer() -> Answer:
        current = document()
        return (200 if current["ok"] else 503), current

    return answer


def serve(
    name: str,
    port: int,
    host: str,
    health: Callable[[], Mapping[str, object]],
    routes: Mapping[str, Route] | None = None,
) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz and `routes` (path -> JSON answer) in a daemon thread
    named `<name>-http`."""
    table: dict[str, Route] = {"/healthz": healthz(health), **(routes or {})}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            route = table.get(path)
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif route is not None:
                code, document = route()
                self._send(code, json.dumps(document).encode(), "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes and probes every few seconds would drown the service's own log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"{name}-http", daemon=True).start()
    return server
