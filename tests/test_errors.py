"""One error base: every package error is an XidError, and codes name one class unless deliberately shared."""

from __future__ import annotations

from collections import defaultdict

import pytest

from did.errors import DidError
from foundation.errors import DELIBERATELY_SHARED_CODES, XidError
from jpki_bridge.errors import JpkiError
from ledger.errors import LedgerError
from tests.helpers import WHEEL_PACKAGES, import_all
from vc.errors import VcError


def _subclasses(cls: type[XidError]) -> set[type[XidError]]:
    found: set[type[XidError]] = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _subclasses(sub)
    return found


def _name(cls: type[XidError]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _xid_errors() -> set[type[XidError]]:
    import_all(WHEEL_PACKAGES)
    return {cls for cls in _subclasses(XidError) if not cls.__module__.startswith("tests.")}


def test_package_roots_share_one_base() -> None:
    for root in (DidError, VcError, JpkiError, LedgerError):
        assert issubclass(root, XidError)
        error = root("a message")
        assert (error.code, error.message, str(error)) == (root.code, "a message", f"{root.code}: a message")


def test_codes_name_one_class_unless_deliberately_shared() -> None:
    by_code: dict[str, list[str]] = defaultdict(list)
    for cls in _xid_errors():
        if "code" not in vars(cls):
            continue  # a refinement that keeps its parent's code (e.g. one a resolver retries) is not a new code
        by_code[cls.code].append(f"{cls.__module__}.{cls.__qualname__}")
    assert len(by_code) > 50  # the walk really found the packages' errors
    collisions = {code: sorted(names) for code, names in by_code.items() if len(names) > 1}
    assert {code: names for code, names in collisions.items() if code not in DELIBERATELY_SHARED_CODES} == {}
    # a code listed as shared that is no longer shared is stale
    assert set(DELIBERATELY_SHARED_CODES) <= set(collisions)


ALL_ERRORS: list[type[XidError]] = sorted(_xid_errors(), key=_name)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=_name)
def test_every_error_has_a_code_and_a_docstring(cls: type[XidError]) -> None:
    assert cls.code
    assert cls.code[0].islower()
    assert " " not in cls.code
    assert cls.__doc__
