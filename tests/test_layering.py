"""Imports point one way: registry <- accounts <- tracking <- interop <- issuance <- compliance
<- audit (docs/architecture.md; interop reads the core, the issuance rule R15 reads interop, ETS
compliance uses the rule catalogue, and audit reads every app below it to re-check its
guarantees)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["registry", "accounts", "tracking", "interop", "issuance", "compliance", "audit"]


def runtime_imports(path: Path) -> set[str]:
    """Imports outside ``if TYPE_CHECKING:`` blocks (those never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = [ast.Pass()]
    source = ast.unparse(tree)
    scratch = ast.parse(source)
    names = set()
    for node in ast.walk(scratch):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("app", LAYERS)
def test_apps_import_only_layers_below_them(app):
    allowed = set(LAYERS[: LAYERS.index(app) + 1])
    offenders = {}
    for path in (ROOT / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        upward = runtime_imports(path) - allowed
        if upward:
            offenders[str(path.relative_to(ROOT))] = sorted(upward)
    assert offenders == {}
