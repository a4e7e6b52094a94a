"""The public surface of every package, derived from the code instead of retyped here.

The convention, checked for every module that pkgutil finds under the wheel's packages (pyproject.toml):

- Every module of a library package pins its public names in ``__all__`` (ruff's RUF022 keeps it sorted). A package
  ``__init__`` without ``__all__`` exports nothing and binds nothing public: its modules are the surface (vc, ledger,
  jpki_bridge do this to keep ``import vc`` light).
- Every name in ``__all__`` exists and is public (no leading underscore). Every class and function in it is defined in
  that module, except in a package ``__init__``, which may re-export names that its own modules already export.
- Every public class or function a module defines is in its ``__all__`` (prefix it with ``_`` otherwise).
- Every module, and every class and function in an ``__all__``, has a docstring.
- The application package (the one that hosts the console scripts: ``xid``) is not imported by anything; its modules
  need a docstring, and an ``__all__`` they choose to declare must satisfy the rules above.

Moving, adding or renaming modules needs no edit here; changing a public name shows up as a diff of some ``__all__``.
"""

from __future__ import annotations
import __future__

import importlib
import inspect
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import PYPROJECT, ROOT, WHEEL_PACKAGES, import_all

PACKAGES = WHEEL_PACKAGES
APPLICATIONS = {target.partition(":")[0].split(".")[0] for target in PYPROJECT["project"]["scripts"].values()}
MODULES = import_all(PACKAGES)


def _is_auto_doc(obj: Any) -> bool:
    """Whether a docstring is missing or was written by dataclass/NamedTuple ("Name(field, ...)")."""
    doc = (obj.__doc__ or "").strip()
    return not doc or doc.startswith(f"{obj.__name__}(")


def _is_definition(obj: Any) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj)


def surface_problems(module: ModuleType, *, application: bool = False) -> list[str]:
    """What in a module breaks the public-surface convention above (empty when nothing does)."""
    name = module.__name__
    is_package = hasattr(module, "__path__")
    problems: list[str] = []
    if not (module.__doc__ or "").strip():
        problems.append("has no module docstring")
    exported = getattr(module, "__all__", None)
    if exported is None:
        if application:
            return problems
        if not is_package:
            return [*problems, "has no __all__"]
        exported = []
    if not isinstance(exported, list | tuple) or not all(isinstance(item, str) for item in exported):
        return [*problems, "__all__ is not a list of strings"]
    if len(set(exported)) != len(exported):
        problems.append("__all__ lists a name twice")

    for item in exported:
        if item.startswith("_"):
            problems.append(f"exports the private name {item}")
        if not hasattr(module, item):
            problems.append(f"lists {item} in __all__, but has no such attribute")
            continue
        obj = getattr(module, item)
        if not _is_definition(obj):
            continue  # constants and type aliases carry no origin to check
        if _is_auto_doc(obj):
            problems.append(f"exports {item} without a docstring")
        origin = obj.__module__
        if origin == name:
            continue
        if not (is_package and origin.startswith(f"{name}.")):
            problems.append(f"exports {item}, defined in {origin}: export it there")
        elif item not in getattr(sys.modules[origin], "__all__", ()):
            problems.append(f"re-exports {item}, which {origin} does not list in its __all__")

    for attribute, obj in vars(module).items():
        if attribute.startswith("_") or attribute in exported:
            continue
        if _is_definition(obj) and obj.__module__ == name:
            problems.append(f"defines the public {attribute} but leaves it out of __all__")
        elif is_package and not isinstance(obj, ModuleType | __future__._Feature) and not _is_definition(obj):
            problems.append(f"binds the public {attribute} but leaves it out of __all__")
        elif is_package and _is_definition(obj):
            problems.append(f"imports the public {attribute} but leaves it out of __all__")
    return problems


@pytest.mark.parametrize("name", MODULES)
def test_public_surface(name: str) -> None:
    module = importlib.import_module(name)
    assert surface_problems(module, application=name.split(".")[0] in APPLICATIONS) == []


