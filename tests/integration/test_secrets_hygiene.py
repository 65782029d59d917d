"""Secrets stay in their 0600 files: never on a command line, in a service's environment,
in a log, or in an error message, while the backbone runs on the secured broker."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.embedded_kafka import free_port_block
from devtools.supervisor import ServiceSpec, Supervisor, intake_principal
from ketenbus.security import store
from ketenbus.security.properties import ClientCredentials
from ketenbus.settings import get_settings

pytestmark = pytest.mark.broker


def _secrets() -> list[ClientCredentials]:
    found = store.all_stored(get_settings())
    assert len(found) >= 10  # admin, agencies and services of topics.yaml
    return found


def _leaks(text: str, secrets: list[ClientCredentials]) -> list[str]:
    """The principals whose password occurs in `text` (never the password itself)."""
    return sorted({c.username for c in secrets if c.password in text})


@pytest.fixture(scope="module")
def running(
    bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Supervisor, list[int]]]:
    """The nla agency service and the lag monitor, started as `ketenbus up` starts them."""
    home = tmp_path_factory.mktemp("hygiene-home")
    settings = get_settings().model_copy(update={"home": home})
    first = free_port_block(get_settings().kafka_port + 300, 2)
    services = (
        ServiceSpec(
            "nla",
            "agencies.nla",
            ("--port", str(first)),
            default_port=first,
            principal=intake_principal("nla"),
        ),
        ServiceSpec("lagmonitor", "operations.lagmonitor", principal="ketenbus-lagmonitor"),
    )
    supervisor = Supervisor(settings, services)
    pids = [supervisor.start(spec)[0] for spec in services]
    try:
        yield supervisor, pids
    finally:
        for spec in services:
            supervisor.stop(spec)


class TestNoSecretsAround:
    """No principal's password shows in `ps`, a service's environment, or any log."""

    def test_ps(self, running: tuple[Supervisor, list[int]]) -> None:
        ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True)
        assert [] == _leaks(ps.stdout, _secrets())

    def test_service_environment(self, running: tuple[Supervisor, list[int]]) -> None:
        _, pids = running
        environments = "".join(
            Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace") for pid in pids
        )
        assert "KETENBUS_KAFKA_PRINCIPAL=ketenbus-lagmonitor" in environments  # by name
        assert [] == _leaks(environments, _secrets())

    def test_logs(self, running: tuple[Supervisor, list[int]]) -> None:
        supervisor, _ = running
        settings = get_settings()
        logs = [supervisor.log_file(spec) for spec in supervisor.services]
        logs += sorted((settings.home / "kafka" / "logs").glob("*"))
        text = "".join(p.read_text(errors="replace") for p in logs if p.is_file())
        assert "" != text
        assert [] == _leaks(text, _secrets())

    def test_files_are_private(self, bootstrap_servers: str) -> None:
        secrets_dir = get_settings().secrets_dir
        modes = {stat.S_IMODE(p.stat().st_mode) for p in secrets_dir.iterdir()}
        assert {0o600} == modes
        assert [] == list(secrets_dir.parent.rglob("format.args"))  # the argfile is gone
