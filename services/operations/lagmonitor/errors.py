"""The exception base of the lag monitor; each subclass is named for what happened."""

from ketenbus.errors import KetenbusError


class LagMonitorError(KetenbusError):
    """Base of every error the lag monitor raises on purpose."""


class ClusterUnreachable(LagMonitorError):
    """The cluster did not answer an admin request in time."""
