"""Where a webhook may be sent (SSRF): a receiver's URL is checked when it is saved, and the
addresses its host resolves to are checked again at every delivery, just before Sen connects
to one of those same addresses (so a name that resolves elsewhere between the check and the
connection, DNS rebinding, cannot slip past). Loopback, private, shared (CGNAT), link-local,
multicast, reserved and cloud-metadata addresses are refused unless SEN_WEBHOOK_ALLOW_PRIVATE
is on (tests and on-premise installs, whose receivers live on their own network)."""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text: the loop's getaddrinfo in production,
# a stub in tests (this machine may reach only loopback).
Resolver = Callable[[str, int], Awaitable[list[str]]]

_METADATA = {
    ipaddress.ip_address("169.254.169.254"): "a cloud metadata address",
    ipaddress.ip_address("169.254.170.2"): "a cloud metadata address",
    ipaddress.ip_address("100.100.100.200"): "a cloud metadata address",
    ipaddress.ip_address("fd00:ec2::254"): "a cloud metadata address",
}
_REFUSED = [
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("100::/64", "a discard address"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "a private (ULA) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches (mapped, compatible, NAT64, 6to4,
    Teredo): `::ffff:127.0.0.1` is loopback however it is written."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _V4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to `address` (None: it may): what kind of address it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
        inner = _embedded_v4(address)
        if inner is not None:
            return refusal(inner)
    if address in _METADATA:
        return _METADATA[address]
    for network, reason in _REFUSED:
        if address in network:
            return reason
    if not address.is_global:
        return "not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_errors(url: str, *, allow_private: bool) -> list[str]:
    """What is wrong with a receiver's URL as saved: http(s) only, a host, no credentials in
    it; an address (or `localhost`) it may not be sent to, unless private ones are allowed.
    Names are resolved at each delivery, not here: where they point may change."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is no number raises here)
        httpx.URL(url)  # what the worker will send to
    except (ValueError, httpx.InvalidURL) as error:
        return [f"not a URL ({error})"]
    if parts.scheme not in ("http", "https"):
        return ["an http:// or https:// URL"]
    host = parts.hostname
    if not host:
        return ["a URL with a host"]
    if parts.username is not None or parts.password is not None:
        return ["no user or password in the URL: the signature authenticates Sen"]
    if allow_private:
        return []
    literal = literal_address(host)
    if literal is not None:
        reason = refusal(literal)
        if reason is not None:
            return [f"{host} is {reason}: set SEN_WEBHOOK_ALLOW_PRIVATE=true to allow it"]
    elif host == "localhost" or host.endswith(".localhost"):
        return [f"{host} is a loopback address: set SEN_WEBHOOK_ALLOW_PRIVATE=true to allow it"]
    return []


class AddressRefused(Exception):
    """The receiver's host is, or resolves to, an address webhooks may not go to."""


class HostUnresolved(Exception):
    """The receiver's host does not resolve (now)."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_addresses(
    host: str, port: int, *, allow_private: bool, resolve: Resolver = system_resolver
) -> list[IPAddress]:
    """The addresses to connect to for `host`, each one checked: a host that resolves to any
    refused address is refused whole (a name listing a public address beside a private one
    must not get through on a retry that picks the other)."""
    literal = literal_address(host)
    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        try:
            resolved = await resolve(host, port)
        except (OSError, UnicodeError) as error:
            raise HostUnresolved(f"{host} does not resolve ({error})") from error
        found = []
        for text in resolved:
            address = ipaddress.ip_address(text.split("%")[0])
            if address not in found:
                found.append(address)
        if not found:
            raise HostUnresolved(f"{host} does not resolve")
    if not allow_private:
        for address in found:
            reason = refusal(address)
            if reason is not None:
                named = host if literal is not None else f"{host} resolves to {address}, which"
                raise AddressRefused(f"{named} is {reason}")
    return found
