"""`ketenbus new-adapter` without a broker: name and option checks, the topics.yaml edit,
the rendered files, refusal to overwrite, and `ketenbus up` finding the added adapter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from devtools.scaffold import (
    AdapterExists,
    InvalidAdapterName,
    InvalidScaffoldOption,
    plan_adapter,
    render,
    write_scaffold,
)
from devtools.scaffold.topics_edit import (
    TopicsEditFailed,
    add_agency,
    add_dead_letter_producer,
    add_fingerprint_access,
)
from devtools.supervisor import adapter_services
from ketenbus.settings import PROJECT_ROOT, Settings, get_settings
from ketenbus.topics.spec import parse_topics


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository with the project's topics.yaml and an empty services/."""
    shutil.copy(PROJECT_ROOT / "topics.yaml", tmp_path / "topics.yaml")
    (tmp_path / "services" / "agencies").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def settings() -> Settings:
    return get_settings().model_copy(update={"adapter_ports": {}})


class TestName:
    """NAME must be a fresh lower-case agency code that shadows no module."""

    @pytest.mark.parametrize(
        "name", ["Douane", "d", "douane-nl", "douane_nl", "9douane", "gemeente:0599"]
    )
    def test_malformed(self, root: Path, settings: Settings, name: str) -> None:
        with pytest.raises(InvalidAdapterName):
            plan_adapter(name, root=root, settings=settings)

    @pytest.mark.parametrize("name", ["json", "ketenbus", "correlator", "webhook", "class"])
    def test_shadowing(self, root: Path, settings: Settings, name: str) -> None:
        with pytest.raises(InvalidAdapterName):
            plan_adapter(name, root=root, settings=settings)

    @pytest.mark.parametrize("name", ["nla", "gemeente", "belastingdienst"])
    def test_existing_agency(self, root: Path, settings: Settings, name: str) -> None:
        with pytest.raises(AdapterExists):
            plan_adapter(name, root=root, settings=settings)

    def test_existing_package(self, root: Path, settings: Settings) -> None:
        (root / "services" / "agencies" / "douane").mkdir()
        with pytest.raises(AdapterExists):
            plan_adapter("douane", root=root, settings=settings)


class TestOptions:
    """--kind, --oin, --types and --port are checked before anything is written."""

    @pytest.mark.parametrize(
        "option",
        [
            {"kind": "customs"},
            {"oin": "1234"},
            {"types": ("inspection", "arrest")},
            {"port": 8081},
        ],
    )
    def test_refused(self, root: Path, settings: Settings, option: dict[str, object]) -> None:
        with pytest.raises(InvalidScaffoldOption):
            plan_adapter("douane", root=root, settings=settings, **option)  # type: ignore[arg-type]

    def test_defaults(self, root: Path, settings: Settings) -> None:
        plan = plan_adapter("douane", root=root, settings=settings, types=("inspection",))
        assert ("other", True, 20, ("inspection", "case_action")) == (
            plan.kind,
            plan.oin_placeholder,
            len(plan.oin),
            plan.allowed_types,
        )

    def test_given_oin_is_not_a_placeholder(self, root: Path, settings: Settings) -> None:
        plan = plan_adapter("douane", root=root, settings=settings, oin="00000001234567890000")
        assert ("00000001234567890000", False) == (plan.oin, plan.oin_placeholder)

    def test_port_skips_the_ports_of_other_adapters(self, root: Path, settings: Settings) -> None:
        agencies = PROJECT_ROOT / "services" / "agencies"
        shutil.copytree(agencies / "belastingdienst", root / "services" / "agencies" / "bd")
        assert 8086 == plan_adapter("douane", root=root, settings=settings).port


class TestTopicsEdit:
    """The agency is added as text: every existing line stays, the result validates."""

    def test_keeps_every_line_and_validates(self, root: Path, settings: Settings) -> None:
        before = (root / "topics.yaml").read_text()
        after = render(plan_adapter("douane", root=root, settings=settings)).topics_yaml
        spec = parse_topics(yaml.safe_load(after))
        edited = ("producers: [correlator", "producers: [intake-", "consumers: [intake-")
        kept = [line for line in before.splitlines() if not line.strip().startswith(edited)]
        assert ([], "douane", ["events.douane", "notifications.douane"]) == (
            [line for line in kept if line not in after.splitlines()],
            spec.agency("douane").adapter,
            [t.name for t in spec.topics_for_agency("douane")],
        )

    def test_agency_may_dead_letter(self) -> None:
        text = 'topics:\n  - name: deadletter\n    producers: [nla, "gemeente:{cbs}"]\n'
        assert 'producers: [nla, douane, "gemeente:{cbs}"]' in add_dead_letter_producer(
            text, "douane"
        )

    def test_agency_service_reads_and_writes_fingerprints(self) -> None:
        text = (
            "topics:\n  - name: intake.fingerprints\n    producers: [intake-nla]\n"
            "    consumers: [intake-nla]\n"
        )
        edited = add_fingerprint_access(text, "intake-douane")
        assert 2 == edited.count("[intake-nla, intake-douane]")

    def test_unknown_shape_is_refused(self) -> None:
        with pytest.raises(TopicsEditFailed):
            add_agency("version: 1\ntopics: []\n", "  - code: x\n", "  - name: y\n", "x")


class TestRender:
    """The scaffold is valid Python and a sample record of every allowed type."""

    def test_files(self, root: Path, settings: Settings) -> None:
        plan = plan_adapter(
            "douane", root=root, settings=settings, types=("inspection", "sanction")
        )
        scaffold = render(plan)
        for path, text in scaffold.files.items():
            if path.suffix == ".py":
                compile(text, str(path), "exec")
        samples = [json.loads(line) for line in scaffold.files[plan.sample].splitlines()]
        assert ["controle", "sanctie", "actie"] == [s["soort"] for s in samples]

    def test_refuses_to_overwrite(self, root: Path, settings: Settings) -> None:
        scaffold = render(plan_adapter("douane", root=root, settings=settings))
        existing = root / "tests" / "unit" / "test_douane_adapter.py"
        existing.parent.mkdir(parents=True)
        existing.write_text("# mine\n")
        before = (root / "topics.yaml").read_text()
        with pytest.raises(AdapterExists):
            write_scaffold(scaffold)
        assert ("# mine\n", before, False) == (
            existing.read_text(),
            (root / "topics.yaml").read_text(),
            (root / "services" / "agencies" / "douane").exists(),
        )


class TestServiceDiscovery:
    """`ketenbus up` runs every adapter topics.yaml names, on its declared or set port."""

    def test_belastingdienst_on_its_declared_port(self, settings: Settings) -> None:
        found = {s.name: s.port(settings) for s in adapter_services(settings)}
        assert 8085 == found["belastingdienst"]

    def test_port_setting_wins(self, settings: Settings) -> None:
        moved = settings.model_copy(update={"adapter_ports": {"belastingdienst": 18085}})
        found = {s.name: s.port(moved) for s in adapter_services(moved)}
        assert 18085 == found["belastingdienst"]
