"""Notifications of one case change encoded together are byte for byte the records
encoded one by one (the shared part is encoded once)."""

from __future__ import annotations

from correlation_builders import at, event

from correlator.domain.handlers import handle_dwelling
from correlator.wire import NOTIFICATION_SCHEMA, encoded_notifications, notification_record
from ketenbus.contracts.codec import get_codec


class TestEncodedNotifications:
    """encoded_notifications gives each party the bytes of its own notification_record."""

    def test_same_bytes_as_one_by_one(self) -> None:
        codec = get_codec()
        case = None
        change = None
        for ref, kind, agency, codes, day in (
            ("C-1", "complaint", "politie", ("INTIMIDATION", "OVERCROWDING"), 1),
            ("I-1", "inspection", "gemeente:0599", ("OVERCROWDING",), 2),
            ("I-2", "inspection", "nla", ("UNDERPAYMENT",), 3),
        ):
            handled = handle_dwelling(
                case, "3083AB-12-A", event(kind, agency, ref, day, violations=codes), at(day)
            )
            case, change = handled.aggregate, handled.change or change
        assert change is not None
        clock = at(3)
        one_by_one = [
            (note.recipient, codec.encode(NOTIFICATION_SCHEMA, notification_record(note, clock)))
            for note in change.notifications
        ]
        together = [
            (note.recipient, value) for note, value in encoded_notifications(change, clock, codec)
        ]
        assert (True, one_by_one) == (len(one_by_one) >= 3, together)

    def test_long_and_non_ascii_leading_strings(self) -> None:
        codec = get_codec()
        record = {
            "notification_id": "n" * 200,  # a length that takes two varint bytes
            "case_event_id": "é" * 70,
            "recipient": "gemeente:0599",
            "case_id": "dwelling:3083AB-12-A",
            "kind": "dwelling",
            "status": "open",
            "changes": ["status:signal->open"],
            "address": None,
            "organisations": [],
            "violations": ["OVERCROWDING"],
            "agencies": ["politie"],
            "lead_agency": None,
            "events": [{"agency": "politie", "ref": "C-1"}],
            "recidive": False,
            "issued_at": at(1),
        }
        leading = ("notification_id", "case_event_id", "recipient")
        encode = codec.fan_out(
            NOTIFICATION_SCHEMA, leading, {k: v for k, v in record.items() if k not in leading}
        )
        assert codec.encode(NOTIFICATION_SCHEMA, record) == encode(
            [str(record[k]) for k in leading]
        )
