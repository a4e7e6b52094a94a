"""RDFC-1.0 against the W3C rdf-canon test suite: every evaluation and map test, and the poison graph stopped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import VECTORS, load_vector
from vc.rdfc import CanonicalizationError, CanonicalizationLimitError, canonicalize

ROOT = VECTORS / "rdf-canon"
ENTRIES: list[dict[str, Any]] = load_vector("rdf-canon/manifest.jsonld")["entries"]


def _options(entry: dict[str, Any]) -> dict[str, Any]:
    return {"hash_algorithm": "sha384"} if entry.get("hashAlgorithm") == "SHA384" else {}


def _of(kind: str) -> list[dict[str, Any]]:
    return [e for e in ENTRIES if e["type"] == kind]


def test_suite_size() -> None:
    assert len(_of("rdfc:RDFC10EvalTest")) == 64
    assert len(_of("rdfc:RDFC10MapTest")) == 21
    assert len(_of("rdfc:RDFC10NegativeEvalTest")) == 1


@pytest.mark.parametrize("entry", _of("rdfc:RDFC10EvalTest"), ids=lambda e: e["id"])
def test_eval(entry: dict[str, Any]) -> None:
    result = canonicalize((ROOT / entry["action"]).read_bytes(), **_options(entry))
    assert result.nquads == (ROOT / entry["result"]).read_text(encoding="utf-8")


@pytest.mark.parametrize("entry", _of("rdfc:RDFC10MapTest"), ids=lambda e: e["id"])
def test_map(entry: dict[str, Any]) -> None:
    result = canonicalize((ROOT / entry["action"]).read_bytes(), **_options(entry))
    assert result.issued == json.loads((ROOT / entry["result"]).read_text())


@pytest.mark.parametrize("entry", _of("rdfc:RDFC10NegativeEvalTest"), ids=lambda e: e["id"])
def test_poison_graph_is_stopped_by_the_work_limit(entry: dict[str, Any]) -> None:
    with pytest.raises(CanonicalizationLimitError, match="work limit"):
        canonicalize((ROOT / entry["action"]).read_bytes(), **_options(entry))


def test_bad_input() -> None:
    with pytest.raises(CanonicalizationError, match="N-Quads"):
        canonicalize(b"<a> <b> .")
    with pytest.raises(CanonicalizationError, match="hash"):
        canonicalize(b"", hash_algorithm="md5")
