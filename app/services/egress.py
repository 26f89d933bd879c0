"""Where outbound sockets may go: the egress policy every external call is held to.

`EgressPolicy` decides, from the address a socket is about to connect to (not from the name
saved in Settings), whether the connection is allowed, so DNS rebinding and a URL stored
before the rules were on both fail safely. `PolicyAdapter` puts it into urllib3's connection
classes; app/services/http.py mounts that adapter on every session it builds.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

NAT64 = ipaddress.ip_network("64:ff9b::/96")

class EgressRefused(ValueError):
    """A connection the policy forbids. Not an OSError, so urllib3 never retries it."""


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for loopback, private, link-local, CGNAT, multicast, reserved and unspecified
    addresses, also when carried inside IPv6 (IPv4-mapped, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            return refused_address(embedded)
    return (not address.is_global or address.is_multicast or address.is_reserved
            or address.is_unspecified or address.is_loopback or address.is_link_local)


def system_resolver(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class EgressPolicy:
    """Where outbound sockets may go. Development allows everything (the sandboxes are on
    127.0.0.1); production refuses internal addresses and plain http.

    `allow_hosts` names internal hosts an operator allows explicitly. `resolver` is
    pluggable so tests can make a name resolve to loopback after it was saved.
    """

    allow_private: bool = True
    require_https: bool = False
    allow_hosts: frozenset[str] = frozenset()
    resolver: Callable[[str, int], list[str]] = field(default=system_resolver, compare=False)

    @classmethod
    def from_config(cls, config, resolver: Callable[[str, int], list[str]] | None = None) -> EgressPolicy:
        hosts = config.get("OUTBOUND_ALLOW_HOSTS") or ()
        if isinstance(hosts, str):
            hosts = hosts.split(",")
        allow_private, require_https = config.get("ALLOW_PRIVATE_CANVAS_URLS"), config.get("REQUIRE_HTTPS_CANVAS_URLS")
        return cls(allow_private=True if allow_private is None else bool(allow_private),
                   require_https=bool(require_https),
                   allow_hosts=frozenset(h.strip().lower() for h in hosts if h.strip()),
                   resolver=resolver or system_resolver)

    @property
    def checks_addresses(self) -> bool:
        return not self.allow_private

    def check_url(self, url: str) -> None:
        """The scheme rule for a URL about to be called (addresses are checked at connect)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise EgressRefused(f"only http(s) addresses can be called, not {parts.scheme or 'this'}")
        if self.require_https and parts.scheme != "https" and (parts.hostname or "") not in self.allow_hosts:
            raise EgressRefused("the address must use https://")

    def connect(self, host: str, port: int, timeout, source_address, socket_options) -> socket.socket:
        """A socket to the first address of `host` that the policy allows."""
        trusted = host.lower() in self.allow_hosts
        allowed = []
        for text in self.resolver(host, port):
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                continue
            if trusted or not refused_address(address):
                allowed.append(str(address))
        if not allowed:
            raise EgressRefused(f"{host} is on a private or local network, which is not allowed here")
        error: OSError | None = None
        for address in allowed:
            try:
                return create_connection((address, port), timeout, source_address=source_address,
                                         socket_options=socket_options)
            except OSError as exc:
                error = exc
        raise error  # type: ignore[misc]


class _PolicyConnection:
    """Mixed into urllib3's connection classes: the socket goes only where the policy allows."""

    egress_policy: EgressPolicy

    def _new_conn(self) -> socket.socket:
        try:
            return self.egress_policy.connect(self.host, self.port, self.timeout, self.source_address,
                                              self.socket_options)
        except socket.gaierror as exc:
            raise NewConnectionError(self, f"Failed to resolve {self.host}: {exc}") from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except EgressRefused:
            raise
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class PolicyAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools connect through an EgressPolicy (TLS still verifies the name)."""

    def __init__(self, policy: EgressPolicy, **kwargs):
        self.egress_policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        policy = getattr(self, "egress_policy", None)
        if policy is None or not policy.checks_addresses:
            return
        http_conn = type("PolicyHTTPConnection", (_PolicyConnection, HTTPConnection), {"egress_policy": policy})
        https_conn = type("PolicyHTTPSConnection", (_PolicyConnection, HTTPSConnection), {"egress_policy": policy})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PolicyHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("PolicyHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }

    def __setstate__(self, state):
        self.egress_policy = state.get("egress_policy")
        super().__setstate__(state)


def app_setting(name: str, default=None):
    """A setting of the running app (its config), else of the configured environment's class."""
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            return current_app.config.get(name, default)
    except ImportError:  # pragma: no cover - flask is a dependency
        pass
    from config import config_from_env

    return getattr(config_from_env(), name, default)


def default_policy() -> EgressPolicy:
    """The egress policy of the running app, else of the configured environment."""
    return EgressPolicy.from_config({name: app_setting(name) for name in
                                     ("ALLOW_PRIVATE_CANVAS_URLS", "REQUIRE_HTTPS_CANVAS_URLS",
                                      "OUTBOUND_ALLOW_HOSTS")})


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
