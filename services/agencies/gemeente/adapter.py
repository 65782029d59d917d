"""The municipalities' adapter: owns every `gemeente:<cbs>`, keeps each to its territory."""

from __future__ import annotations

from typing import ClassVar

from agencies.gemeente.complaint_desk import read_complaint_desk_csv
from intake import AgencyAdapter, AnyRecord, FileReader
from ketenbus.agencies import is_gemeente


def _cbs(agency: str) -> str:
    return agency.split(":", 1)[1]


class GemeenteAdapter(AgencyAdapter):
    service = "gemeente"
    event_types = frozenset({"complaint", "inspection", "sanction"})
    file_readers: ClassVar[dict[str, FileReader]] = {".csv": read_complaint_desk_csv}

    def owns(self, agency: str) -> bool:
        return is_gemeente(agency)

    def complete(self, record: AnyRecord) -> AnyRecord:
        """An address without a municipality code lies in the publishing municipality."""
        address = record.address
        if address is None or address.municipality_code is not None:
            return record
        filled = address.model_copy(update={"municipality_code": _cbs(record.agency)})
        return record.model_copy(update={"address": filled})


ADAPTER = GemeenteAdapter()
