"""The commit guard's decision: a commit may start only at the partition's head."""

from __future__ import annotations

from collections.abc import Callable

from correlator.commit_guard import HeadGap, head_gap


def no_gaps(start: int, end: int) -> bool:
    return False


def gaps_in(*offsets: int) -> Callable[[int, int], bool]:
    def covered(start: int, end: int) -> bool:
        return all(offset in offsets for offset in range(start, end))

    return covered


class TestHeadGap:
    """A run of acknowledged offsets that starts above the head jumps over records."""

    def test_run_at_the_committed_offset_commits(self) -> None:
        """Committed 31 is the next offset to read: a run from 31 is contiguous."""
        assert None is head_gap(31, 31, 31, no_gaps)

    def test_one_missing_record_is_a_gap(self) -> None:
        """faust's own check lets a run from committed + 1 through; the guard does not."""
        assert HeadGap(31, 32) == head_gap(31, None, 32, no_gaps)

    def test_broker_head_counts_when_faust_has_none(self) -> None:
        """After a revoke (or committed 0) faust holds None; the broker's head decides."""
        assert (HeadGap(0, 3), None) == (
            head_gap(None, 0, 3, no_gaps),
            head_gap(None, 3, 3, no_gaps),
        )

    def test_the_later_head_wins(self) -> None:
        """faust's commits in this generation move the head past the broker's first read."""
        assert (None, HeadGap(50, 51)) == (
            head_gap(50, 10, 50, no_gaps),
            head_gap(50, 10, 51, no_gaps),
        )

    def test_no_head_known_holds_the_commit(self) -> None:
        """Neither faust nor the broker read says where the partition starts: wait."""
        assert HeadGap(0, 7) == head_gap(None, None, 7, no_gaps)

    def test_offsets_without_records_are_not_awaited(self) -> None:
        """Offsets faust knows hold no record (its gaps) do not hold the commit back."""
        assert (None, HeadGap(31, 34)) == (
            head_gap(31, None, 34, gaps_in(31, 32, 33)),
            head_gap(31, None, 34, gaps_in(31, 33)),
        )

    def test_acknowledged_below_the_head(self) -> None:
        """Acks below the head (re-read records) are faust's to drop, not a gap."""
        assert None is head_gap(40, 40, 12, no_gaps)
