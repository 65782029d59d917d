"""The exception base of the common package; each subclass is named for what happened."""


class KetenbusError(Exception):
    """Base of every error the common package raises on purpose."""
