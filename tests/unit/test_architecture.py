"""The package layout's promises, checked by walking the source (no imports run)."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
COMMON = "ketenbus"
#: who may import whom: production code never reaches into the development tooling,
#: and the common package reaches into nothing of ours.
FORBIDDEN = {
    "ketenbus": {"intake", "agencies", "correlator", "operations", "devtools"},
    "intake": {"agencies", "correlator", "operations", "devtools"},
    "agencies": {"correlator", "operations", "devtools"},
    "operations": {"devtools"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level package names a module imports, wherever in the module (lazy ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def violations(package: str) -> list[str]:
    forbidden = FORBIDDEN[package]
    return sorted(
        f"{path.relative_to(SERVICES)} imports {name}"
        for path in (SERVICES / package).rglob("*.py")
        for name in imported_packages(path) & forbidden
    )


class TestImportDirection:
    """Dependency arrows run one way: from services to the common package, never back."""

    @pytest.mark.parametrize("package", sorted(FORBIDDEN))
    def test_no_forbidden_import(self, package: str) -> None:
        assert [] == violations(package)

    def test_walker_sees_lazy_imports(self, tmp_path: Path) -> None:
        module = tmp_path / "m.py"
        module.write_text("def f():\n    from correlator.app import app\n    import devtools.x\n")
        assert {"correlator", "devtools"} == imported_packages(module)


class TestCommandRegistry:
    """Every command module is registered through the entry-point group and imports."""

    def test_every_command_module_is_registered(self) -> None:
        registered = {ep.value.split(":")[0] for ep in entry_points(group="ketenbus.commands")}
        on_disk = {
            ".".join(path.relative_to(SERVICES).with_suffix("").parts)
            for path in SERVICES.glob("*/commands/*.py")
            if path.name != "__init__.py"
        } | {
            ".".join(path.relative_to(SERVICES).with_suffix("").parts)
            for path in SERVICES.glob("*/*/commands/*.py")
            if path.name != "__init__.py"
        }
        assert on_disk == registered

    def test_a_broken_module_is_an_error_naming_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import typer

        from ketenbus import cli

        class Broken:
            name, value = "broken", "nowhere.commands.broken:register"

            def load(self) -> object:
                raise ModuleNotFoundError("No module named 'nowhere'")

        monkeypatch.setattr(cli, "command_entry_points", lambda: [Broken()])
        with pytest.raises(cli.CommandModuleBroken, match=r"nowhere\.commands\.broken"):
            cli.register_all(typer.Typer())
