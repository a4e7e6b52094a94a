"""The ``none`` anchor: records that nothing external was done, and never claims otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable

from ledger.anchors.base import AnchorReceipt, AnchorVerification, anchored, check_receipt_matches

__all__ = [
    "NullAnchor",
]


class NullAnchor:
    """An anchor back end that anchors nothing; its verification result always says ``anchored=False``."""

    name = "none"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def submit(self, checkpoint: bytes) -> AnchorReceipt:
        """Record the checkpoint digest and the local time only."""
        target = anchored(checkpoint)
        evidence = {"recorded": int(self._clock())}
        return AnchorReceipt(self.name, target.origin, target.size, target.digest, evidence)

    def verify(self, receipt: AnchorReceipt, checkpoint: bytes) -> AnchorVerification:
        """Confirm the receipt belongs to this checkpoint, and report that it is not anchored."""
        check_receipt_matches(receipt, checkpoint, self.name)
        return AnchorVerification(self.name, False, None, "not anchored: the 'none' back end proves nothing")
