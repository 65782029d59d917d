"""`python -m <service> [--host H] [--port P]`: run one agency service's intake API."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from intake.app import create_app
from intake.registry import load_adapter
from intake.runtime import build_publisher, tune_gc
from ketenbus.errors import KetenbusError
from ketenbus.logging import configure_logging
from ketenbus.settings import get_settings


def main(service: str, argv: list[str] | None = None) -> None:
    settings = get_settings()
    default_port = getattr(settings, f"{service}_port", None)
    if default_port is None:  # an adapter added with `ketenbus new-adapter`
        default_port = settings.adapter_ports.get(service, load_adapter(service).port)
    parser = argparse.ArgumentParser(
        prog=f"python -m {service}", description=f"{service} intake API"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, required=default_port is None)
    args = parser.parse_args(argv)
    configure_logging(settings.log_level)
    try:
        publisher = build_publisher([service], settings=settings, follow_fingerprints=True)
    except KetenbusError as exc:  # e.g. no pseudonym key outside dev/test: refuse to start
        print(f"{service}: not started: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app = create_app(publisher, service=service)
    tune_gc()
    # uvloop and httptools (uvicorn[standard]) named, not left to "auto": the pure-Python
    # loop and h11 parser cost several times as much per request
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
