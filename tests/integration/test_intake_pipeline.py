"""`submit_many` keeps several chunks in flight (the next prepared and produced while the
broker acknowledges the earlier): the outcome still follows the input line by line."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest
from agency_topics_reader import read_at

import intake.publisher as publisher_module
from devtools.samples import jsonl_lines
from intake.base import IntakeItem
from intake.publisher import BULK_LINGER_MS
from intake.runtime import build_publisher
from ketenbus.settings import Settings, get_settings

RUN = uuid.uuid4().hex[:8]
BAD_LINES = (8, 24, 42)


@pytest.fixture(scope="module")
def settings(bootstrap_servers: str) -> Settings:
    get_settings.cache_clear()
    return get_settings()


class TestPipelinedImport:
    """With chunks of 4 and at most 5 records unacknowledged, every good record is
    accepted in input order, each event lies at the offset reported (offsets rising with
    the lines on every partition), and each bad line is refused in its place."""

    def test_outcome_follows_the_input(
        self, settings: Settings, bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(publisher_module, "WINDOW", 5)
        lines = [text for text, _ in jsonl_lines(60, agency="gemeente:0599", prefix=f"PIPE{RUN}")]
        items = [
            IntakeItem(payload=data, original=data, line=number)
            for number, text in enumerate(lines, start=1)
            for data in [b"{not json" if number in BAD_LINES else text.encode()]
        ]
        publisher = build_publisher(["gemeente"], settings=settings, linger_ms=BULK_LINGER_MS)
        try:
            outcome = publisher.submit_many(items, source="test:pipeline", chunk_size=4)
        finally:
            publisher.close()
        offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
        for accepted in outcome.accepted:
            offsets[(accepted.topic, accepted.partition)].append(accepted.offset)
        first, last = outcome.accepted[0], outcome.accepted[-1]
        on_topic = [
            dict(read_at(bootstrap_servers, a.topic, a.partition, a.offset).headers() or [])
            for a in (first, last)
        ]
        assert (
            [n for n in range(1, 61) if n not in BAD_LINES],
            list(BAD_LINES),
            True,
            [first.event_id.encode(), last.event_id.encode()],
        ) == (
            [a.line for a in outcome.accepted],
            [r.line for r in outcome.rejected],
            all(found == sorted(found) for found in offsets.values()),
            [headers["ce_id"] for headers in on_topic],
        )
