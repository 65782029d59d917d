"""The operations services' shared HTTP endpoint answers as the lag monitor always did."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import cast

import pytest

from operations.lagmonitor.collector import LagCollector
from operations.lagmonitor.model import ClusterSample
from operations.lagmonitor.service import LagMonitor, serve
from operations.lagmonitor.status import LagTracker


def get(server: ThreadingHTTPServer, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of one GET; error statuses too."""
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers["Content-Type"], refused.read()


@pytest.fixture
def monitor() -> LagMonitor:
    # the collector is never asked: these tests set `latest` themselves
    return LagMonitor(cast(LagCollector, None), LagTracker(window_size=3), interval=5.0)


@pytest.fixture
def server(monitor: LagMonitor) -> Iterator[ThreadingHTTPServer]:
    served = serve(monitor, port=0)
    yield served
    served.shutdown()


class TestLagMonitorEndpoint:
    """Before its first sample the lag monitor answers 503; after it, 200 with the report."""

    def test_before_the_first_sample(self, server: ThreadingHTTPServer) -> None:
        assert [
            (503, "application/json", {"ok": False}),
            (503, "application/json", {"error": "no sample yet"}),
        ] == [
            (code, kind, json.loads(body))
            for code, kind, body in (get(server, "/healthz"), get(server, "/status"))
        ]

    def test_after_a_sample(self, monitor: LagMonitor, server: ThreadingHTTPServer) -> None:
        sample = ClusterSample(taken_at=time.time(), groups=(), end_offsets={})
        monitor.latest = monitor.tracker.observe(sample)
        assert [(200, {"ok": True}), (200, monitor.status_document())] == [
            (code, json.loads(body))
            for code, _, body in (get(server, "/healthz"), get(server, "/status"))
        ]

    def test_metrics_and_unknown_paths(self, server: ThreadingHTTPServer) -> None:
        metrics_code, metrics_kind, _ = get(server, "/metrics?x=1")
        assert [(200, "text/plain"), (404, "text/plain", b"not found\n")] == [
            (metrics_code, metrics_kind.split(";")[0]),
            get(server, "/nope"),
        ]
