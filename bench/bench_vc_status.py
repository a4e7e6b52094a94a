"""Status list checks: one index in a 131,072-entry Bitstring Status List, with and without the decoded-list cache.

Target (issue 'vc/'): under 1 ms including decompression.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.harness import bench
from vc.status_list import BitstringStatusEntry, BitstringStatusList, StatusListCache, check_bitstring_status

URL = "https://issuer.example.jp/status/1"


def _setup(cached: bool) -> Callable[[], object]:
    status_list = BitstringStatusList()
    for index in range(0, 131_072, 97):
        status_list.set(index)
    credential = status_list.credential(URL, "did:web:issuer.example.jp", "revocation", "2026-01-01T00:00:00Z")
    entry = BitstringStatusEntry("revocation", 94567, URL)
    if cached:
        cache = StatusListCache()
        return lambda: check_bitstring_status(entry, credential, cache)
    return lambda: check_bitstring_status(entry, credential)


@bench("vc", "status list check, 131072 entries, decompress each time")
def _cold() -> Callable[[], object]:
    return _setup(cached=False)


@bench("vc", "status list check, 131072 entries, cached decoded list")
def _warm() -> Callable[[], object]:
    return _setup(cached=True)
