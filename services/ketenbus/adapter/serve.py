"""`python -m <service> [--host H] [--port P]`: run one agency service's intake API."""

from __future__ import annotations

import argparse

import uvicorn

from ketenbus.adapter.app import create_app
from ketenbus.adapter.runtime import build_publisher
from ketenbus.logging import configure_logging
from ketenbus.settings import get_settings


def main(service: str, argv: list[str] | None = None) -> None:
    settings = get_settings()
    default_port = getattr(settings, f"{service}_port", None)
    parser = argparse.ArgumentParser(
        prog=f"python -m {service}", description=f"{service} intake API"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, required=default_port is None)
    args = parser.parse_args(argv)
    configure_logging(settings.log_level)
    app = create_app(build_publisher([service], settings=settings), service=service)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
