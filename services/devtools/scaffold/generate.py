"""`ketenbus new-adapter NAME`: a new agency service, its topics.yaml entries and tests.

`plan_adapter` checks the name and options against the repository (`root`), `render`
produces every file in memory (from `templates/*.tmpl`, `string.Template`), and
`write_scaffold` refuses to overwrite anything and writes only after the edited
topics.yaml validated. The generated tests pass as generated.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, get_args

import yaml

from devtools.scaffold.topics_edit import TopicsEditFailed, add_agency
from intake.events import EVENT_TYPES
from intake.models import RECORD_TYPES
from intake.registry import BUILTIN_ADAPTERS
from ketenbus.agencies import InvalidAgency, validate_agency
from ketenbus.errors import KetenbusError
from ketenbus.settings import Settings
from ketenbus.topics.spec import AgencyKind, TopicsError, parse_topics

TEMPLATES = Path(__file__).parent / "templates"
AGENCY_KINDS: tuple[str, ...] = get_args(AgencyKind)
#: the intake types an agency may be given (case_action is always allowed)
CHOOSABLE_TYPES: tuple[str, ...] = tuple(t for t in RECORD_TYPES if t != "case_action")
DEFAULT_TYPES = ("complaint", "inspection")
FIRST_PORT = 8085
_NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")
_OIN = re.compile(r"^\d{20}$")
_DECLARED_PORT = re.compile(r"^\s+port\s*=\s*(\d+)\s*$", re.MULTILINE)
#: native record kind (`soort`) of each intake type in the generated example format
NATIVE_KINDS = {
    "complaint": "melding",
    "inspection": "controle",
    "sanction": "sanctie",
    "admission_revoked": "toelating_ingetrokken",
    "admission_granted": "toelating_verleend",
    "admission_suspended": "toelating_geschorst",
    "case_action": "actie",
}
#: packages of the project that are not agency adapters
_PROJECT_PACKAGES = {
    "ketenbus",
    "intake",
    "agencies",
    "correlator",
    "operations",
    "devtools",
    "tests",
}


class ScaffoldError(KetenbusError):
    """Base of the scaffold's errors: nothing was written."""


class InvalidAdapterName(ScaffoldError):
    """NAME is not a usable agency code / package name."""


class AdapterExists(ScaffoldError):
    """The agency, its package or one of the files to create exists already."""


class InvalidScaffoldOption(ScaffoldError):
    """--kind, --oin, --types or --port is not acceptable."""


class TopicsUpdateFailed(ScaffoldError):
    """topics.yaml could not be extended, or would be invalid afterwards."""


@dataclass(frozen=True)
class AdapterPlan:
    """What to scaffold, checked against the repository at `root`."""

    name: str
    title: str
    kind: str
    oin: str
    oin_placeholder: bool
    types: tuple[str, ...]
    port: int
    root: Path

    @property
    def class_name(self) -> str:
        return self.name[:1].upper() + self.name[1:]

    @property
    def allowed_types(self) -> tuple[str, ...]:
        return (*self.types, "case_action")

    @property
    def package(self) -> Path:
        return Path("services") / "agencies" / self.name

    @property
    def sample(self) -> Path:
        return self.package / "samples" / f"sample.{self.name}.jsonl"

    @property
    def topics_file(self) -> Path:
        return self.root / "topics.yaml"


@dataclass(frozen=True)
class Scaffold:
    """The rendered scaffold: new files (relative to root) and the new topics.yaml text."""

    plan: AdapterPlan
    files: dict[Path, str]
    topics_yaml: str


def placeholder_oin(name: str) -> str:
    """A 20-digit placeholder OIN, stable per name (real OINs come from the OIN register)."""
    return f"00000001{zlib.crc32(name.encode()) % 10**9:09d}000"


