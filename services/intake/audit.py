"""The intake audit trail: one structured line and one metric sample per accepted or
refused request (per record of a batch). Who (client id), which agency, which ref, the
outcome, the HTTP status and the request id; never a body value (a ref is logged only
when it is itself a valid ref holding no BSN)."""

from __future__ import annotations

from intake.publisher import Accepted
from ketenbus.logging import get_logger
from ketenbus.metrics import INTAKE_REQUESTS

ANONYMOUS = "anonymous"
ACCEPTED = "accepted"

log = get_logger("intake.audit")


def audit(
    *,
    service: str,
    request_id: str,
    client: str | None,
    outcome: str,
    status: int,
    endpoint: str,
    agency: str | None = None,
    ref: str | None = None,
    line: int | None = None,
    published: Accepted | None = None,
) -> None:
    """Record one decision. `outcome`: `accepted` or the refusal's reason code;
    `published`: where an accepted record's event went (the audit line is then also
    its `record_published` line: one line per decision)."""
    INTAKE_REQUESTS.labels(service, client or ANONYMOUS, outcome).inc()
    where = published.placement() if published is not None else {}
    log.info(
        "request_audited",
        service=service,
        request_id=request_id,
        client=client or ANONYMOUS,
        agency=agency,
        ref=ref,
        outcome=outcome,
        status=status,
        endpoint=endpoint,
        line=line,
        **where,
    )
