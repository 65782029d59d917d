"""Which content each agency `ref` was published with, so a re-sent ref is checked.

A ref is the agency's own id of a record, and its event id derives from it: the same ref
with the same content again is an idempotent 202 (the same event, published again and
deduplicated downstream by event id); the same ref with other content is a conflict (409,
dead-lettered), never a silent keep-the-first or a silent overwrite.

Where the fingerprints live: the compacted topic `intake.fingerprints` (topics.yaml), key
HMAC(agency/ref), value HMAC(the event's content without `recorded_at`), both keyed with a
key derived from the pseudonym key, so the topic reveals neither refs nor values. Every
intake process reads the topic to its end on start (so the check survives restarts and
works across processes); a long-running service keeps following it. Within a process the
check is exact (a claim is taken under a lock before the event is produced); between two
processes a conflicting re-send within the same fraction of a second can slip through.
The fingerprint is written after the event was acknowledged: a crash in between at worst
misses a later conflict, it never turns a first publication into a "duplicate".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, Final

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.producer import OutgoingRecord
from ketenbus.settings import Settings

FINGERPRINT_TOPIC: Final = "intake.fingerprints"
KEY_PURPOSE: Final = "intake-ref-fingerprint"
LOAD_TIMEOUT_S: Final = 30.0

log = get_logger("intake.fingerprints")


class FingerprintsNotPermitted(Exception):
    """This process's principal may not read the fingerprint topic (an agency running
    `ketenbus publish` with its own credentials: agencies touch only their own topics)."""


_NOT_PERMITTED = frozenset(
    {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}
)


def _not_permitted(error: object) -> bool:
    code = getattr(error, "code", None)
    return callable(code) and code() in _NOT_PERMITTED


class Claim(Enum):
    NEW = "new"
    SAME = "same"
    CONFLICT = "conflict"


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def ref_key(key: bytes, agency: str, ref: str) -> str:
    return hmac.digest(key, f"ref:{agency}/{ref}".encode(), hashlib.sha256).hex()[:32]


def canonical_json(content: Mapping[str, Any]) -> bytes:
    """The content's canonical text, as stored fingerprints were made: `json.dumps`
    with sorted keys, no spaces, ASCII escapes and datetimes as `isoformat()`.

    orjson writes the same bytes for what events hold (ASCII text, ints, bools, None,
    UTC datetimes, floats written the way `repr` writes them), ten times faster; when
    the content holds anything else (non-ASCII or DEL, a float orjson spells otherwise)
    the standard library writes it. Fingerprints must never change: a changed one turns
    every re-send into a conflict (unit-tested against `json.dumps`).
    """
    text = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    if text.isascii() and b"\x7f" not in text and _floats_agree(content):
        return text
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=_default).encode()


def _floats_agree(value: Any) -> bool:
    """Whether orjson writes every float in `value` (a dict or list) as `repr` does
    (`1e-07` is `1e-7` to orjson)."""
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is float:
            if orjson.dumps(item) != repr(item).encode():
                return False
        elif (kind is dict or kind is list) and not _floats_agree(item):
            return False
    return True


def content_fingerprint(key: bytes, event: Mapping[str, Any]) -> str:
    """HMAC of the event's canonical content; `recorded_at` (the time of receipt) aside."""
    content = {k: v for k, v in event.items() if k != "recorded_at"}
    return hmac.digest(key, b"content:" + canonical_json(content), hashlib.sha256).hex()[:32]


