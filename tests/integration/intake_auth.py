"""Bearer tokens for the intake API in tests: a fresh ZGW-style JWT per request."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from intake.clients import make_token
from ketenbus.settings import Settings

#: TestClient's default peer ("testclient") is not loopback: the operations endpoints
#: (/metrics, /openapi.json) answer loopback callers only.
LOOPBACK_PEER = ("127.0.0.1", 50000)


class TokenAuth(httpx.Auth):
    """Signs every request as `agency`'s intake client (created in dev/test if missing)."""

    def __init__(self, agency: str, settings: Settings) -> None:
        self.agency = agency
        self.settings = settings

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {make_token(self.agency, self.settings)}"
        yield request
