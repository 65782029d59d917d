"""The agency service of the Nederlandse Autoriteit Uitleenmarkt (staffing-market
authority): agency code `nau`."""

from agencies.nau.adapter import ADAPTER, NauAdapter

__all__ = ["ADAPTER", "NauAdapter"]
