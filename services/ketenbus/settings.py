"""Configuration, read once from `KETENBUS_` environment variables (see README, Settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root: services/ketenbus/settings.py -> ../../
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every setting of every service, with its documented default."""

    model_config = SettingsConfigDict(env_prefix="KETENBUS_", extra="ignore")

    environment: str = Field("dev", description="dev | test | prod; prod refuses unsafe defaults")
    home: Path = Field(PROJECT_ROOT / ".ketenbus", description="runtime dir: broker data, pids, logs")
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_port: int = Field(9092, description="port of the embedded broker (controller: +1)")
    kafka_version: str = Field("4.0.1", description="Apache Kafka version fetched from Maven")
    kafka_heap: str = Field("512m", description="max heap of each embedded broker JVM")
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
    log_level: str = "INFO"

    @property
    def run_dir(self) -> Path:
        """Where pid files and service logs live."""
        return self.home / "run"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
