"""What fault tests compare: the records they publish and what each party was last told."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from rule_scenario import SCENARIO

from devtools.sandbox import Backbone
from devtools.synthetic import synthetic_records

RECORDS = SCENARIO + synthetic_records(400, seed=11)

Finals = set[tuple[str, tuple[Any, ...]]]


def told_state(item: dict[str, Any]) -> tuple[Any, ...]:
    """What a party must know of a case: its status, codes, agencies and events."""
    return (
        item["case_id"],
        item["status"],
        tuple(item["violations"]),
        tuple(item["agencies"]),
        tuple(item["events"]),
    )


def final_notifications(backbone: Backbone, cases: dict[str, dict[str, Any]]) -> Finals:
    """(party, state) of the latest notification each party of a case holds for it."""
    agencies = {agency for case in cases.values() for agency in case["notified"]}
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for agency in agencies:
        for note in backbone.notifications(agency):
            if agency in cases[note["case_id"]]["notified"]:
                latest[(agency, note["case_id"])] = told_state(note)
    return {(agency, state) for (agency, _), state in latest.items()}


def publish_in_chunks(
    backbone: Backbone,
    records: list[dict[str, Any]],
    *,
    chunks: int,
    rng: random.Random,
    after_chunk: Callable[[int], None],
) -> None:
    """Publish `records` shuffled, in `chunks` pieces, calling `after_chunk(i)` after each."""
    shuffled = records[:]
    rng.shuffle(shuffled)
    size = -(-len(shuffled) // chunks)
    for number in range(chunks):
        backbone.publish(shuffled[number * size : (number + 1) * size])
        after_chunk(number)
