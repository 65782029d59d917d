"""The stall index: a tick finds exactly the due cases without scanning the table."""

from __future__ import annotations

from correlator.stall_index import PartitionDue, StallIndex


class TestPartitionDue:
    """A partition's heap yields the keys due before the clock, per the rows' current due."""

    def test_yields_only_keys_due_before_the_clock(self) -> None:
        rows = {"a": 10, "b": 20, "c": 30}
        index = PartitionDue(rows.items())
        assert ["a", "b"] == index.pop_due(25, rows.get)
        assert ["c"] == index.pop_due(31, rows.get)
        assert [] == index.pop_due(1000, rows.get)

    def test_a_moved_due_time_counts_only_at_its_new_time(self) -> None:
        rows = {"a": 10}
        index = PartitionDue(rows.items())
        rows["a"] = 50  # a sanction moved its last step
        index.add("a", 50)
        assert [] == index.pop_due(25, rows.get)
        assert ["a"] == index.pop_due(51, rows.get)

    def test_a_row_that_can_no_longer_stall_is_dropped(self) -> None:
        rows: dict[str, int | None] = {"a": 10}
        index = PartitionDue([("a", 10)])
        rows["a"] = None  # closed
        assert [] == index.pop_due(100, rows.get)
        assert 0 == len(index)

    def test_each_key_once_even_if_added_twice(self) -> None:
        rows = {"a": 10}
        index = PartitionDue(rows.items())
        index.add("a", 10)
        assert ["a"] == index.pop_due(11, rows.get)


class TestStallIndex:
    """Partitions are indexed separately, only once built, and forgotten on reassignment."""

    def test_unbuilt_partition_ignores_writes_until_built(self) -> None:
        index = StallIndex()
        index.add("dwelling", 0, "a", 10)
        assert not index.known("dwelling", 0)
        assert [] == index.pop_due("dwelling", 0, 100, {"a": 10}.get)

    def test_partitions_and_inboxes_do_not_mix(self) -> None:
        index = StallIndex()
        index.build("dwelling", 0, [("a", 10)])
        index.build("dwelling", 1, [("b", 10)])
        index.build("organisation", 0, [("c", 10)])
        rows = {"a": 10, "b": 10, "c": 10}
        assert ["b"] == index.pop_due("dwelling", 1, 100, rows.get)
        assert ["c"] == index.pop_due("organisation", 0, 100, rows.get)

    def test_forget_drops_every_partition(self) -> None:
        index = StallIndex()
        index.build("dwelling", 0, [("a", 10)])
        index.forget()
        assert not index.known("dwelling", 0)
