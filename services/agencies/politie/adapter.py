"""The `politie` adapter: everything but these declarations comes from the adapter SDK."""

from __future__ import annotations

from intake import AgencyAdapter


class PolitieAdapter(AgencyAdapter):
    service = "politie"
    event_types = frozenset({"complaint", "inspection", "sanction"})

    def owns(self, agency: str) -> bool:
        return agency == "politie"


ADAPTER = PolitieAdapter()
