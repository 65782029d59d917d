"""The correlator's one exception base; each subclass is named for what happened."""

from __future__ import annotations

from ketenbus.errors import KetenbusError


class CorrelatorError(KetenbusError):
    """Base of the errors the correlator raises on purpose."""
