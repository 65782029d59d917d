"""The correlation rules 1-8, on the pure domain core (no broker).

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from correlation_builders import at, event

from correlator.domain.handlers import simulate

HOME = "3083AB-12-A"
OTHER = "3083AC-4"
LANDLORD = "11111111"
AGENCY = "22222222"


def cases(*events):  # type: ignore[no-untyped-def]
    return simulate(events).views()


def dwelling(*events):  # type: ignore[no-untyped-def]
    return cases(*events)[f"dwelling:{HOME}"]


class TestRule1Corroboration:
    """A dwelling case opens with >= 2 codes and an established code or >= 2 agencies."""

    def test_one_complaint_with_many_codes_stays_a_signal(self) -> None:
        complaint = event(
            "complaint",
            "gemeente:0599",
            "MP-1",
            violations=("OVERCROWDING", "INTIMIDATION", "EXCESSIVE_RENT"),
        )
        assert "signal" == dwelling(complaint).status

    def test_two_codes_with_one_established_opens(self) -> None:
        complaint = event("complaint", "gemeente:0599", "MP-1", violations=("OVERCROWDING",))
        inspection = event(
            "inspection", "gemeente:0599", "INS-1", 2, violations=("NO_WRITTEN_LEASE",)
        )
        view = dwelling(complaint, inspection)
        assert ("open", at(2)) == (view.status, view.opened_at)

    def test_two_codes_from_two_agencies_open_without_establishment(self) -> None:
        first = event("complaint", "gemeente:0599", "MP-1", violations=("OVERCROWDING",))
        second = event("complaint", "politie", "POL-1", 1, violations=("INTIMIDATION",))
        assert "open" == dwelling(first, second).status

    def test_two_complaints_of_one_agency_stay_a_signal(self) -> None:
        first = event("complaint", "gemeente:0599", "MP-1", violations=("OVERCROWDING",))
        second = event("complaint", "gemeente:0599", "MP-2", 1, violations=("INTIMIDATION",))
        assert "signal" == dwelling(first, second).status

    def test_one_established_code_alone_stays_a_signal(self) -> None:
        inspection = event("inspection", "nla", "NLA-1", violations=("UNDERPAYMENT",))
        assert "signal" == dwelling(inspection).status

    def test_the_same_code_twice_is_one_code(self) -> None:
        first = event("complaint", "gemeente:0599", "MP-1", violations=("OVERCROWDING",))
        second = event("inspection", "nla", "NLA-1", 1, violations=("OVERCROWDING",))
        assert "signal" == dwelling(first, second).status


class TestRule2RevokedAdmission:
    """A revoked staffing agency gives each linked dwelling UNADMITTED_LENDING, established."""

    revocation = event(
        "admission", "nau", "NAU-1", 5, dwelling=None, staffing=AGENCY, change="REVOKED"
    )
    link = event("inspection", "nla", "NLA-1", 3, violations=("UNDERPAYMENT",), staffing=AGENCY)

    def test_revocation_after_link_reaches_the_dwelling(self) -> None:
        view = dwelling(self.link, self.revocation)
        assert ("UNADMITTED_LENDING", "UNDERPAYMENT") == view.established
        assert "open" == view.status
        assert "nau/NAU-1" in view.events

    def test_revocation_before_link_reaches_the_dwelling(self) -> None:
        assert dwelling(self.revocation, self.link) == dwelling(self.link, self.revocation)

    def test_grant_does_not_add_the_code(self) -> None:
        grant = event(
            "admission", "nau", "NAU-2", 5, dwelling=None, staffing=AGENCY, change="GRANTED"
        )
        assert ("UNDERPAYMENT",) == dwelling(self.link, grant).violations

    def test_unlinked_dwelling_is_untouched(self) -> None:
        other = event("inspection", "nla", "NLA-2", 3, dwelling=OTHER, violations=("UNDERPAYMENT",))
        views = cases(self.link, other, self.revocation)
        assert ("UNDERPAYMENT",) == views[f"dwelling:{OTHER}"].violations


class TestRule3OrganisationCase:
    """An organisation linked to >= 2 dwellings with an established violation is a case."""

    def test_two_established_dwellings_open_an_organisation_case(self) -> None:
        one = event(
            "inspection", "gemeente:0599", "INS-1", violations=("OVERCROWDING",), landlord=LANDLORD
        )
        two = event(
            "inspection",
            "gemeente:0599",
            "INS-2",
            4,
            dwelling=OTHER,
            violations=("UNSAFE_DWELLING",),
            landlord=LANDLORD,
        )
        view = cases(one, two)[f"organisation:{LANDLORD}"]
        assert ("organisation", "open", at(4)) == (view.kind, view.status, view.opened_at)
        assert ("OVERCROWDING", "UNSAFE_DWELLING") == view.violations

    def test_alleged_violations_do_not_count(self) -> None:
        one = event(
            "inspection", "gemeente:0599", "INS-1", violations=("OVERCROWDING",), landlord=LANDLORD
        )
        two = event(
            "complaint",
            "gemeente:0599",
            "MP-2",
            4,
            dwelling=OTHER,
            violations=("UNSAFE_DWELLING",),
            landlord=LANDLORD,
        )
        assert f"organisation:{LANDLORD}" not in cases(one, two)

    def test_any_role_links(self) -> None:
        one = event("inspection", "nla", "NLA-1", violations=("UNDERPAYMENT",), employer=LANDLORD)
        two = event(
            "sanction",
            "gemeente:0599",
            "B-2",
            4,
            dwelling=OTHER,
            violations=("OVERCROWDING",),
            target=LANDLORD,
        )
        assert "open" == cases(one, two)[f"organisation:{LANDLORD}"].status


class TestRule4Notification:
    """Contributors, competent agencies and the address's gemeente are notified."""

    def test_parties_of_an_open_case(self) -> None:
        complaint = event("complaint", "politie", "POL-1", violations=("INTIMIDATION",))
        inspection = event("inspection", "nla", "NLA-1", 1, violations=("UNDERPAYMENT",))
        view = dwelling(complaint, inspection)
        assert ("gemeente:0599", "nla", "politie") == view.notified
        assert "gemeente:0599" == view.lead_agency

    def test_signals_notify_nobody(self) -> None:
        sim = simulate([event("complaint", "politie", "POL-1", violations=("INTIMIDATION",))])
        assert [] == [n for c in sim.changes for n in c.notifications]

    def test_every_change_of_an_open_case_notifies_every_party_once(self) -> None:
        complaint = event("complaint", "politie", "POL-1", violations=("INTIMIDATION",))
        inspection = event("inspection", "nla", "NLA-1", 1, violations=("UNDERPAYMENT",))
        action = event("case_action", "gemeente:0599", "ACT-1", 2, action="ACKNOWLEDGED")
        sim = simulate([complaint, inspection, action])
        told = [[n.recipient for n in c.notifications] for c in sim.changes if c.notifications]
        assert [["gemeente:0599", "nla", "politie"]] * 2 == told


