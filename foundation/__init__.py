"""The foundation every xid package stands on: one error base and the wire helpers they share.

``foundation`` imports only the standard library, ``httpx`` and ``orjson``; every other package may import it.

- ``foundation.errors``: ``XidError``, the base of every package's errors (a stable machine ``code`` and a human
  ``message``).
"""

from foundation.errors import XidError

__all__ = ["XidError"]
