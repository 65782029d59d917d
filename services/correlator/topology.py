"""The correlator's own topology, declared once: its inboxes, its tables, their topics.

The faust app (tables and agents), the ingest stage (which creates the topics before the
worker starts and produces to the inboxes) and `rebuild` (which deletes them) all read
it from here. The topics every agency shares live in topics.yaml; these internal ones
are granted there by prefix (`internal:`), named `<app id>-...`.

Rule: docs/correlation.md#rule-6.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict, get_args

from ketenbus.settings import Settings

#: An aggregate's inbox: where messages for one dwelling or one organisation go.
Inbox = Literal["dwelling", "organisation"]
INBOXES: Final[tuple[Inbox, ...]] = get_args(Inbox)

#: A faust table of the correlator: the two aggregates and each partition's clock.
Table = Literal["dwellings", "organisations", "clocks"]
TABLES: Final[tuple[Table, ...]] = get_args(Table)

#: The table that holds each inbox's aggregates.
TABLE_OF: Final[dict[Inbox, Table]] = {"dwelling": "dwellings", "organisation": "organisations"}


def internal_prefix(settings: Settings) -> str:
    """Every internal topic of the correlator starts with this."""
    return f"{settings.correlator_app_id}-"


def inbox_topic(settings: Settings, inbox: Inbox) -> str:
    return f"{internal_prefix(settings)}{inbox}-inbox"


def changelog_topic(settings: Settings, table: Table) -> str:
    """faust names a table's changelog `<app id>-<table>-changelog`."""
    return f"{internal_prefix(settings)}{table}-changelog"


class AggregateRow(TypedDict):
    """A row of the dwellings or organisations table: the aggregate's JSON state, the inbox
    partition it lives on (its changelog partition) and when its case stalls (rule 6).

    On the changelog `state` is a JSON object (faust's json codec, unchanged). A worker
    keeps `state` in memory packed: the zlib-compressed bytes of that JSON object
    (`correlator.tables.stored_row` for the rows it stores, `recovered_row` for those it
    recovers from the changelog), about a seventh of the memory of the decoded dicts.
    `correlator.tables.row_state` reads either form.
    """

    partition: int
    stall_due: int | None
    state: dict[str, Any] | bytes | None
