"""The foundation every xid package stands on: one error base and the wire helpers they share.

``foundation`` imports only the standard library, ``httpx`` and ``orjson``; every other package may import it.

- ``foundation.errors``: ``XidError``, the base of every package's errors (a stable machine ``code`` and a human
  ``message``), and the codes deliberately shared between packages.
- ``foundation.b64``: strict unpadded base64url.
- ``foundation.strict_json``: the strict JSON reader for untrusted input and the compact writer for what xid signs.
- ``foundation.jws``: the compact JWS serialization, parsed and encoded in one place.
- ``foundation.http``: the one bounded HTTP fetch (no redirects, size and time limits, no environment proxies).

Each helper raises its own ``foundation`` error by default and takes the caller's error class where a package wants
its own.
"""

from foundation.errors import XidError

__all__ = ["XidError"]
