"""Configuration, read once from `KETENBUS_` environment variables (see README, Settings)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root: services/ketenbus/settings.py -> ../../
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every setting of every service, with its documented default."""

    model_config = SettingsConfigDict(env_prefix="KETENBUS_", extra="ignore")

    environment: str = Field("dev", description="dev | test | prod; prod refuses unsafe defaults")
    home: Path = Field(
        PROJECT_ROOT / ".ketenbus", description="runtime dir: broker data, pids, logs"
    )
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_port: int = Field(9092, description="port of the embedded broker (controller: +1)")
    kafka_version: str = Field("4.0.1", description="Apache Kafka version fetched from Maven")
    kafka_heap: str = Field("512m", description="max heap of each embedded broker JVM")
    kafka_cluster_port: int = Field(
        9192, description="first port of the local 3-node quorum (node n: +2(n-1), controller +1)"
    )
    kafka_cache_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ketenbus"
        ),
        description="where the Kafka jars fetched from Maven are kept (kafka-<version>/libs)",
    )
    kafka_start_timeout: float = Field(
        180.0, description="seconds to wait for an embedded broker to answer metadata requests"
    )
    # Security (docs/security.md): how this process authenticates to the brokers.
    kafka_security_protocol: Literal["SASL_SSL", "PLAINTEXT"] = Field(
        "SASL_SSL",
        description="SASL_SSL (SCRAM-SHA-512 over TLS, the default and the embedded broker's"
        " only client listener) or PLAINTEXT (an unsecured cluster elsewhere)",
    )
    kafka_principal: str = Field(
        "admin",
        description="the Kafka principal this process acts as (its credentials are read from"
        " <home>/secrets/<principal>.properties); `ketenbus up` sets it per service; the"
        " default, the platform admin, is the operator's CLI on a dev machine",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = Field(
        None, description="SASL user of this process (overrides the properties file)"
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password of this process (with kafka_sasl_username)"
    )
    kafka_properties_file: Path | None = Field(
        None,
        description="librdkafka properties file with this process's credentials (default:"
        " <secrets dir>/<principal>.properties)",
    )
    kafka_ssl_ca_location: Path | None = Field(
        None,
        description="CA certificate (PEM) the brokers' certificates are checked against"
        " (default: the properties file's ssl.ca.location, else <secrets dir>/ca.pem)",
    )
    kafka_secrets_dir: Path | None = Field(
        None,
        description="where the dev CA, broker keys and principals' properties live"
        " (default: <home>/secrets; files 0600)",
    )
    schemas_dir: Path = Field(PROJECT_ROOT / "schemas")
    topics_file: Path = Field(PROJECT_ROOT / "topics.yaml")
    pseudonym_key: SecretStr | None = Field(
        None, description="HMAC key for person pseudonyms; required outside dev/test"
    )
    # HTTP ports of the local services (`ketenbus up`).
    gemeente_port: int = 8081
    nla_port: int = 8082
    politie_port: int = 8083
    nau_port: int = 8084
    correlator_port: int = 6066
    lagmonitor_port: int = 9308
    webhook_port: int = 8090
    adapter_ports: dict[str, int] = Field(
        default_factory=dict,
        description="HTTP ports of agency services added with `ketenbus new-adapter`, as JSON"
        ' ({"belastingdienst": 8085}); default: the port the adapter declares',
    )
    log_level: str = "INFO"
    # Consumer-lag monitoring (lagmonitor, `ketenbus lag`, `ketenbus wait-idle`).
    correlator_group: str = Field(
        "ketenbus-correlator", description="consumer group of the correlator's ingest stage"
    )
    wait_idle_required_topics: str = Field(
        r"^events\..+$",
        description="regex of topics the ingest group must consume: a partition without a"
        " committed offset counts as lag = end - low watermark",
    )
    lagmonitor_interval_seconds: float = Field(
        5.0, description="seconds between two lag samples of the lag monitor"
    )
    lagmonitor_window: int = Field(
        10, description="samples per partition in the sliding window that status is evaluated over"
    )
    lagmonitor_url: str | None = Field(
        None,
        description="base URL of the running lag monitor, whose /status `ketenbus lag` reads;"
        " default http://127.0.0.1:<lagmonitor_port>",
    )
    lagmonitor_read_timeout_seconds: float = Field(
        3.0, description="time budget to read the oldest unconsumed records' timestamps per sample"
    )

    # Correlator (services/correlator).
    correlator_app_id: str = Field(
        "ketenbus-cases", description="faust app id of the correlator (its aggregates' group id)"
    )
    correlator_partitions: int = Field(
        6, description="partitions of the correlator's inboxes and tables (its parallelism)"
    )
    correlator_store: str = Field(
        "memory://",
        description="faust table store (memory://: recovered from the changelogs on start)",
    )
    correlator_live_aggregates: int = Field(
        20_000,
        ge=0,
        description="aggregates each correlator worker keeps loaded per inbox (dwellings,"
        " organisations), least recently used dropped first: a miss reloads one from its row's"
        " JSON; the cache, not the table rows, is most of a worker's memory"
        " (docs/benchmarks.md#memory-100000-cases); 0 keeps none",
    )
    correlator_notify: bool = Field(
        True, description="produce notifications (off while `ketenbus rebuild` replays)"
    )
    correlator_workers: int = Field(
        1,
        ge=1,
        description="correlator workers `ketenbus up` runs (one consumer group; at most"
        " correlator_partitions of them get work); worker n listens on correlator_port + n - 1",
    )
    correlator_worker: int = Field(
        1,
        ge=1,
        description="this worker's number; its data directory is"
        " <home>/correlator/worker-<n>, which one live worker holds at a time",
    )
    correlator_ingest_restarts: int = Field(
        5,
        ge=0,
        description="times the ingest stage restarts its consumer after a Kafka error within"
        " a minute before it gives up (the worker then reports /healthz 503)",
    )
    correlator_worker_log_level: str = Field(
        "warn",
        description="log level of faust inside correlator workers (`worker -l`: debug, info,"
        " warn, error); info shows table recovery and partition pause/resume",
    )
    correlator_stall_seconds: float = Field(
        60.0,
        ge=0,
        description="a worker holding an inbox partition that has lag and whose committed"
        " offset did not move for this long reports /healthz 503 (so its keeper restarts it);"
        " 0 turns the check off",
    )

    # Webhook bridge (services/operations/webhook, `ketenbus webhook ...`).
    webhook_subscriptions_file: Path = Field(
        PROJECT_ROOT / "deploy" / "webhook" / "subscriptions.yaml",
        description="YAML file of webhook subscriptions (id, agency, callback_url, secret, ...)",
    )
    webhook_retry_budget_seconds: float = Field(
        86400.0, description="how long a notification is retried before it is dead-lettered"
    )
    webhook_retry_initial_seconds: float = Field(
        1.0, description="first retry wait; each later wait doubles (with jitter)"
    )
    webhook_retry_max_delay_seconds: float = Field(
        1800.0, description="longest wait between two delivery attempts"
    )
    webhook_timeout_seconds: float = Field(10.0, description="HTTP timeout of one POST")
    webhook_stale_seconds: float = Field(
        60.0,
        gt=0,
        description="the bridge's /healthz answers 503 when a subscription's consumer has not"
        " polled for this long (its thread died or its consumer keeps failing)",
    )
    webhook_source_oin: str = Field(
        "00000001000000000000",
        description="OIN of the ketenbus operator in the CloudEvents source"
        " (urn:nld:oin:<OIN>:systeem:ketenbus); the default is a PLACEHOLDER",
    )
    webhook_case_base_url: str = Field(
        "https://ketenbus.invalid/api/v1/cases",
        description="base URL of a case (ZGW hoofdObject/resourceUrl = <base>/<case_id>)",
    )

    # Intake trust (services/intake, docs/intake-trust.md).
    intake_token_max_age_seconds: int = Field(
        300,
        ge=10,
        description="an intake bearer token (JWT) is refused once its `iat` is older than this",
    )
    intake_token_leeway_seconds: int = Field(
        30, ge=0, description="clock-skew leeway when checking a token's `iat` and `exp`"
    )
    clock_skew_seconds: int = Field(
        300,
        ge=0,
        description="how far `occurred_at` may lie ahead of the intake's wall clock; the"
        " correlator's event-time clock never runs further ahead of its own wall clock",
    )
    intake_earliest_occurred_at: datetime = Field(
        datetime(2000, 1, 1, tzinfo=UTC),
        description="records whose `occurred_at` lies before this are refused (implausible)",
    )
    intake_max_record_bytes: int = Field(
        64 * 1024, ge=1024, description="largest intake record (an HTTP body or a batch line)"
    )
    intake_max_batch_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="largest `/records:batch` body"
    )
    intake_max_batch_records: int = Field(
        10_000, ge=1, description="most records in one `/records:batch` body"
    )
    intake_linger_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="librdkafka linger.ms of the intake producers: how long a record waits"
        " for others to share its request. 0: a one-record HTTP request waits only for its"
        " own ack (acks=all); records sent meanwhile still share requests (up to 5 in flight)",
    )
    metrics_bind_address: str = Field(
        "127.0.0.1",
        description="address the lag monitor's and webhook bridge's /metrics listen on"
        " (0.0.0.0 to let a Prometheus elsewhere scrape them)",
    )
    expose_operations_endpoints: bool = Field(
        False,
        description="serve /metrics, /docs and /openapi.json of the intake services to"
        " non-loopback clients too (default: loopback callers only)",
    )

    @property
    def secrets_dir(self) -> Path:
        """The dev CA, broker key and certificate, each principal's properties file, the
        intake clients and the dev pseudonym key (files 0600)."""
        return self.kafka_secrets_dir or self.home / "secrets"

    @property
    def run_dir(self) -> Path:
        """Where pid files and service logs live."""
        return self.home / "run"

    @property
    def correlator_datadir(self) -> Path:
        """This correlator worker's own data directory (faust expects one per worker)."""
        return self.home / "correlator" / f"worker-{self.correlator_worker}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
