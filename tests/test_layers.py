"""The packages import each other only as the picture in README.md ("Packages") shows.

foundation is the base; did builds on it; vc and ledger on did; jpki_bridge on foundation alone. The services to come
(issuer, wallet, verifier, oidc) never import each other except oidc -> verifier; nothing imports xid, the
composition root. Every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES: list[str] = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
# besides the standard library (every package may import foundation): HTTP client, JSON, databases, the web layer
FOUNDATION_MAY_USE = {"httpx", "orjson", "sqlalchemy", "starlette", "pydantic"}

MAY_IMPORT: dict[str, set[str]] = {
    "foundation": set(),
    "did": {"foundation"},
    "vc": {"foundation", "did"},
    "ledger": {"foundation", "did"},
    "jpki_bridge": {"foundation"},
    "issuer": {"foundation", "did", "vc", "jpki_bridge", "ledger"},
    "wallet": {"foundation", "did", "vc", "jpki_bridge", "ledger"},
    "verifier": {"foundation", "did", "vc", "ledger"},
    "oidc": {"foundation", "did", "vc", "ledger", "verifier"},
    "xid": set(PACKAGES) - {"xid"},
}


def imported_names(source: str) -> set[str]:
    """The top-level names a module's source imports, anywhere in it (relative imports stay inside its package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def imported_packages(source: str, packages: list[str]) -> set[str]:
    """The given top-level packages that a module's source imports."""
    return imported_names(source) & set(packages)


def test_every_package_has_its_layer() -> None:
    assert set(MAY_IMPORT) == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_its_layers(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    forbidden = {
        f"{path.relative_to(ROOT)} imports {other}"
        for path in modules
        for other in imported_packages(path.read_text(encoding="utf-8"), PACKAGES) - MAY_IMPORT[package] - {package}
    }
    assert sorted(forbidden) == []


def test_the_check_sees_every_kind_of_import() -> None:
    source = "import did.keys\nfrom vc import jose\nfrom . import sibling\ndef f() -> None:\n    import ledger\n"
    assert imported_packages(source, PACKAGES) == {"did", "vc", "ledger"}
    assert imported_packages("import json\nfrom httpx import Client\n", PACKAGES) == set()


def test_foundation_needs_only_the_standard_library_and_its_listed_libraries() -> None:
    used = set().union(
        *(imported_names(path.read_text(encoding="utf-8")) for path in (ROOT / "foundation").rglob("*.py"))
    )
    assert used - sys.stdlib_module_names - {"__future__", "foundation"} <= FOUNDATION_MAY_USE
    assert "json" in used  # the walk read the modules
