"""Which adapter serves which agency, and each agency's OIN: data, not code.

The agencies are declared in topics.yaml (`agencies:`, read through
`ketenbus.topics.spec`). An entry may name its adapter package (`adapter: belastingdienst`);
otherwise the adapters are asked in turn whether
they own the code (`gemeente` owns every `gemeente:<cbs>`). A new agency is a new package
exposing `ADAPTER` plus its topics.yaml entry: the correlator is not touched.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Final

from intake.base import AgencyAdapter
from ketenbus.errors import KetenbusError
from ketenbus.settings import Settings, get_settings
from ketenbus.topics.spec import TopicsError, TopicsFile, load_topics

#: The agency services shipped with ketenbus (import names of their packages).
BUILTIN_ADAPTERS: Final = ("gemeente", "nla", "politie", "nau")


class AdapterNotFound(KetenbusError):
    """An adapter package cannot be imported or exposes no `ADAPTER`."""


class OinMissing(KetenbusError):
    """An agency is not declared in topics.yaml, so it has no OIN for `ce_source`."""


def adapter_module(name: str) -> str:
    """The import name of an adapter: `gemeente` lives in `agencies.gemeente`."""
    return name if "." in name else f"agencies.{name}"


def load_adapter(name: str) -> AgencyAdapter:
    """The `ADAPTER` of an adapter package (an adapter name or a dotted module)."""
    module_name = adapter_module(name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise AdapterNotFound(f"adapter package {module_name!r} is not installed") from exc
    adapter = getattr(module, "ADAPTER", None)
    if not isinstance(adapter, AgencyAdapter):
        raise AdapterNotFound(f"{module_name}.ADAPTER is missing or not an AgencyAdapter")
    return adapter


def _named_adapter(spec: TopicsFile, agency: str) -> str | None:
    try:
        return getattr(spec.agency(agency), "adapter", None)
    except (TopicsError, KetenbusError):
        return None


def adapter_names(spec: TopicsFile) -> list[str]:
    """The built-in adapters plus every adapter topics.yaml names, in that order."""
    names = list(BUILTIN_ADAPTERS)
    for entry in spec.agencies:
        named = getattr(entry, "adapter", None)
        if named and named not in names:
            names.append(named)
    return names


class AdapterRegistry:
    """Finds the adapter owning an agency code, and the agency's OIN."""

    def __init__(self, adapters: Iterable[AgencyAdapter], spec: TopicsFile) -> None:
        self.adapters = list(adapters)
        self.spec = spec
        self._by_service = {a.service: a for a in self.adapters}
        # agency code -> (adapter, OIN): looked up for every record; topics.yaml is
        # read once per process, and a municipality's entry is built from the pattern.
        self._known: dict[str, tuple[AgencyAdapter | None, str | None]] = {}

    @classmethod
    def load(
        cls, services: Iterable[str] | None = None, settings: Settings | None = None
    ) -> AdapterRegistry:
        """The named adapter services (default: all) over the project's topics.yaml."""
        spec = load_topics((settings or get_settings()).topics_file)
        names = list(services) if services is not None else adapter_names(spec)
        return cls((load_adapter(n) for n in names), spec)

    def adapter_for(self, agency: str) -> AgencyAdapter | None:
        if agency not in self._known:
            self._known[agency] = (self._adapter_for(agency), None)
        return self._known[agency][0]

    def _adapter_for(self, agency: str) -> AgencyAdapter | None:
        named = _named_adapter(self.spec, agency)
        if named is not None:
            adapter = self._by_service.get(named)
            return adapter if adapter is not None and adapter.owns(agency) else None
        return next((a for a in self.adapters if a.owns(agency)), None)

    def oin(self, agency: str) -> str:
        """The agency's OIN from topics.yaml (municipalities: from the pattern entry)."""
        adapter, known = self._known.get(agency, (None, None))
        if known is not None:
            return known
        try:
            oin = self.spec.agency(agency).oin
        except (TopicsError, KetenbusError) as exc:
            raise OinMissing(f"agency {agency!r} has no OIN: {exc}") from exc
        self._known[agency] = (self.adapter_for(agency) if adapter is None else adapter, oin)
        return oin