def _check_name(name: str, root: Path, topics: dict[str, Any]) -> None:
    if not _NAME.match(name):
        raise InvalidAdapterName(
            f"invalid name {name!r}: lower-case letters and digits, starting with a letter,"
            " 2-31 characters (it is the agency code, the package and the topic slug)"
        )
    if name.startswith("gemeente") or name in BUILTIN_ADAPTERS:
        raise AdapterExists(f"{name!r} is a built-in agency (municipalities need no adapter)")
    try:
        validate_agency(name)
    except InvalidAgency as exc:
        raise InvalidAdapterName(str(exc)) from None
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name in _PROJECT_PACKAGES:
        raise InvalidAdapterName(f"{name!r} would shadow a Python or project module")
    codes = {str(a.get("code")) for a in topics.get("agencies") or []}
    services = {str(s.get("name")) for s in topics.get("services") or []}
    if name in codes:
        raise AdapterExists(f"agency {name!r} is already declared in {root / 'topics.yaml'}")
    if name in services:
        raise InvalidAdapterName(f"{name!r} is a backbone service in topics.yaml")
    if (root / "services" / "agencies" / name).exists():
        raise AdapterExists(f"{root / 'services' / 'agencies' / name} exists already")


def _used_ports(root: Path, settings: Settings) -> set[int]:
    used = {int(v) for k, v in settings.model_dump().items() if k.endswith("_port")}
    used |= set(settings.adapter_ports.values())
    for adapter in (root / "services" / "agencies").glob("*/adapter.py"):
        used |= {int(p) for p in _DECLARED_PORT.findall(adapter.read_text(encoding="utf-8"))}
    return used


