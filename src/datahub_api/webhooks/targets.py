"""Where webhooks may go: SSRF protection.

A target must be ``https`` on port 443 and every address its host resolves to must be a public
unicast address: private, loopback, link-local (cloud metadata at 169.254.169.254), multicast,
reserved, shared (100.64/10) and unspecified addresses are refused, and so are IPv6 addresses
that wrap such an IPv4 address (IPv4-mapped and IPv4-compatible, 6to4 ``2002::/16``, NAT64
``64:ff9b::/96`` and ``64:ff9b:1::/48``, Teredo ``2001::/32``): a relay or translator on the way
would deliver them to the internal address. The check runs at registration *and* before every
delivery, after DNS resolution, and the delivery then connects to the address that was checked
(never resolving again), so a DNS answer that changes in between (DNS rebinding) cannot steer a
delivery inward.

``webhook_allowed_hosts`` (``host`` or ``host:port``) exempts targets from the https and
address rules, and ``webhook_allowed_ports`` names ports besides 443 (for local receivers in
development and tests; a receiver on another port needs both).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
MAX_URL_LENGTH = 2000
HTTPS_PORT = 443
_NAT64_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # the well-known prefix (RFC 6052)
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use translation (RFC 8215)
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int
    allow_listed: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class ResolvedTarget:
    target: Target
    address: IPAddress  # the checked address to connect to


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _is_allow_listed(host: str, port: int, allowed_hosts: Iterable[str]) -> bool:
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host or entry == f"{host}:{port}" or entry == f"[{host}]:{port}":
            return True
    return False


def parse_target(
    url: str, allowed_hosts: Sequence[str], allowed_ports: Iterable[int] = ()
) -> Target:
    """Check what can be checked without DNS."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in {"https", "http"} or not host:
        raise TargetRefused("the URL must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry a user name or password")
    if parts.fragment:
        raise TargetRefused("the URL must not have a #fragment")
    port = port or (443 if scheme == "https" else 80)
    allow_listed = _is_allow_listed(host, port, allowed_hosts)
    if scheme != "https" and not allow_listed:
        raise TargetRefused("webhooks are delivered over https only")
    if port != HTTPS_PORT and port not in allowed_ports:
        raise TargetRefused(f"webhooks are delivered to port {HTTPS_PORT} only, not {port}")
    return Target(url=url, scheme=scheme, host=host, port=port, allow_listed=allow_listed)


def wrapped_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries for transition mechanisms (and so reaches)."""
    wrapped: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        wrapped.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        wrapped.append(address.sixtofour)
    if address.teredo is not None:
        wrapped.extend(address.teredo)  # (server, client)
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        wrapped.append(low32)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # ::a.b.c.d (not :: or ::1)
        wrapped.append(low32)
    return wrapped


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be a webhook target, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in wrapped_ipv4(address):
            reason = refusal_reason(inner)
            if reason is not None:
                return f"{reason} wrapped in {address}"
    checks = (
        (address.is_loopback, "a loopback"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
        (address.is_unspecified, "an unspecified"),
        (address.is_reserved, "a reserved"),
        (address.is_private, "a private"),
        (not address.is_global, "a non-public"),
    )
    for refused, kind in checks:
        if refused:
            return f"{kind} address ({address})"
    return None


async def resolve_target(
    url: str,
    allowed_hosts: Sequence[str],
    resolver: Resolver = system_resolver,
    allowed_ports: Iterable[int] = (),
) -> ResolvedTarget:
    """Parse, resolve and check ``url``; the answer names the address to connect to."""
    target = parse_target(url, allowed_hosts, tuple(allowed_ports))
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = await resolver(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"the host {target.host} does not resolve ({exc})") from None
        if not addresses:
            raise TargetRefused(f"the host {target.host} does not resolve")
    if not target.allow_listed:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise TargetRefused(f"the host {target.host} resolves to {reason}")
    return ResolvedTarget(target=target, address=addresses[0])
