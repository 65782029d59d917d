"""`python -m operations.webhook`: one bridge thread per enabled subscription, metrics on
http://<KETENBUS_METRICS_BIND_ADDRESS, default 127.0.0.1>:<settings.webhook_port>/metrics,
stopped by SIGTERM/SIGINT."""

from __future__ import annotations

import threading

from prometheus_client import start_http_server

from ketenbus.logging import configure_logging, get_logger
from ketenbus.processes import stop_on_signals
from ketenbus.producer import ReliableProducer
from ketenbus.settings import get_settings
from operations.webhook.bridge import Bridge
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
    start_http_server(settings.webhook_port, addr=settings.metrics_bind_address)
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
    for thread in threads:
        thread.start()
    while not stop.wait(1.0):  # short waits: the signal handler runs promptly
        pass
    for thread in threads:
        thread.join()
    for bridge in bridges:
        bridge.sender.close()
    producer.flush()
    log.info("webhook_stopped")
