"""The did:web method: DID ⇄ HTTPS URL, did.json documents for issuers, and a guarded resolver.

The resolver fetches ``https://<host>[:port]/<path>/did.json`` (``/.well-known/did.json`` without a path) and is
safe to point at DIDs taken from untrusted input:

- HTTPS only; plain HTTP only to loopback hosts and only with ``allow_loopback`` (explicit development setting);
- the host name is resolved first and every address must be public: loopback needs ``allow_loopback``, private,
  link-local, shared (CGNAT), reserved, multicast and unspecified addresses need ``allow_private``;
- the connection goes to the address that was checked (the URL carries the IP, TLS SNI and certificate checks and
  the Host header carry the name), so a DNS answer that changes between check and connect cannot redirect it;
- redirects are not followed; a total time limit and a size limit apply; the document's ``id`` must be the DID.
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

METHOD: Final = "web"
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_FRAGMENT = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_ACCEPT: Final = "application/did+json, application/did+ld+json;q=0.9, application/json;q=0.8"

HostResolver = Callable[[str, int], list[str]]


def _parse(did: str | Did) -> tuple[str, int | None, list[str]]:
    """Split a did:web DID into (host, port, path segments), validating each part."""
    parsed = parse_did(did) if isinstance(did, str) else did
    if parsed.method != METHOD:
        raise InvalidDidError(f"not a did:web DID (method {parsed.method!r})")
    first, *segments = parsed.method_specific_id.split(":")
    host_part, sep, port_text = unquote(first).partition(":")
    host = host_part.lower()
    if not host or "@" in host or not all(_LABEL.fullmatch(label) for label in host.split(".")) or len(host) > 253:
        raise InvalidDidError(f"did:web host {host_part!r} is not a valid domain name or IPv4 address")
    port: int | None = None
    if sep:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidDidError(f"did:web port {port_text!r} must be a number from 1 to 65535")
        port = int(port_text)
    path = []
    for segment in segments:
        decoded = unquote(segment)
        if not segment or decoded in (".", "..") or "/" in decoded or "?" in decoded or "#" in decoded:
            raise InvalidDidError(f"did:web path segment {segment!r} is empty or not allowed")
        path.append(segment)
    return host, port, path


def did_to_url(did: str | Did, *, scheme: str = "https") -> str:
    """The URL of a did:web DID's document, per the did:web specification."""
    host, port, path = _parse(did)
    authority = host if port is None else f"{host}:{port}"
    suffix = "/.well-known/did.json" if not path else "/" + "/".join(path) + "/did.json"
    return f"{scheme}://{authority}{suffix}"


def web_did(host: str, port: int | None = None, path: Sequence[str] = ()) -> str:
    """Build a did:web DID from a host, optional port and optional path segments."""
    msid = host.lower() if port is None else f"{host.lower()}%3A{port}"
    did = ":".join(["did", METHOD, msid, *path])
    _parse(did)
    return did


def web_document(did: str, keys: Sequence[tuple[str, PublicKey]]) -> dict[str, Any]:
    """The did.json for a did:web DID publishing the given (fragment, public key) pairs as Multikey methods."""
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


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


class DidWebResolver:
    """Resolves did:web DIDs over HTTPS with SSRF, time and size limits."""

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
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, verify=verify, follow_redirects=False)
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

    def _check_address(self, host: str, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback:
            if not self._allow_loopback:
                raise ForbiddenHostError(
                    f"did:web host {host} is a loopback address ({ip}); allowed only in development (allow_loopback)"
                )
            return
        if (not ip.is_global or ip.is_multicast) and not self._allow_private:
            raise ForbiddenHostError(
                f"did:web host {host} resolves to a non-public address ({ip}); refusing to connect"
            )

    def _pin(self, host: str, port: int) -> str:
        """Resolve and check the host; return the address to connect to."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [host]
        else:
            if _is_loopback_name(host) and not self._allow_loopback:
                raise ForbiddenHostError(f"did:web host {host} is a loopback name; allowed only in development")
            try:
                addresses = self._resolve_host(host, port)
            except OSError as exc:
                raise NotFoundError(f"did:web host {host} does not resolve") from exc
            if not addresses:
                raise NotFoundError(f"did:web host {host} does not resolve")
        for address in addresses:
            self._check_address(host, address)
        return addresses[0]

    def resolve(self, did: Did) -> DidDocument:
        """Fetch and validate the DID document of a did:web DID."""
        host, _port, _ = _parse(did)
        scheme = self._scheme
        if scheme == "http" and not (_is_loopback_name(host) or host.startswith("127.")):
            scheme = "https"  # plain HTTP never leaves the machine
        url = httpx.URL(did_to_url(did, scheme=scheme))
        address = self._pin(host, url.port or (443 if scheme == "https" else 80))
        pinned = url.copy_with(host=address)
        headers = {"Accept": _ACCEPT, "Host": url.netloc.decode("ascii")}
        deadline = time.monotonic() + self._timeout
        try:
            with self._client.stream(
                "GET",
                pinned,
                headers=headers,
                timeout=self._timeout,
                extensions={"sni_hostname": host},
                follow_redirects=False,
            ) as response:
                body = self._read(response, str(url), deadline)
        except httpx.TimeoutException as exc:
            raise ResolutionTimeoutError(f"fetching {url} took longer than {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ResolutionFailedError(f"cannot fetch {url}: {exc}") from exc
        return DidDocument.from_json(body, expected_id=str(did))

    def _read(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        status = response.status_code
        if status in (404, 410):
            raise NotFoundError(f"{url} answered HTTP {status}: no DID document there")
        if 300 <= status < 400:
            raise ResolutionFailedError(f"{url} answered a redirect (HTTP {status}); redirects are not followed")
        if status != 200:
            raise ResolutionFailedError(f"{url} answered HTTP {status}")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise DidDocumentTooLargeError(f"{url} is {declared} bytes; the limit is {self._max_bytes}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise DidDocumentTooLargeError(f"{url} is larger than the limit of {self._max_bytes} bytes")
            if time.monotonic() > deadline:
                raise ResolutionTimeoutError(f"fetching {url} took longer than {self._timeout:g} s")
            chunks.append(chunk)
        return b"".join(chunks)