class FingerprintStore:
    """The ref -> content fingerprints of every agency, from the compacted topic."""

    def __init__(
        self,
        key: bytes,
        settings: Settings,
        *,
        before_load: Callable[[], None] | None = None,
        follow: bool = False,
    ) -> None:
        self.key = key
        self.settings = settings
        self._before_load = before_load
        self._follow = follow
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._consumer: Consumer | None = None
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()
        #: False once the topic turned out not readable by this principal
        self.enabled = True
        self._loaded_without = False
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def ensure_loaded(self) -> None:
        """Load once (blocking; raises when the broker cannot be read), then follow the
        topic if this is a long-running service."""
        if self.loaded:
            return
        with self._load_lock:
            if self.loaded:
                return
            try:
                if self._before_load is not None:
                    self._before_load()
                self.load()
            except FingerprintsNotPermitted:
                # the check needs the agency services' topic; without it a re-sent ref
                # is published again (same event id) and never refused as a conflict
                log.warning("fingerprints_not_permitted", topic=FINGERPRINT_TOPIC)
                self.enabled = False
                self._loaded_without = True
                self._loaded = True
                return
            if self._follow:
                self.follow()
            elif self._consumer is not None:
                # a one-shot import: nothing reads it any more, and an open consumer
                # would keep fetching what this very import writes to the topic
                self._consumer.close()
                self._consumer = None
            self._loaded = True

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        with self._lock:
            if value is None:
                self._known.pop(key.decode(), None)
            else:
                self._known[key.decode()] = value.decode()

    def load(self) -> int:
        """Read the topic to its current end (blocking); returns how many refs are known."""
        consumer = Consumer(
            client_config(
                self.settings,
                group_id=f"ketenbus-intake-fingerprints-{uuid.uuid4().hex[:8]}",
                enable_auto_commit=False,
                enable_partition_eof=True,
            )
        )
        partitions, pending = self._extent(consumer)
        consumer.assign(
            [TopicPartition(FINGERPRINT_TOPIC, p, OFFSET_BEGINNING) for p in partitions]
        )
        while pending:
            message = consumer.poll(LOAD_TIMEOUT_S)
            if message is None:
                raise TimeoutError(f"{FINGERPRINT_TOPIC} could not be read to its end")
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                if _not_permitted(error):
                    raise FingerprintsNotPermitted(FINGERPRINT_TOPIC)
                raise TimeoutError(f"{FINGERPRINT_TOPIC}: {error}")
            self._apply(message.key(), message.value())
        log.info("fingerprints_loaded", refs=len(self._known))
        self._consumer = consumer
        self._loaded = True
        return len(self._known)

    def _extent(self, consumer: Consumer) -> tuple[list[int], set[int]]:
        """The topic's partitions and those holding records; retried while a just-created
        topic has no leaders yet."""
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while True:
            try:
                metadata = consumer.list_topics(FINGERPRINT_TOPIC, timeout=LOAD_TIMEOUT_S)
                topic = metadata.topics.get(FINGERPRINT_TOPIC)
                if topic is not None and _not_permitted(topic.error):
                    raise FingerprintsNotPermitted(FINGERPRINT_TOPIC)
                if topic is None or topic.error is not None:
                    raise KafkaException(topic.error if topic is not None else "no topic")
                partitions = sorted(topic.partitions)
                pending = set()
                for partition in partitions:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(FINGERPRINT_TOPIC, partition), timeout=5
                    )
                    if high > low:
                        pending.add(partition)
                return partitions, pending
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def follow(self) -> None:
        """Keep applying what other processes write (a long-running service)."""
        if self._follower is not None or self._consumer is None:
            return
        self._follower = threading.Thread(target=self._run, name="fingerprints", daemon=True)
        self._follower.start()

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            self._apply(message.key(), message.value())

    def close(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join(5)
            self._follower = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def claim(self, agency: str, ref: str, fingerprint: str) -> Claim:
        """NEW (now reserved for this content), SAME, or CONFLICT."""
        key = ref_key(self.key, agency, ref)
        with self._lock:
            known = self._known.get(key)
            if known is None:
                self._known[key] = fingerprint
                return Claim.NEW
        return Claim.SAME if known == fingerprint else Claim.CONFLICT

    def release(self, agency: str, ref: str, fingerprint: str) -> None:
        """Undo a NEW claim whose event was not acknowledged."""
        key = ref_key(self.key, agency, ref)
        with self._lock:
            if self._known.get(key) == fingerprint:
                del self._known[key]

    def outgoing(self, agency: str, ref: str, fingerprint: str) -> OutgoingRecord:
        """The record that makes a NEW claim durable (produce it after the event's ack)."""
        return OutgoingRecord(
            topic=FINGERPRINT_TOPIC,
            key=ref_key(self.key, agency, ref),
            value=fingerprint.encode(),
        )
