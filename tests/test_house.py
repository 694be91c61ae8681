"""The house rules that import-linter cannot see: the layers are checked on the whole import graph
(function-level imports included), and the ORM session is touched only inside storage/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
FLOORS = [["bot"], ["handlers", "scheduler"], ["storage"], ["domain"]]
PACKAGES = [package for floor in FLOORS for package in floor]


def _floor(module: str) -> int:
    top = module.split(".")[0]
    return next(index for index, floor in enumerate(FLOORS) if top in floor)


def test_import_linter_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_import_runs_up_or_sideways_anywhere_in_the_tree() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    wrong: list[str] = []
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            low, high = _floor(imported), _floor(module)
            top, other = module.split(".")[0], imported.split(".")[0]
            if low < high or (low == high and top != other):
                wrong.append(f"{module} -> {imported}")
    assert wrong == []


def test_the_orm_session_is_used_only_inside_storage() -> None:
    """``uow.session`` (or any repository's ``.session``) outside storage/ would be SQL elsewhere."""
    found: list[str] = []
    for package in ("bot", "handlers", "scheduler", "domain"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr == "session"
                    and isinstance(node.value, ast.Attribute | ast.Name)
                    and getattr(node.value, "attr", getattr(node.value, "id", "")) in {"uow", "_uow"}
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
