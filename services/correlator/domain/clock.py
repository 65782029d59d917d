"""The backbone's event-time clock (rule 6), bounded by the wall clock (pure: "now" is
passed in). Rule: docs/correlation.md#rule-6.

The clock is the latest `occurred_at` seen anywhere, so a replay of history gives the
same answer as live operation. But event time is what a sender claims: one record dated
2099 would move the clock decades ahead and stall every open case at once. So the clock
never moves past the correlator's own wall clock plus the allowed skew
(KETENBUS_CLOCK_SKEW_SECONDS, the same skew the intake allows); such an event still
counts for its case, it only cannot drag the backbone's clock along.
"""

from __future__ import annotations


def advance(clock: int, occurred_at: int, *, wall_ms: int, skew_ms: int) -> int:
    """The clock after an event at `occurred_at` (epoch ms), seen at wall time `wall_ms`."""
    return max(clock, min(occurred_at, wall_ms + skew_ms))
