"""Checking a Canvas base URL before the server ever sends a token to it.

The URL comes from a user and the server will call it with that user's token, so it
is checked like any server-side request target (SSRF): http(s) only, no credentials
in the URL, https required when configured, and private, loopback, link-local and
reserved addresses refused unless the deployment allows them (the demo and the tests
talk to a sandbox on 127.0.0.1).
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit


class CanvasURLError(ValueError):
    """The URL cannot be used; str() is a plain sentence for the form."""


def _resolve(host: str) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CanvasURLError(f"The host {host} could not be found. Check the Canvas address.") from exc
    addresses = []
    for info in infos:
        text = info[4][0].split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(text))
    return addresses


def _is_private(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def normalize_canvas_url(raw: str, *, require_https: bool, allow_private: bool, resolve=_resolve) -> str:
    """Return the base URL as ``scheme://host[:port][/path]`` or raise CanvasURLError."""
    text = (raw or "").strip()
    if not text:
        raise CanvasURLError("Enter your Canvas address, for example https://school.instructure.com.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise CanvasURLError("That is not a valid web address.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CanvasURLError("The Canvas address must start with https:// (or http://).")
    if require_https and scheme != "https":
        raise CanvasURLError("The Canvas address must use https://.")
    if parts.username or parts.password:
        raise CanvasURLError("Leave user names and passwords out of the Canvas address.")
    host = (parts.hostname or "").lower()
    if not host:
        raise CanvasURLError("That is not a valid web address.")
    if not allow_private:
        addresses = resolve(host)
        if not addresses or any(_is_private(a) for a in addresses):
            raise CanvasURLError("That address points to a private or local network, which is not allowed here.")
    path = parts.path.rstrip("/")
    # People paste the API root or a page; keep the instance root.
    for suffix in ("/api/v1",):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if path in ("/login", "/courses", "/dashboard"):
        path = ""
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, path, "", ""))
