"""DID and DID URL syntax (DID Core §3.1, §3.2): parsing with length limits and precise errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from did.errors import InvalidDidError, InvalidDidUrlError

__all__ = [
    "MAX_DID_LENGTH",
    "MAX_DID_URL_LENGTH",
    "Did",
    "DidUrl",
    "parse_did",
    "parse_did_url",
]

MAX_DID_LENGTH: Final = 2048
"""Longest DID accepted. RSA-4096 did:keys are ~750 characters; anything near this limit is hostile."""

MAX_DID_URL_LENGTH: Final = 4096

_METHOD = re.compile(r"[a-z0-9]+")
_IDCHAR = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
_METHOD_SPECIFIC_ID = re.compile(rf"(?:{_IDCHAR}*:)*{_IDCHAR}+")
# RFC 3986 pchar, plus "/" and "?" for query and fragment.
_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_PATH = re.compile(rf"(?:/{_PCHAR}*)*")
_QUERY_OR_FRAGMENT = re.compile(rf"(?:{_PCHAR}|[/?])*")


@dataclass(frozen=True)
class Did:
    """A parsed DID: ``did:<method>:<method-specific-id>``."""

    method: str
    method_specific_id: str

    def __str__(self) -> str:
        return f"did:{self.method}:{self.method_specific_id}"


@dataclass(frozen=True)
class DidUrl:
    """A parsed DID URL: a DID with optional path, query and fragment."""

    did: Did
    path: str = ""
    query: str | None = None
    fragment: str | None = None

    def __str__(self) -> str:
        out = str(self.did) + self.path
        if self.query is not None:
            out += "?" + self.query
        if self.fragment is not None:
            out += "#" + self.fragment
        return out


def parse_did(value: str) -> Did:
    """Parse a DID, raising InvalidDidError with the reason when it is not conformant."""
    if not isinstance(value, str):
        raise InvalidDidError("DID must be a string")
    if len(value) > MAX_DID_LENGTH:
        raise InvalidDidError(f"DID is {len(value)} characters long; the limit is {MAX_DID_LENGTH}")
    if not value.startswith("did:"):
        raise InvalidDidError("DID must start with 'did:'")
    method, sep, msid = value[4:].partition(":")
    if not sep:
        raise InvalidDidError("DID must have a method and a method-specific identifier")
    if not _METHOD.fullmatch(method):
        raise InvalidDidError(f"DID method name {method!r} must be lower-case letters and digits")
    if not _METHOD_SPECIFIC_ID.fullmatch(msid):
        raise InvalidDidError("DID method-specific identifier is empty or contains characters not allowed in a DID")
    return Did(method, msid)


def parse_did_url(value: str) -> DidUrl:
    """Parse a DID URL (a DID, optionally with path, query and fragment)."""
    if not isinstance(value, str):
        raise InvalidDidUrlError("DID URL must be a string")
    if len(value) > MAX_DID_URL_LENGTH:
        raise InvalidDidUrlError(f"DID URL is {len(value)} characters long; the limit is {MAX_DID_URL_LENGTH}")
    rest, hash_sep, fragment = value.partition("#")
    rest, query_sep, query = rest.partition("?")
    slash = rest.find("/")
    did_part, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    try:
        did = parse_did(did_part)
    except InvalidDidError as exc:
        raise InvalidDidUrlError(exc.message) from exc
    if not _PATH.fullmatch(path):
        raise InvalidDidUrlError("DID URL path contains characters not allowed in a URL path")
    if query_sep and not _QUERY_OR_FRAGMENT.fullmatch(query):
        raise InvalidDidUrlError("DID URL query contains characters not allowed in a URL query")
    if hash_sep and not _QUERY_OR_FRAGMENT.fullmatch(fragment):
        raise InvalidDidUrlError("DID URL fragment contains characters not allowed in a URL fragment")
    return DidUrl(did, path, query if query_sep else None, fragment if hash_sep else None)
