"""The thin I/O around `operations.webhook.core`: post a notification, and one subscription's
consume -> filter -> deliver (with retries) -> commit loop.

At-least-once: an offset is committed only after the receiver answered 2xx, the
notification was filtered out, or it was dead-lettered (on the `deadletter` topic AND in
the subscription's dead-letter list). A crash or stop in between means the notification
is sent again; the receiver deduplicates on the `Idempotency-Key` (the notification id).
One notification at a time per subscription: notifications of a case arrive in order.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from correlator.projection import notification_json
from ketenbus import metrics
from ketenbus.agencies import notification_topic
from ketenbus.contracts.codec import CodecError, get_codec
from ketenbus.deadletter import dead_letter, type_name
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.producer import ReliableProducer
from ketenbus.settings import Settings
from ketenbus.topics.admin import ensure_agency_topics
from operations.webhook import journal as outcomes
from operations.webhook.core import (
    RetryPolicy,
    is_success,
    matches,
    next_delay,
    render_body,
    request_headers,
    source_urn,
)
from operations.webhook.journal import Journal
from operations.webhook.subscriptions import Subscription

log = get_logger("webhook")

DEADLETTER_SOURCE = "webhook"
REASON_BUDGET_SPENT = "webhook_retry_budget_spent"
REASON_UNDECODABLE = "webhook_undecodable"
RESTART_PAUSE_S = 5.0


def journal_for(settings: Settings, subscription: Subscription) -> Journal:
    return Journal(settings.home / "webhook", subscription.id)


def policy_for(settings: Settings, subscription: Subscription) -> RetryPolicy:
    return RetryPolicy(
        initial_seconds=settings.webhook_retry_initial_seconds,
        max_delay_seconds=settings.webhook_retry_max_delay_seconds,
        budget_seconds=subscription.retry_budget_seconds or settings.webhook_retry_budget_seconds,
    )


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST."""

    ok: bool
    status_code: int | None
    latency_s: float
    error: str | None = None

    def describe(self) -> str:
        return f"HTTP {self.status_code}" if self.status_code is not None else str(self.error)


class Sender:
    """Renders, signs and POSTs one notification to one subscription's endpoint."""

    def __init__(
        self, subscription: Subscription, settings: Settings, client: httpx.Client | None = None
    ) -> None:
        self.subscription = subscription
        self.settings = settings
        self.secret = subscription.signing_secret()
        self.source = source_urn(settings.webhook_source_oin)
        self.client = client or httpx.Client(timeout=settings.webhook_timeout_seconds)

    def post(self, note: dict[str, Any], attempt: int) -> Attempt:
        sub = self.subscription
        body = render_body(
            sub.format,
            note,
            source=self.source,
            kanaal=sub.kanaal,
            case_base_url=self.settings.webhook_case_base_url,
        )
        headers = request_headers(
            secret=self.secret,
            body=body,
            notification_id=note["notification_id"],
            subscription_id=sub.id,
            attempt=attempt,
            timestamp=int(time.time()),
            authorization=sub.auth.get_secret_value() if sub.auth else None,
        )
        started = time.monotonic()
        try:
            response = self.client.post(sub.callback_url, content=body.content, headers=headers)
        except httpx.HTTPError as exc:
            result = Attempt(
                False, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}"
            )
            kind = "connection_error"
        else:
            ok = is_success(response.status_code)
            result = Attempt(ok, response.status_code, time.monotonic() - started)
            kind = "delivered" if ok else "http_error"
        metrics.WEBHOOK_DELIVERIES.labels(sub.id, kind).inc()
        metrics.WEBHOOK_DELIVERY_SECONDS.labels(sub.id).observe(result.latency_s)
        log.info(
            "delivery_attempted",
            subscription=sub.id,
            notification_id=note["notification_id"],
            attempt=attempt,
            status_code=result.status_code,
            latency_ms=round(result.latency_s * 1000, 1),
            outcome=kind,
            error=result.error,
        )
        return result

    def close(self) -> None:
        self.client.close()


