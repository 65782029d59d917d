"""What the domain keeps on its immutable values equals what it would compute afresh."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from test_correlation_properties import source_events

from correlator.domain import dwelling, organisation
from correlator.domain.case import CaseView
from correlator.domain.events import SourceEvent
from correlator.domain.handlers import simulate


def reference_case_event_id(view: CaseView) -> str:
    """The id as it was always hashed: one `json.dumps` of the whole canonical form."""
    canonical = json.dumps(
        {"case_id": view.case_id, **view.public(), "explanation": view.explanation},
        sort_keys=True,
        default=list,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class TestCaseEventIds:
    """A case event's id and explanation JSON are byte for byte the one-dump forms."""

    @settings(max_examples=100, deadline=None)
    @given(events=source_events())
    def test_ids_and_explanations(self, events: list[SourceEvent]) -> None:
        changes = simulate(events).changes
        expected = [
            (
                reference_case_event_id(change.view),
                json.dumps(
                    {**change.view.explanation, "indicators": list(change.view.indicators)},
                    sort_keys=True,
                ),
            )
            for change in changes
        ]
        actual = [
            (
                change.view.case_event_id,
                change.view.explanation_json(indicators=list(change.view.indicators)),
            )
            for change in changes
        ]
        assert expected == actual


class TestKeptViews:
    """Views, summaries and facts kept on an aggregate equal those of a fresh copy of it."""

    @settings(max_examples=100, deadline=None)
    @given(events=source_events())
    def test_kept_equals_fresh(self, events: list[SourceEvent]) -> None:
        sim = simulate(events)
        kept = [
            (dwelling.view(case, sim.clock), dwelling.summary(case))
            for case in sim.dwellings.values()
            if case.events
        ] + [
            (organisation.view(profile, sim.clock), organisation.facts(profile))
            for profile in sim.organisations.values()
        ]
        fresh = [
            (dwelling.view(copy, sim.clock), dwelling.summary(copy))
            for copy in (
                dwelling.DwellingCase.from_json(case.to_json())
                for case in sim.dwellings.values()
                if case.events
            )
        ] + [
            (organisation.view(copy, sim.clock), organisation.facts(copy))
            for copy in (
                organisation.OrganisationProfile.from_json(profile.to_json())
                for profile in sim.organisations.values()
            )
        ]
        assert fresh == kept
