"""The agency service of Nederlandse Arbeidsinspectie (labour inspectorate): agency code `nla`."""

from agencies.nla.adapter import ADAPTER, NlaAdapter

__all__ = ["ADAPTER", "NlaAdapter"]
