"""The municipal agency service: one service for every municipality (`gemeente:<cbs>`).

Publishes complaints (meldpunt), inspections and sanctions for all 342 municipalities
without configuration: the CBS code in the record selects the source topic, which is
created from topics.yaml's pattern entry on first use. Extra: the complaint-desk CSV
export (`agencies.gemeente.complaint_desk`).
"""

from agencies.gemeente.adapter import ADAPTER, GemeenteAdapter

__all__ = ["ADAPTER", "GemeenteAdapter"]