class Bridge:
    """Delivers one subscription's notifications; `run` until `stop` is set."""

    def __init__(
        self,
        subscription: Subscription,
        settings: Settings,
        producer: ReliableProducer,
        *,
        sender: Sender | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.subscription = subscription
        self.settings = settings
        self.producer = producer
        self.sender = sender or Sender(subscription, settings)
        self.journal = journal_for(settings, subscription)
        self.policy = policy_for(settings, subscription)
        self.topic = notification_topic(subscription.agency)
        self.rand = rand
        self.codec = get_codec()
        #: monotonic time of the latest consumer poll (read by /healthz)
        self.last_poll: float | None = None

    def run(self, stop: threading.Event) -> None:
        """Consume until stopped; an unexpected failure restarts from the committed offsets."""
        while not stop.is_set():
            try:
                self._consume(stop)
            except Exception as exc:  # the service boundary: keep the subscription alive
                log.error(
                    "subscription_failed",
                    subscription=self.subscription.id,
                    error=str(exc),
                    kind=type(exc).__name__,
                )
                stop.wait(RESTART_PAUSE_S)

    def _consume(self, stop: threading.Event) -> None:
        ensure_agency_topics(self.subscription.agency, settings=self.settings, only=[self.topic])
        consumer = Consumer(
            client_config(
                self.settings,
                group_id=self.subscription.group_id,
                enable_auto_commit=False,
                # a new subscription receives what the topic still holds: nothing is skipped
                auto_offset_reset="earliest",
            )
        )
        try:
            consumer.subscribe([self.topic])
            log.info("subscription_started", subscription=self.subscription.id, topic=self.topic)
            while not stop.is_set():
                message = consumer.poll(1.0)
                self.last_poll = time.monotonic()
                if message is None:
                    continue
                if message.error() is not None:
                    log.warning("consume_failed", error=str(message.error()), topic=self.topic)
                    continue
                if self._handle(consumer, message, stop):
                    consumer.commit(message=message, asynchronous=False)
        finally:
            consumer.close()

    def _handle(self, consumer: Consumer, message: Message, stop: threading.Event) -> bool:
        """Process one record; True when its offset may be committed."""
        sub = self.subscription
        try:
            record = self.codec.decode(message.value()).record
        except CodecError as exc:
            self._to_deadletter_topic(message, REASON_UNDECODABLE, exc, str(exc))
            metrics.WEBHOOK_DEAD.labels(sub.id).inc()
            return True
        note = notification_json(record)
        if not matches(sub.filters, note):
            self.journal.attempt(
                notification_id=note["notification_id"],
                case_id=note["case_id"],
                attempt=0,
                outcome=outcomes.FILTERED,
            )
            return True
        return self._deliver(consumer, message, note, stop)

    def _deliver(
        self, consumer: Consumer, message: Message, note: dict[str, Any], stop: threading.Event
    ) -> bool:
        started = time.monotonic()
        attempt = 0
        paused: list[TopicPartition] | None = None
        try:
            while True:
                attempt += 1
                result = self.sender.post(note, attempt)
                entry = {
                    "notification_id": note["notification_id"],
                    "case_id": note["case_id"],
                    "attempt": attempt,
                    "status_code": result.status_code,
                    "latency_ms": result.latency_s * 1000,
                }
                if result.ok:
                    self.journal.attempt(**entry, outcome=outcomes.DELIVERED)
                    return True
                delay = next_delay(self.policy, attempt, time.monotonic() - started, self.rand)
                if delay is None:
                    self.journal.attempt(**entry, outcome=outcomes.DEAD, error=result.error)
                    self._dead_letter(message, note, attempt, time.monotonic() - started, result)
                    return True
                self.journal.attempt(**entry, outcome=outcomes.RETRYING, error=result.error)
                if paused is None:
                    paused = self._pause(consumer)
                if not self._wait(consumer, delay, stop):
                    return False  # stopping: not committed, so delivered again after a restart
        finally:
            if paused is not None and not stop.is_set():
                self._resume(consumer, paused)

    def _pause(self, consumer: Consumer) -> list[TopicPartition]:
        """Pause fetching while retrying, remembering each partition's next offset, so the
        group membership stays alive (we keep polling) without receiving new records."""
        assignment = consumer.assignment()
        positions = consumer.position(assignment)
        consumer.pause(assignment)
        return positions

    def _resume(self, consumer: Consumer, positions: list[TopicPartition]) -> None:
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        mine = [tp for tp in positions if (tp.topic, tp.partition) in assigned]
        consumer.resume(mine)
        for tp in mine:
            if tp.offset >= 0:  # a record polled while paused would otherwise be skipped
                with contextlib.suppress(KafkaException):
                    consumer.seek(tp)

    def _wait(self, consumer: Consumer, seconds: float, stop: threading.Event) -> bool:
        """Back off for `seconds` while serving the group protocol; False when stopped."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if stop.is_set():
                return False
            consumer.poll(min(remaining, 1.0))  # paused: no records, only heartbeats/rebalances
            self.last_poll = time.monotonic()
        return not stop.is_set()

    def _dead_letter(
        self, message: Message, note: dict[str, Any], attempts: int, elapsed: float, last: Any
    ) -> None:
        sub = self.subscription
        text = f"{attempts} attempts over {elapsed:.0f}s to {sub.id}; last: {last.describe()}"
        self._to_deadletter_topic(message, REASON_BUDGET_SPENT, "webhook.DeliveryGaveUp", text)
        self.journal.dead(note, attempts=attempts, last_error=last.describe())
        metrics.WEBHOOK_DEAD.labels(sub.id).inc()
        log.warning(
            "notification_dead_lettered",
            subscription=sub.id,
            notification_id=note["notification_id"],
            attempts=attempts,
            last=last.describe(),
        )

    def _to_deadletter_topic(
        self, message: Message, reason: str, exception: BaseException | str, text: str
    ) -> None:
        record = dead_letter(
            message.value(),
            key=message.key(),
            source=f"{DEADLETTER_SOURCE}:{self.subscription.id}",
            reason=reason,
            exception=exception if isinstance(exception, str) else type_name(exception),
            message=text,
            agency=self.subscription.agency,
            type="notification",
        )
        # Kafka Connect's coordinates of the original record
        record.headers = [
            *record.headers,
            ("__connect.errors.topic", message.topic() or ""),
            ("__connect.errors.partition", str(message.partition())),
            ("__connect.errors.offset", str(message.offset())),
        ]
        self.producer.send(record)
        metrics.DEADLETTERS.labels(DEADLETTER_SOURCE, reason).inc()


def redeliver(
    sender: Sender, journal: Journal, notification_ids: set[str] | None
) -> dict[str, Attempt]:
    """Send dead letters again (all, or those ids), one attempt each; a success settles it."""
    results: dict[str, Attempt] = {}
    for dead in journal.dead_letters():
        if notification_ids is not None and dead.notification_id not in notification_ids:
            continue
        attempt_no = dead.attempts + 1
        result = sender.post(dead.notification, attempt_no)
        journal.attempt(
            notification_id=dead.notification_id,
            case_id=dead.notification["case_id"],
            attempt=attempt_no,
            outcome=outcomes.REDELIVERED if result.ok else outcomes.REDELIVERY_FAILED,
            status_code=result.status_code,
            latency_ms=result.latency_s * 1000,
            error=result.error,
        )
        if result.ok:
            journal.redelivered(dead.notification_id)
        results[dead.notification_id] = result
    return results
