"""`ketenbus new-adapter` end to end, in a temporary copy of the repository: the scaffold
passes its own generated tests, publishes the new agency's native records, and the
correlator, untouched, puts them into a case and notifies the new agency.

The copy's code is what runs (PYTHONPATH points at its services/), on a backbone of its
own (a fresh broker and correlator: `devtools.sandbox`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.sandbox import KETENBUS, Backbone

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
NAME = "douane"  # customs: an agency ketenbus does not have (yet)
#: what the copy needs: code, contracts, topics, pytest config and the shared test helpers
COPIED = (
    "services",
    "schemas",
    "topics.yaml",
    "pyproject.toml",
    "tests/conftest.py",
    "tests/integration/agency_topics_reader.py",
)
ADDRESS = {"postcode": "3072 AP", "huisnummer": 7, "gemeentecode": "0599"}
CASE_KEY = "dwelling:3072AP-7"
NATIVE_INSPECTION = {
    "soort": "controle",
    "kenmerk": "DOUANE-E2E-1",
    "datum": "2026-06-01T10:00:00+02:00",
    "adres": ADDRESS,
    "kvk_werkgever": "90004321",
    "misstanden": ["UNDERPAYMENT"],
}
NLA_INSPECTION = {
    "agency": "nla",
    "type": "inspection",
    "ref": "NLA-E2E-1",
    "occurred_at": "2026-06-02T10:00:00Z",
    "address": {"postcode": "3072 AP", "house_number": 7, "municipality_code": "0599"},
    "employer_kvk": "90004321",
    "violations": ["ILLEGAL_EMPLOYMENT"],
}


def copy_repo(target: Path) -> Path:
    for relative in COPIED:
        source, dest = REPO / relative, target / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(
                source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(source, dest)
    return target


def in_copy(root: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment that makes Python import the copy's packages."""
    return env | {"PYTHONPATH": str(root / "services"), "PYTHONDONTWRITEBYTECODE": "1"}


def run(
    args: list[str], root: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("repo-copy"))


@pytest.fixture(scope="module")
def scaffolded(root: Path) -> subprocess.CompletedProcess[str]:
    args = [*KETENBUS, "new-adapter", NAME, "--kind", "other", "--title", "Douane"]
    return run([*args, "--types", "inspection"], root, in_copy(root, dict(os.environ)))


@pytest.fixture(scope="module")
def backbone(
    root: Path,
    scaffolded: subprocess.CompletedProcess[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Backbone]:
    assert 0 == scaffolded.returncode, scaffolded.stderr
    running = Backbone(tmp_path_factory.mktemp("new-adapter-backbone"))
    running.env = in_copy(root, running.env)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cases(backbone: Backbone, root: Path) -> dict[str, dict[str, Any]]:
    native = root / f"e2e.{NAME}.jsonl"
    native.write_text(json.dumps(NATIVE_INSPECTION) + "\n")
    backbone.cli("publish", str(native))
    backbone.publish([NLA_INSPECTION])
    backbone.wait_idle()
    return backbone.cases()


class TestScaffold:
    """The scaffold creates the service, its tests and its topics; it never overwrites."""

    def test_created(self, root: Path, scaffolded: subprocess.CompletedProcess[str]) -> None:
        expected = [
            f"services/agencies/{NAME}/__init__.py",
            f"services/agencies/{NAME}/__main__.py",
            f"services/agencies/{NAME}/adapter.py",
            f"services/agencies/{NAME}/samples/sample.{NAME}.jsonl",
            f"tests/unit/test_{NAME}_adapter.py",
            f"tests/integration/test_{NAME}_adapter_kafka.py",
        ]
        assert (0, expected) == (
            scaffolded.returncode,
            [p for p in expected if (root / p).is_file()],
        )

    def test_second_run_refuses_and_changes_nothing(
        self, root: Path, scaffolded: subprocess.CompletedProcess[str]
    ) -> None:
        before = (root / "topics.yaml").read_text()
        again = run([*KETENBUS, "new-adapter", NAME], root, in_copy(root, dict(os.environ)))
        assert (1, True, before) == (
            again.returncode,
            "already declared" in again.stderr,
            (root / "topics.yaml").read_text(),
        )


class TestGeneratedTests:
    """The generated unit and broker tests pass as generated, on the copy's backbone."""

    def test_they_pass(self, root: Path, backbone: Backbone) -> None:
        tests = [
            f"tests/unit/test_{NAME}_adapter.py",
            f"tests/integration/test_{NAME}_adapter_kafka.py",
        ]
        done = run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
            root,
            backbone.env,
        )
        assert 0 == done.returncode, done.stdout[-3000:] + done.stderr[-2000:]


class TestCorrelation:
    """The new agency's native inspection and an nla inspection at one dwelling open a case
    that lists the new agency and notifies it, with no change to the correlator."""

    def test_case_lists_the_new_agency(self, cases: dict[str, dict[str, Any]]) -> None:
        case = cases[CASE_KEY]
        assert (
            "open",
            ["ILLEGAL_EMPLOYMENT", "UNDERPAYMENT"],
            [NAME, "nla"],
            [f"{NAME}/DOUANE-E2E-1", "nla/NLA-E2E-1"],
        ) == (
            case["status"],
            sorted(case["violations"]),
            sorted(case["agencies"]),
            sorted(case["events"]),
        )

    def test_new_agency_is_notified_on_its_own_topic(
        self, backbone: Backbone, cases: dict[str, dict[str, Any]]
    ) -> None:
        notified = {n["case_id"] for n in backbone.notifications(NAME)}
        assert (True, True) == (NAME in cases[CASE_KEY]["notified"], CASE_KEY in notified)
