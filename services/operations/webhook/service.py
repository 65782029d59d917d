"""`python -m operations.webhook`: one bridge thread per enabled subscription, stopped by
SIGTERM/SIGINT. On http://<KETENBUS_METRICS_BIND_ADDRESS, default 127.0.0.1>:<webhook_port>:
`/metrics` (Prometheus) and `/healthz` (200 while every subscription's consumer polls, 503
with the subscriptions that stopped; see `operations.webhook.health`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ketenbus.logging import configure_logging, get_logger
from ketenbus.processes import stop_on_signals
from ketenbus.producer import ReliableProducer
from ketenbus.settings import get_settings
from operations.webhook.bridge import Bridge
from operations.webhook.health import SubscriptionBeat, judge
from operations.webhook.subscriptions import load_subscriptions

log = get_logger("webhook")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    subscriptions = [
        s for s in load_subscriptions(settings.webhook_subscriptions_file) if s.enabled
    ]
    stop = stop_on_signals(log)
    producer = ReliableProducer(settings=settings)
    # Build every bridge first: a subscription whose secret is missing fails the start.
    bridges = [Bridge(s, settings, producer) for s in subscriptions]
    log.info(
        "webhook_started",
        port=settings.webhook_port,
        subscriptions=[s.id for s in subscriptions],
        file=str(settings.webhook_subscriptions_file),
    )
    threads = [
        threading.Thread(target=b.run, args=(stop,), name=f"webhook-{b.subscription.id}")
        for b in bridges
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()

    def health() -> dict[str, object]:
        beats = [
            SubscriptionBeat(b.subscription.id, t.is_alive(), b.last_poll, started)
            for b, t in zip(bridges, threads, strict=True)
        ]
        return judge(beats, time.monotonic(), settings.webhook_stale_seconds)

    server = serve(health, settings.webhook_port, settings.metrics_bind_address)
    while not stop.wait(1.0):  # short waits: the signal handler runs promptly
        pass
    for thread in threads:
        thread.join()
    for bridge in bridges:
        bridge.sender.close()
    producer.flush()
    server.shutdown()
    log.info("webhook_stopped")


def serve(health: Callable[[], dict[str, object]], port: int, host: str) -> ThreadingHTTPServer:
    """Serve /metrics and /healthz in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                document = health()
                code = 200 if document["ok"] else 503
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
            pass  # probes every few seconds would drown the service's own log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="webhook-http", daemon=True).start()
    return server
