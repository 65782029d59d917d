"""Scaffolding a new agency adapter (`ketenbus new-adapter`); see docs/adding-an-agency.md."""

from devtools.scaffold.generate import (
    AdapterExists,
    AdapterPlan,
    InvalidAdapterName,
    InvalidScaffoldOption,
    Scaffold,
    ScaffoldError,
    TopicsUpdateFailed,
    plan_adapter,
    render,
    write_scaffold,
)

__all__ = [
    "AdapterExists",
    "AdapterPlan",
    "InvalidAdapterName",
    "InvalidScaffoldOption",
    "Scaffold",
    "ScaffoldError",
    "TopicsUpdateFailed",
    "plan_adapter",
    "render",
    "write_scaffold",
]