class TestRule5Recidive:
    """A sanction within 24 months after another against the same organisation is recidive."""

    def test_second_sanction_within_24_months(self) -> None:
        first = event(
            "sanction",
            "gemeente:0599",
            "B-1",
            0,
            dwelling=OTHER,
            violations=("OVERCROWDING",),
            target=LANDLORD,
        )
        second = event(
            "sanction", "gemeente:0599", "B-2", 700, violations=("OVERCROWDING",), target=LANDLORD
        )
        views = cases(second, first)
        assert (True, False) == (
            views[f"dwelling:{HOME}"].recidive,
            views[f"dwelling:{OTHER}"].recidive,
        )

    def test_after_24_months_it_is_not(self) -> None:
        first = event(
            "sanction",
            "gemeente:0599",
            "B-1",
            0,
            dwelling=OTHER,
            violations=("OVERCROWDING",),
            target=LANDLORD,
        )
        second = event(
            "sanction", "gemeente:0599", "B-2", 740, violations=("OVERCROWDING",), target=LANDLORD
        )
        assert not cases(first, second)[f"dwelling:{HOME}"].recidive


class TestRule6Stalled:
    """An open case without a step for more than 30 days of backbone clock is stalled."""

    opening = (
        event("complaint", "politie", "POL-1", violations=("INTIMIDATION",)),
        event("inspection", "nla", "NLA-1", 1, violations=("UNDERPAYMENT",)),
    )

    def test_clock_from_elsewhere_stalls_the_case(self) -> None:
        elsewhere = event(
            "complaint", "politie", "POL-9", 32, dwelling=OTHER, violations=("INTIMIDATION",)
        )
        assert "stalled" == dwelling(*self.opening, elsewhere).status

    def test_thirty_days_exactly_is_not_stalled(self) -> None:
        elsewhere = event(
            "complaint", "politie", "POL-9", 31, dwelling=OTHER, violations=("INTIMIDATION",)
        )
        assert "open" == dwelling(*self.opening, elsewhere).status

    def test_a_later_case_action_reopens(self) -> None:
        elsewhere = event(
            "complaint", "politie", "POL-9", 40, dwelling=OTHER, violations=("INTIMIDATION",)
        )
        action = event("case_action", "gemeente:0599", "ACT-1", 39, action="INVESTIGATION_STARTED")
        assert "open" == dwelling(*self.opening, elsewhere, action).status

    def test_stalling_notifies_every_party_again(self) -> None:
        elsewhere = event(
            "complaint", "politie", "POL-9", 32, dwelling=OTHER, violations=("INTIMIDATION",)
        )
        sim = simulate([*self.opening, elsewhere])
        stalled = [c for c in sim.changes if c.view.status == "stalled"]
        assert ["gemeente:0599", "nla", "politie"] == [
            n.recipient for n in stalled[0].notifications
        ]


