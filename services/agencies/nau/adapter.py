"""The `nau` adapter: everything but these declarations comes from the adapter SDK."""

from __future__ import annotations

from intake import AgencyAdapter


class NauAdapter(AgencyAdapter):
    service = "nau"
    event_types = frozenset(
        {"sanction", "admission_revoked", "admission_granted", "admission_suspended"}
    )

    def owns(self, agency: str) -> bool:
        return agency == "nau"


ADAPTER = NauAdapter()
