"""The did:web method: DID ⇄ HTTPS URL, did.json documents for issuers, and a guarded resolver.

``did:web:example.com%3A3000:user:alice`` names ``https://example.com:3000/user/alice/did.json``; without a path
the document lives at ``/.well-known/did.json``. The resolver is safe to point at DIDs taken from untrusted input:

- HTTPS only; plain HTTP only to loopback hosts and only with ``allow_loopback`` (an explicit development setting);
- the host name is resolved first and every address must be public: loopback needs ``allow_loopback``; private,
  link-local, shared (CGNAT), reserved, multicast and unspecified addresses (also inside IPv4-mapped, 6to4 and
  NAT64 IPv6 forms) need ``allow_private``;
- the connection goes to an address that was checked (the URL carries the IP; TLS SNI, the certificate check and
  the Host header carry the name), so a DNS answer that changes between check and connect (DNS rebinding) cannot
  redirect it; the client it builds ignores proxies and credentials from the environment;
- redirects are not followed, compressed responses are refused, the body is capped at ``max_bytes`` and the whole
  resolution at ``timeout`` (``foundation.http.fetch`` holds these limits), and the document's ``id`` must be the
  DID.

Known limits: the host lookup uses the system resolver, whose own timeouts apply (``timeout`` starts counting before
it but cannot interrupt it). The specification says the identifier MUST NOT be an IP address; IPv4 literals are
accepted here (and pass the same address checks) so that test and intranet deployments can use them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Final
from urllib.parse import unquote

import httpx

from did.document import DID_V1_1_CONTEXT, SIGNING_RELATIONSHIPS, DidDocument, multikey_method
from did.errors import (
    DidDocumentTooLargeError,
    ForbiddenHostError,
    InvalidDidError,
    NotFoundError,
    ResolutionFailedError,
    ResolutionTimeoutError,
)
from did.keys import KeyType, PublicKey
from did.syntax import Did, parse_did
from foundation.http import (
    FetchConnectError,
    FetchEncodingError,
    FetchError,
    FetchTimeoutError,
    FetchTooLargeError,
    fetch,
)

__all__ = [
    "METHOD",
    "DidWebResolver",
    "HostResolver",
    "address_class",
    "did_to_url",
    "system_resolve_host",
    "web_did",
    "web_document",
]

METHOD: Final = "web"
_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_FRAGMENT: Final = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_ACCEPT: Final = "application/did+json, application/json"
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NO_SUCH_HOST: Final = (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME))

HostResolver = Callable[[str, int], list[str]]
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _host(text: str) -> str:
    """Validate a did:web host; return it lower-case, international names as IDNA A-labels."""
    if "@" in text:
        raise InvalidDidError("did:web host must not contain user information ('@')")
    host = text.lower()
    if not host.isascii():
        try:
            host = httpx.URL(scheme="https", host=host).raw_host.decode("ascii")
        except httpx.InvalidURL as exc:
            raise InvalidDidError(f"did:web host {text!r} is not a valid internationalized domain name") from exc
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidDidError(f"did:web host {text!r} is not a valid domain name or IPv4 address")
    if labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise InvalidDidError(f"did:web host {text!r} is numeric but not a dotted-quad IPv4 address") from exc
    return host


def _parse(did: str | Did) -> tuple[str, int | None, list[str]]:
    """Split a did:web DID into (host, port, URL path segments), validating each part."""
    parsed = parse_did(did) if isinstance(did, str) else did
    if parsed.method != METHOD:
        raise InvalidDidError(f"not a did:web DID (method {parsed.method!r})")
    first, *segments = parsed.method_specific_id.split(":")
    host_text, colon, port_text = unquote(first).partition(":")
    if not host_text:
        raise InvalidDidError("did:web DID has an empty host")
    host = _host(host_text)
    port: int | None = None
    if colon:
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
            raise InvalidDidError(f"did:web port {port_text!r} must be a number from 1 to 65535")
        port = int(port_text)
    for segment in segments:
        decoded = unquote(segment)
        if not decoded:
            raise InvalidDidError("did:web path segments must not be empty")
        if decoded in (".", "..") or any(c in "/\\?#" or not c.isprintable() for c in decoded):
            raise InvalidDidError(
                f"did:web path segment {segment!r} is not allowed (dot segment or reserved character)"
            )
    return host, port, segments


def _ip_literal(host: str) -> ipaddress.IPv4Address | None:
    """The address of a validated host that is an IPv4 literal (a numeric last label, see _host), else None."""
    return ipaddress.IPv4Address(host) if host.rpartition(".")[2].isdigit() else None


def _is_loopback_host(host: str) -> bool:
    literal = _ip_literal(host)
    return host == "localhost" or host.endswith(".localhost") or (literal is not None and literal.is_loopback)


def did_to_url(did: str | Did, *, scheme: str = "https") -> str:
    """The URL of a did:web DID's document, per the did:web specification (``http`` only for loopback hosts)."""
    if scheme not in ("https", "http"):
        raise ValueError(f"scheme must be 'https' or 'http', not {scheme!r}")
    host, port, path = _parse(did)
    if scheme == "http" and not _is_loopback_host(host):
        raise ForbiddenHostError(f"plain HTTP is allowed only for loopback hosts, not {host}")
    authority = host if port is None else f"{host}:{port}"
    suffix = "/.well-known/did.json" if not path else "/" + "/".join(path) + "/did.json"
    return f"{scheme}://{authority}{suffix}"


