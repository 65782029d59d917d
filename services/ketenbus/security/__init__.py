"""Trust on the bus: the dev CA, principals' SCRAM credentials and properties files, ACLs.

Shared by every service (the common package): `client` turns a principal into librdkafka
and faust settings, `properties` renders and reads the client configs an agency is handed,
`pki` makes the development CA and broker certificate, `scram` creates and rotates SCRAM
credentials, `principals` names them from topics.yaml, `acls` applies the ACLs generated
from topics.yaml and reports drift, `issue` is what `ketenbus credentials issue` does.
See docs/security.md.
"""

from ketenbus.security.errors import (
    CredentialsMissing,
    SecurityError,
    UnknownPrincipal,
)

__all__ = ["CredentialsMissing", "SecurityError", "UnknownPrincipal"]
