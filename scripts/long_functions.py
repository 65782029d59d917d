"""List the functions longer than a limit (default 60 lines), longest first.

    python scripts/long_functions.py [LIMIT] [PATH ...]     (default PATH: services)

A reader holds a function of a screen; longer ones are candidates for named steps.
Nested functions count inside their parent and are listed on their own as well.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def long_functions(paths: list[Path], limit: int) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for root in paths:
        for path in sorted(root.rglob("*.py") if root.is_dir() else [root]):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > limit:
                        found.append((length, f"{path}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def main(argv: list[str]) -> int:
    limit = int(argv[0]) if argv and argv[0].isdigit() else 60
    paths = [Path(a) for a in argv[1 if argv and argv[0].isdigit() else 0 :]] or [Path("services")]
    for length, where in long_functions(paths, limit):
        print(f"{length:4d}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