def web_did(host: str, port: int | None = None, path: Sequence[str] = ()) -> str:
    """Build a did:web DID from a host, optional port and optional path segments (as they appear in the URL)."""
    msid = _host(host) if port is None else f"{_host(host)}%3A{port}"
    did = ":".join(["did", METHOD, msid, *path])
    _parse(did)
    return did


def web_document(did: str, keys: Sequence[tuple[str, PublicKey]]) -> dict[str, Any]:
    """The did.json for a did:web DID publishing (fragment, public key) pairs as Multikey verification methods.

    Signing keys are authorized for authentication, assertion and capabilities; X25519 keys only for key agreement.
    """
    _parse(did)
    if not keys:
        raise ValueError("a did:web document needs at least one key")
    data: dict[str, Any] = {"@context": [DID_V1_1_CONTEXT], "id": did, "verificationMethod": []}
    seen: set[str] = set()
    for fragment, key in keys:
        if not _FRAGMENT.fullmatch(fragment):
            raise ValueError(f"key fragment {fragment!r} must be 1-64 of A-Z a-z 0-9 . _ ~ -")
        if fragment in seen:
            raise ValueError(f"key fragment {fragment!r} is used twice")
        seen.add(fragment)
        vm_id = f"{did}#{fragment}"
        data["verificationMethod"].append(multikey_method(did, vm_id, key))
        relationships = ("keyAgreement",) if key.key_type is KeyType.X25519 else SIGNING_RELATIONSHIPS
        for rel in relationships:
            data.setdefault(rel, []).append(vm_id)
    DidDocument(data, expected_id=did)
    return data


def system_resolve_host(host: str, port: int) -> list[str]:
    """Resolve a host name to IP address strings with the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_class(ip: _IPAddress) -> str | None:
    """'loopback', 'non-public', or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            return address_class(embedded)
        if ip.is_site_local or (ip.sixtofour is not None and address_class(ip.sixtofour) is not None):
            return "non-public"
    if ip.is_loopback:
        return "loopback"
    if not ip.is_global or ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_link_local or ip.is_unspecified:
        return "non-public"
    return None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


class _ConnectFailedError(ResolutionFailedError):
    """No connection to one of the host's addresses (the resolver then tries the next)."""


