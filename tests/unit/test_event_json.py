"""A SourceEvent survives its JSON form (the inbox envelope and the table changelog)."""

from __future__ import annotations

from dataclasses import fields

from correlator.domain.events import SourceEvent


class TestSourceEventJson:
    """to_json names every field and from_json gives back an equal event."""

    def test_round_trip_keeps_every_field(self) -> None:
        event = SourceEvent(
            event_id="e1",
            type="sanction",
            agency="nla",
            ref="NLA-1",
            occurred_at=1_700_000_000_000,
            dwelling="3083AB-12-A",
            address={"key": "3083AB-12-A", "municipality_code": "0599"},
            organisations=(("landlord", "12345678"), ("target", "87654321")),
            violations=("OVERCROWDING", "UNDERPAYMENT"),
            follow_up=True,
            access_refused=True,
            admission_change="revoked",
            action="ACKNOWLEDGED",
        )
        data = event.to_json()
        assert ([f.name for f in fields(SourceEvent)], event) == (
            list(data),
            SourceEvent.from_json(data),
        )