class TestRule7Closed:
    """A clean follow-up inspection closes a case; a later violation reopens it."""

    opening = TestRule6Stalled.opening
    clean = event("inspection", "gemeente:0599", "INS-9", 10, follow_up=True)

    def test_clean_follow_up_closes(self) -> None:
        assert "closed" == dwelling(*self.opening, self.clean).status

    def test_refused_access_does_not_close(self) -> None:
        refused = event(
            "inspection", "gemeente:0599", "INS-9", 10, follow_up=True, access_refused=True
        )
        assert "open" == dwelling(*self.opening, refused).status

    def test_later_violation_reopens(self) -> None:
        later = event("complaint", "politie", "POL-2", 11, violations=("INTIMIDATION",))
        assert "open" == dwelling(*self.opening, self.clean, later).status

    def test_earlier_violation_arriving_late_does_not_reopen(self) -> None:
        earlier = event("complaint", "politie", "POL-2", 9, violations=("OVERCROWDING",))
        assert "closed" == dwelling(*self.opening, self.clean, earlier).status


class TestRule8Idempotence:
    """The same event twice changes nothing."""

    def test_duplicate_event_changes_nothing(self) -> None:
        complaint = event("complaint", "politie", "POL-1", violations=("INTIMIDATION",))
        inspection = event("inspection", "nla", "NLA-1", 1, violations=("UNDERPAYMENT",))
        once = simulate([complaint, inspection])
        twice = simulate([complaint, inspection, inspection, complaint])
        assert (once.views(), len(once.changes)) == (twice.views(), len(twice.changes))


class TestExplanationOnlyChanges:
    """A change of the explanation alone is logged but notifies nobody."""

    def test_another_code_at_a_qualifying_dwelling(self) -> None:
        one = event(
            "inspection", "gemeente:0599", "INS-1", violations=("OVERCROWDING",), landlord=LANDLORD
        )
        two = event(
            "inspection",
            "gemeente:0599",
            "INS-2",
            4,
            dwelling=OTHER,
            violations=("UNSAFE_DWELLING",),
            landlord=LANDLORD,
        )
        three = event(
            "inspection", "gemeente:0599", "INS-3", 5, dwelling=OTHER, violations=("OVERCROWDING",)
        )
        sim = simulate([one, two, three])
        org = [c for c in sim.changes if c.view.kind == "organisation"]
        assert [(), ("explanation",)] == [() if c.notifications else c.changes for c in org]


class TestCorrectionsReachThoseTold:
    """A party told of an early, premature opening also hears of the correction."""

    def test_late_earlier_clean_follow_up(self) -> None:
        first = event(
            "complaint", "gemeente:0599", "MP-1", 0, violations=("OVERCROWDING", "INTIMIDATION")
        )
        action = event("case_action", "nla", "ACT-1", 20, action="ACKNOWLEDGED")
        clean = event("inspection", "gemeente:0599", "FU-1", 10, follow_up=True)
        sim = simulate([first, action, clean])
        last = sim.changes[-1]
        assert ("closed", (), ["gemeente:0599", "nla", "politie"]) == (
            last.view.status,
            last.view.notified,
            [n.recipient for n in last.notifications],
        )


class TestBagAlias:
    """A BAG id given with an address is an alias of it: BAG-only events join that case."""

    bag_only = event(
        "complaint",
        "politie",
        "POL-1",
        0,
        dwelling="BAG-0599010000123456",
        violations=("INTIMIDATION",),
    )
    with_address = event(
        "inspection",
        "gemeente:0599",
        "INS-1",
        2,
        violations=("OVERCROWDING",),
        bag_id="0599010000123456",
    )

    def test_bag_only_event_joins_the_address_case_in_either_order(self) -> None:
        forward = cases(self.bag_only, self.with_address)
        backward = cases(self.with_address, self.bag_only)
        assert (["dwelling:3083AB-12-A"], ["gemeente:0599/INS-1", "politie/POL-1"]) == (
            sorted(forward),
            list(forward["dwelling:3083AB-12-A"].events),
        )
        assert forward == backward

    def test_the_bag_case_is_removed_once_merged(self) -> None:
        sim = simulate([self.bag_only, self.with_address])
        assert "dwelling:BAG-0599010000123456" in {c.view.case_id for c in sim.changes}
        assert "dwelling:BAG-0599010000123456" not in sim.views()