class DidWebResolver:
    """Resolves did:web DIDs over HTTPS with SSRF, redirect, time and size limits (see the module docstring)."""

    method = METHOD
    cacheable = True

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 5.0,
        max_bytes: int = 64 * 1024,
        allow_loopback: bool = False,
        allow_private: bool = False,
        scheme: str = "https",
        resolve_host: HostResolver = system_resolve_host,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError("scheme must be 'https' or 'http'")
        if scheme == "http" and not allow_loopback:
            raise ValueError("plain HTTP is only for loopback development: set allow_loopback=True")
        if client is not None and (transport is not None or verify is not True):
            raise ValueError("pass either an httpx client or transport/verify, not both")
        if not (timeout > 0 and max_bytes > 0):  # also refuses NaN
            raise ValueError("timeout and max_bytes must be positive")
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, verify=verify, trust_env=False)
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._allow_loopback = allow_loopback
        self._allow_private = allow_private
        self._scheme = scheme
        self._resolve_host = resolve_host

    def close(self) -> None:
        """Close the HTTP client if this resolver created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> DidWebResolver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def resolve(self, did: Did | str) -> DidDocument:
        """Fetch and validate the DID document of a did:web DID."""
        parsed = parse_did(did) if isinstance(did, str) else did
        host, _, _ = _parse(parsed)
        deadline = time.monotonic() + self._timeout
        scheme = self._scheme if _is_loopback_host(host) else "https"
        url = httpx.URL(did_to_url(parsed, scheme=scheme))
        addresses = self._checked_addresses(host, url.port or (443 if scheme == "https" else 80))
        for address in addresses[:-1]:
            try:
                return DidDocument.from_json(self._fetch(url, host, address, deadline), expected_id=str(parsed))
            except _ConnectFailedError:
                continue  # try the host's next address
        return DidDocument.from_json(self._fetch(url, host, addresses[-1], deadline), expected_id=str(parsed))

    def _checked_addresses(self, host: str, port: int) -> list[str]:
        """Resolve the host and check every address against the allowances; return them in connection order."""
        if _ip_literal(host) is not None:
            addresses = [host]
        elif _is_loopback_host(host) and not self._allow_loopback:
            raise ForbiddenHostError(f"did:web host {host} is a loopback name; allowed only with allow_loopback")
        else:
            try:
                addresses = self._resolve_host(host, port)
            except socket.gaierror as exc:
                if exc.errno in _NO_SUCH_HOST:
                    raise NotFoundError(f"did:web host {host} does not exist (DNS: {exc.strerror})") from exc
                raise ResolutionFailedError(f"cannot look up did:web host {host}: {_reason(exc)}") from exc
            except OSError as exc:
                raise ResolutionFailedError(f"cannot look up did:web host {host}: {_reason(exc)}") from exc
            if not addresses:
                raise NotFoundError(f"did:web host {host} does not resolve to any address")
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError as exc:
                raise ResolutionFailedError(f"looking up {host} gave an invalid address {address!r}") from exc
            kind = address_class(ip)
            if kind == "loopback" and not self._allow_loopback:
                raise ForbiddenHostError(
                    f"did:web host {host} resolves to loopback address {ip}; allowed only with allow_loopback"
                )
            if kind == "non-public" and not self._allow_private:
                raise ForbiddenHostError(
                    f"did:web host {host} resolves to non-public address {ip} (private, link-local, shared, "
                    "reserved or multicast); allowed only with allow_private"
                )
        return addresses

    def _fetch(self, url: httpx.URL, host: str, address: str, deadline: float) -> bytes:
        """GET the document body from one checked address (``foundation.http.fetch`` holds the limits)."""
        try:
            answer = fetch(
                "GET",
                url.copy_with(host=address),
                max_bytes=self._max_bytes,
                timeout=self._timeout,
                deadline=deadline,
                client=self._client,
                headers={"Accept": _ACCEPT, "Host": url.netloc.decode("ascii")},
                extensions={"sni_hostname": host},
                body_statuses={200},
            )
        except FetchTimeoutError as exc:
            raise ResolutionTimeoutError(f"fetching {url} took longer than {self._timeout:g} s") from exc
        except FetchConnectError as exc:
            raise _ConnectFailedError(f"cannot connect to {url.netloc.decode()} at {address}: {exc.message}") from exc
        except FetchTooLargeError as exc:
            raise DidDocumentTooLargeError(f"the document at {url}: {exc.message}") from exc
        except FetchEncodingError as exc:
            raise ResolutionFailedError(f"{url} sent a compressed body; only uncompressed is accepted") from exc
        except FetchError as exc:
            raise ResolutionFailedError(f"fetching {url} failed: {exc.message}") from exc
        status = answer.status_code
        if status in (404, 410):
            raise NotFoundError(f"{url} answered HTTP {status}: no DID document there")
        if 300 <= status < 400:
            raise ResolutionFailedError(f"{url} answered a redirect (HTTP {status}); redirects are not followed")
        if status != 200:
            raise ResolutionFailedError(f"{url} answered HTTP {status}; expected 200 with the DID document")
        return answer.content
