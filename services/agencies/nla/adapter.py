"""The `nla` adapter: everything but these declarations comes from the adapter SDK."""

from __future__ import annotations

from intake import AgencyAdapter


class NlaAdapter(AgencyAdapter):
    service = "nla"
    event_types = frozenset({"complaint", "inspection", "sanction"})

    def owns(self, agency: str) -> bool:
        return agency == "nla"


ADAPTER = NlaAdapter()
