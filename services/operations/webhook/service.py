"""`python -m operations.webhook`: one bridge thread per enabled subscription, stopped by
SIGTERM/SIGINT. On http://<KETENBUS_METRICS_BIND_ADDRESS, default 127.0.0.1>:<webhook_port>:
`/metrics` (Prometheus) and `/healthz` (200 while every subscription's consumer polls, 503
with the subscriptions that stopped; see `operations.webhook.health`)."""

from __future__ import annotations

import threading
import time

from ketenbus.logging import configure_logging, get_logger
from ketenbus.processes import stop_on_signals
from ketenbus.producer import ReliableProducer
from ketenbus.settings import get_settings
from operations import http
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

    server = http.serve("webhook", settings.webhook_port, settings.metrics_bind_address, health)
    while not stop.wait(1.0):  # short waits: the signal handler runs promptly
        pass
    for thread in threads:
        thread.join()
    for bridge in bridges:
        bridge.sender.close()
    producer.flush()
    server.shutdown()
    log.info("webhook_stopped")
