"""Errors of the security package; messages name files and principals, never secrets."""

from __future__ import annotations

from ketenbus.errors import KetenbusError


class SecurityError(KetenbusError):
    """Base of the errors of ketenbus.security."""


class CredentialsMissing(SecurityError):
    """No credentials are configured or stored for the principal a client acts as."""


class CredentialsInvalid(SecurityError):
    """A properties file lacks a key a SASL_SSL client needs."""


class UnknownPrincipal(SecurityError):
    """A name is neither an agency, a service nor the admin of topics.yaml."""


class ScramUpdateFailed(SecurityError):
    """The cluster refused to create or rotate a SCRAM credential."""


class AclsFailed(SecurityError):
    """The cluster refused to describe, create or delete ACLs."""
