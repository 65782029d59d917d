"""`ketenbus up --workers N`: one service per correlator worker, each with its own worker
number (data directory) and port, run under a keeper on /healthz; leftovers still seen."""

from __future__ import annotations

from pathlib import Path

from devtools.supervisor import correlator_services, stray_correlator_services
from ketenbus.settings import Settings


def settings(tmp_path: Path, workers: int) -> Settings:
    return Settings(home=tmp_path, correlator_port=7000, correlator_workers=workers)


class TestCorrelatorServices:
    """Worker n: name, port correlator_port + n - 1, KETENBUS_CORRELATOR_WORKER=n, a keeper."""

    def test_three_workers(self, tmp_path: Path) -> None:
        config = settings(tmp_path, 3)
        specs = correlator_services(config)
        assert [
            ("correlator", 7000, (("KETENBUS_CORRELATOR_WORKER", "1"),)),
            ("correlator-2", 7001, (("KETENBUS_CORRELATOR_WORKER", "2"),)),
            ("correlator-3", 7002, (("KETENBUS_CORRELATOR_WORKER", "3"),)),
        ] == [(s.name, s.port(config), s.env) for s in specs]

    def test_run_under_a_keeper_on_healthz(self, tmp_path: Path) -> None:
        config = settings(tmp_path, 1)
        command = correlator_services(config)[0].command(config)
        keeper = command[: command.index("--")]
        assert ["-m", "devtools.keeper"] == keeper[1:3]
        assert "http://127.0.0.1:7000/healthz" == keeper[keeper.index("--health-url") + 1]

    def test_datadir_per_worker(self, tmp_path: Path) -> None:
        dirs = {Settings(home=tmp_path, correlator_worker=n).correlator_datadir for n in (1, 2)}
        assert {tmp_path / "correlator" / "worker-1", tmp_path / "correlator" / "worker-2"} == dirs


class TestStrayWorkers:
    """Workers a wider `up --workers` started stay visible to `down` and `status`."""

    def test_pid_file_beyond_the_setting(self, tmp_path: Path) -> None:
        config = settings(tmp_path, 1)
        config.run_dir.mkdir(parents=True)
        (config.run_dir / "correlator-3.pid").write_text("1\n")
        known = {s.name for s in correlator_services(config)}
        assert ["correlator-2", "correlator-3"] == [
            s.name for s in stray_correlator_services(config, known)
        ]
