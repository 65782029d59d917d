"""The agency service of Belastingdienst (the tax office): agency code `belastingdienst`.

Scaffolded by `ketenbus new-adapter`; see docs/adding-an-agency.md.
"""

from agencies.belastingdienst.adapter import ADAPTER, BelastingdienstAdapter, map_native

__all__ = ["ADAPTER", "BelastingdienstAdapter", "map_native"]
