"""Checking a Canvas base URL before the server ever sends a token to it.

The URL comes from a user and the server will call it with that user's token, so it
is checked like any server-side request target (SSRF): http(s) only, no credentials
in the URL, https required when configured, and private, loopback, link-local and
reserved addresses refused unless the deployment allows them (the demo and the tests
talk to a sandbox on 127.0.0.1) or names the host in OUTBOUND_ALLOW_HOSTS.

This is the early, friendly refusal at save time. The rule that holds is the client's
(app/services/http.py): it checks the address each socket connects to, on every call,
so a name that resolves elsewhere later, or a URL saved under older rules, still fails.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit, urlunsplit


# "school.instructure.com", "canvas.school.edu:8443/x": a host with no scheme at all.
BARE_HOST = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?(/\S*)?$")


class CanvasURLError(ValueError):
    """The URL cannot be used; str() is a plain sentence for the form."""


def _resolve(host: str, name: str = "Canvas") -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CanvasURLError(f"The host {host} could not be found. Check the {name} address.") from exc
    addresses = []
    for info in infos:
        text = info[4][0].split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(text))
    return addresses


def _is_private(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def normalize_canvas_url(raw: str, *, require_https: bool, allow_private: bool, resolve=_resolve,
                         allow_hosts: frozenset[str] = frozenset()) -> str:
    """Return the base URL as ``scheme://host[:port][/path]`` or raise CanvasURLError."""
    scheme, netloc, path = _checked(raw, name="Canvas", example="https://school.instructure.com",
                                    require_https=require_https, allow_private=allow_private, resolve=resolve,
                                    allow_hosts=allow_hosts)
    # People paste the API root or a page; keep the instance root.
    for suffix in ("/api/v1",):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if path in ("/login", "/courses", "/dashboard"):
        path = ""
    return urlunsplit((scheme, netloc, path, "", ""))


def normalize_service_url(raw: str, *, name: str, example: str, require_https: bool, allow_private: bool,
                          resolve=_resolve, allow_hosts: frozenset[str] = frozenset()) -> str:
    """The same checks for another system's API address (Google Classroom, Schoology); the path is kept."""
    scheme, netloc, path = _checked(raw, name=name, example=example, require_https=require_https,
                                    allow_private=allow_private, resolve=resolve, allow_hosts=allow_hosts)
    return urlunsplit((scheme, netloc, path, "", ""))


def _checked(raw: str, *, name: str, example: str, require_https: bool, allow_private: bool,
             resolve, allow_hosts: frozenset[str] = frozenset()) -> tuple[str, str, str]:
    text = (raw or "").strip()
    if not text:
        raise CanvasURLError(f"Enter your {name} address, for example {example}.")
    if BARE_HOST.match(text):
        text = "https://" + text  # what anyone typing only the host means
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise CanvasURLError("That is not a valid web address.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CanvasURLError(f"The {name} address must start with https:// (or http://).")
    host = (parts.hostname or "").lower()
    trusted = host in allow_hosts  # an internal host the operator named
    if require_https and scheme != "https" and not trusted:
        raise CanvasURLError(f"The {name} address must use https://.")
    if parts.username or parts.password:
        raise CanvasURLError(f"Leave user names and passwords out of the {name} address.")
    if not host:
        raise CanvasURLError("That is not a valid web address.")
    if not allow_private and not trusted:
        addresses = resolve(host) if resolve is not _resolve else _resolve(host, name)
        if not addresses or any(_is_private(a) for a in addresses):
            raise CanvasURLError("That address points to a private or local network, which is not allowed here.")
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    return scheme, netloc, parts.path.rstrip("/")
