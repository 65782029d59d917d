"""The correlator's tables on the wire: where a key lives and how its changelog record looks.

One definition for everyone who writes the tables' changelogs: the live agents
(`app.py`) and the offline rebuild (`offline.py`), which writes the very records a
worker would have left behind, so a worker started afterwards recovers from them.

- A key lives on the inbox partition its messages arrive on: librdkafka's
  `murmur2_random` (= Java's and aiokafka's default partitioner) of the key's UTF-8 bytes,
  and its changelog record goes to the same partition of the changelog topic.
- The record is what faust's `Table.send_changelog` writes: key and value through faust's
  `json` codec (orjson when installed), which is what faust decodes when it recovers a
  table.

Rule: docs/correlation.md#rule-6 (the clocks table).
"""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import murmur2
from faust.serializers import codecs


def partition_of(key: str, partitions: int) -> int:
    """The inbox (and changelog) partition of `key`, as the producers pick it."""
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions


def changelog_record(key: str, value: Any) -> tuple[bytes, bytes]:
    """The changelog record (key, value) of `table[key] = value`, as faust encodes it."""
    return codecs.dumps("json", key), codecs.dumps("json", value)


def clock_key(inbox: str, partition: int) -> str:
    """The `clocks` table's key of an inbox partition's clock (rule 6)."""
    return f"{inbox}:{partition}"