def test_the_walk_finds_every_module_on_disk() -> None:
    on_disk = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            on_disk.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert set(MODULES) == on_disk
    assert set(PACKAGES) < set(MODULES)
    assert set(PACKAGES) >= APPLICATIONS


def _module(
    source: str, name: str = "xid_probe", *, package: bool = False, monkeypatch: pytest.MonkeyPatch | None = None
) -> ModuleType:
    """A module made from source; registered in sys.modules for the test when monkeypatch is given."""
    module = ModuleType(name)
    if package:
        module.__path__ = []
    if monkeypatch is not None:
        monkeypatch.setitem(sys.modules, name, module)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


GOOD = '''
"""A module that keeps the convention."""
__all__ = ["LIMIT", "Thing", "helper"]
LIMIT = 3
class Thing:
    """A thing."""
def helper() -> None:
    """Help."""
def _private() -> None:
    pass
'''


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (GOOD.replace('"""A module that keeps the convention."""', ""), "has no module docstring"),
        (GOOD.replace('__all__ = ["LIMIT", "Thing", "helper"]', ""), "has no __all__"),
        (GOOD.replace('"helper"]', '"helper", "helper"]'), "__all__ lists a name twice"),
        (GOOD.replace('"helper"]', '"helper", "_private"]'), "exports the private name _private"),
        (GOOD.replace('"helper"]', '"helper", "missing"]'), "lists missing in __all__, but has no such attribute"),
        (GOOD.replace('"""Help."""', "pass"), "exports helper without a docstring"),
        (GOOD.replace(', "helper"]', "]"), "defines the public helper but leaves it out of __all__"),
        (
            GOOD + "from pathlib import Path\n__all__.append('Path')\n",
            "exports Path, defined in pathlib: export it there",
        ),
        (
            GOOD.replace('__all__ = ["LIMIT", "Thing", "helper"]', '__all__ = "LIMIT"'),
            "__all__ is not a list of strings",
        ),
    ],
)
def test_the_check_flags(source: str, problem: str) -> None:
    assert surface_problems(_module(GOOD)) == []
    assert problem in surface_problems(_module(source))


def test_the_check_flags_a_dataclass_without_its_own_docstring(monkeypatch: pytest.MonkeyPatch) -> None:
    source = '"""Doc."""\nimport dataclasses\n__all__ = ["Point"]\n@dataclasses.dataclass\nclass Point:\n    x: int\n'
    assert surface_problems(_module(source, monkeypatch=monkeypatch)) == ["exports Point without a docstring"]


def test_the_check_holds_package_reexports_to_their_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = '"""Inner."""\n__all__ = ["Shown"]\nclass Shown:\n    """Shown."""\nclass Hidden:\n    """Hid."""\n'
    _module(inner, "xid_probe.inner", monkeypatch=monkeypatch)
    package = '"""Package."""\nfrom xid_probe.inner import Hidden, Shown\n__all__ = ["Hidden", "Shown"]\n'
    assert surface_problems(_module(package, package=True)) == [
        "re-exports Hidden, which xid_probe.inner does not list in its __all__"
    ]
    quiet = '"""Package."""\nfrom xid_probe.inner import Shown\nLIMIT = 3\n'
    assert surface_problems(_module(quiet, package=True)) == [
        "imports the public Shown but leaves it out of __all__",
        "binds the public LIMIT but leaves it out of __all__",
    ]
    assert surface_problems(_module('"""Package."""\nimport os\n', package=True)) == []


def test_the_application_needs_only_docstrings() -> None:
    source = '"""The app."""\ndef main() -> None:\n    pass\n'
    assert surface_problems(_module(source), application=True) == []
    assert surface_problems(_module(source)) == ["has no __all__"]
    assert surface_problems(_module("def main() -> None:\n    pass\n"), application=True) == ["has no module docstring"]
