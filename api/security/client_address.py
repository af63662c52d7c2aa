"""The reader's address: the socket peer, or ``X-Forwarded-For`` only behind trusted proxies.

A client can put anything in ``X-Forwarded-For``. Each proxy appends the address it received the
request from, so only the entries appended by our own proxies can be believed: the address is the
right-most entry that is not one of them. When the socket peer is not a trusted proxy the header is
ignored altogether, so a client rotating it keeps its one address (and its one rate limit).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import HTTPConnection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_FOR = "x-forwarded-for"
UNKNOWN = "unknown"
IPV6_PREFIX = 64  # one subscriber usually gets a whole /64: its addresses share one limit


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse addresses and CIDRs (``10.0.0.0/8``, ``127.0.0.1``); a bad entry raises ValueError."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from exc
    return tuple(networks)


def _parse_ip(value: str) -> IPAddress | None:
    """An address from a peer or a forwarded entry; tolerates ``[v6]:port`` and ``v4:port``."""
    text = value.strip().strip('"')
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class ClientAddressResolver:
    """Find the client's address given the proxies this service sits behind."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.trusted = parse_networks(trusted_proxies)

    def _is_trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.trusted)

    def resolve(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """The client's address.

        Args:
            peer: the socket peer's host (``None`` when the server does not know it).
            forwarded_for: the values of every ``X-Forwarded-For`` header, in order.
        """
        if not peer:
            return UNKNOWN
        address = _parse_ip(peer)
        if address is None or not self._is_trusted(address):
            return str(address) if address is not None else peer
        hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            hop_address = _parse_ip(hop)
            if hop_address is None:
                break  # a trusted proxy never writes this: keep the last address it vouched for
            address = hop_address
            if not self._is_trusted(address):
                break
        return str(address)

    def for_connection(self, conn: HTTPConnection) -> str:
        """The client's address for a request."""
        peer = conn.client.host if conn.client else None
        return self.resolve(peer, conn.headers.getlist(FORWARDED_FOR))


def limit_key(address: str) -> str:
    """The key one client's requests are counted under: the address, or its /64 for IPv6."""
    parsed = _parse_ip(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address