def plan_adapter(
    name: str,
    *,
    root: Path,
    settings: Settings,
    kind: str = "other",
    oin: str | None = None,
    types: tuple[str, ...] = DEFAULT_TYPES,
    title: str | None = None,
    port: int | None = None,
) -> AdapterPlan:
    """Check NAME and the options; raise a `ScaffoldError` saying what is wrong."""
    try:
        topics = yaml.safe_load((root / "topics.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TopicsUpdateFailed(f"cannot read {root / 'topics.yaml'}: {exc}") from None
    _check_name(name, root, topics)
    if kind not in AGENCY_KINDS:
        raise InvalidScaffoldOption(f"--kind {kind!r}: expected one of {', '.join(AGENCY_KINDS)}")
    if oin is not None and not _OIN.match(oin):
        raise InvalidScaffoldOption(f"--oin {oin!r}: an OIN has exactly 20 digits")
    chosen = tuple(dict.fromkeys(t for t in types if t != "case_action"))
    unknown = [t for t in chosen if t not in CHOOSABLE_TYPES]
    if unknown:
        raise InvalidScaffoldOption(
            f"--types: unknown {', '.join(unknown)} (choose from {', '.join(CHOOSABLE_TYPES)};"
            " case_action is always allowed)"
        )
    used = _used_ports(root, settings)
    if port is None:
        port = next(p for p in range(FIRST_PORT, 65536) if p not in used)
    elif port in used or not 1024 <= port <= 65535:
        raise InvalidScaffoldOption(f"--port {port}: in use by another service, or out of range")
    return AdapterPlan(
        name=name,
        title=title or name.capitalize(),
        kind=kind,
        oin=oin or placeholder_oin(name),
        oin_placeholder=oin is None,
        types=chosen,
        port=port,
        root=root,
    )


def _template(template: str, **values: object) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


def sample_records(plan: AdapterPlan) -> list[dict[str, Any]]:
    """One native record of each allowed type, in the generated example format."""
    prefix = plan.name.upper()
    address = {"postcode": "3083 AB", "huisnummer": 12, "huisletter": "a", "gemeentecode": "0599"}
    base = {"datum": "2026-05-04T10:00:00+02:00"}
    by_type: dict[str, dict[str, Any]] = {
        "complaint": {
            "adres": address,
            "kvk_verhuurder": "90001234",
            "misstanden": ["OVERCROWDING"],
        },
        "inspection": {
            "adres": address,
            "kvk_werkgever": "90005678",
            "misstanden": ["UNDERPAYMENT"],
            "aangetroffen": 9,
            "ingeschreven": 2,
        },
        "sanction": {
            "sanctiesoort": "ADMINISTRATIVE_FINE",
            "misstanden": ["UNDERPAYMENT"],
            "kvk_betrokkene": "90005678",
            "bedrag": 12000.0,
        },
        "admission_revoked": {"kvk_uitlener": "90009012", "reden": "voorbeeld"},
        "admission_granted": {"kvk_uitlener": "90009012", "reden": "voorbeeld"},
        "admission_suspended": {"kvk_uitlener": "90009012", "reden": "voorbeeld"},
        "case_action": {"adres": address, "actie": "ACKNOWLEDGED"},
    }
    return [
        {"soort": NATIVE_KINDS[t], "kenmerk": f"{prefix}-{n:04d}", **base, **by_type[t]}
        for n, t in enumerate(plan.allowed_types, start=1)
    ]


def _quoted(items: list[str] | tuple[str, ...], indent: int = 0) -> str:
    """Items as the inside of a Python list literal, one a line (ruff-format stable)."""
    if not items:
        return ""
    inner = " " * (indent + 4)
    return "\n" + "".join(f'{inner}"{i}",\n' for i in items) + " " * indent


def _topics_text(plan: AdapterPlan, text: str) -> str:
    spec_services = {str(s.get("name")) for s in (yaml.safe_load(text) or {}).get("services", [])}
    schemas = list(dict.fromkeys(EVENT_TYPES[t].schema for t in plan.allowed_types))
    consumers = [plan.name] + (["webhook"] if "webhook" in spec_services else [])
    oin_note = (
        "\n  # PLACEHOLDER OIN: replace it with the real one from the OIN register."
        if plan.oin_placeholder
        else ""
    )
    agency = _template(
        "topics_agency.yaml.tmpl",
        name=plan.name,
        title=json.dumps(plan.title),
        kind=plan.kind,
        oin=plan.oin,
        oin_placeholder=str(plan.oin_placeholder).lower(),
        oin_note=oin_note,
    )
    topics = _template(
        "topics_topics.yaml.tmpl",
        name=plan.name,
        title=plan.title,
        schemas="".join(f"      - {s}\n" for s in schemas),
        notification_consumers=", ".join(consumers),
    )
    service = (
        f"  # Added by `ketenbus new-adapter {plan.name}`: the principal its service runs as.\n"
        f"  - name: intake-{plan.name}\n"
        f"    principal: User:ketenbus-intake-{plan.name}\n"
        f"    publishes_for: [{plan.name}]\n"
        f"    description: {json.dumps('Agency service of ' + plan.title)}\n"
    )
    try:
        edited = add_agency(text, agency, topics, plan.name, service, f"intake-{plan.name}")
    except TopicsEditFailed as exc:
        raise TopicsUpdateFailed(str(exc)) from None
    try:
        spec = parse_topics(yaml.safe_load(edited))
        spec.topics_for_agency(plan.name)
    except (TopicsError, yaml.YAMLError) as exc:
        raise TopicsUpdateFailed(f"topics.yaml would be invalid: {exc}") from None
    return edited


def render(plan: AdapterPlan) -> Scaffold:
    """Every file of the scaffold, in memory."""
    values = {
        "name": plan.name,
        "title": plan.title,
        "cls": plan.class_name,
        "port": plan.port,
        "types": _quoted(plan.types, indent=8),
        "kinds": "".join(f'    "{NATIVE_KINDS[t]}": "{t}",\n' for t in plan.allowed_types),
        "allowed": _quoted(plan.allowed_types),
        "forbidden": _quoted([t for t in RECORD_TYPES if t not in plan.allowed_types]),
    }
    samples = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sample_records(plan))
    files = {
        plan.package / "__init__.py": _template("init.py.tmpl", **values),
        plan.package / "__main__.py": _template("main.py.tmpl", **values),
        plan.package / "adapter.py": _template("adapter.py.tmpl", **values),
        plan.sample: samples,
        Path("tests/unit") / f"test_{plan.name}_adapter.py": _template(
            "test_unit.py.tmpl", **values
        ),
        Path("tests/integration") / f"test_{plan.name}_adapter_kafka.py": _template(
            "test_integration.py.tmpl", **values
        ),
    }
    text = plan.topics_file.read_text(encoding="utf-8")
    return Scaffold(plan, files, _topics_text(plan, text))


def write_scaffold(scaffold: Scaffold) -> list[Path]:
    """Write the files (none may exist) and topics.yaml; return the paths written."""
    root = scaffold.plan.root
    existing = [root / p for p in scaffold.files if (root / p).exists()]
    if existing:
        raise AdapterExists("refusing to overwrite: " + ", ".join(map(str, existing)))
    written = []
    for relative, content in scaffold.files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:  # "x": never overwrite
            handle.write(content)
        written.append(path)
    topics = scaffold.plan.topics_file
    staged = topics.with_name(topics.name + ".new")
    staged.write_text(scaffold.topics_yaml, encoding="utf-8")
    staged.replace(topics)  # atomic: readers see the old or the new file, never half
    written.append(topics)
    return written
