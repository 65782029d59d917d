"""The agency service of the police (politie): agency code `politie`."""

from agencies.politie.adapter import ADAPTER, PolitieAdapter

__all__ = ["ADAPTER", "PolitieAdapter"]
