"""Who the client is: the socket peer, or what a configured trusted proxy says it is.

``X-Forwarded-For`` and ``CF-Connecting-IP`` are believed only when the socket peer is one of the
configured trusted proxies (addresses or CIDR networks); from anyone else they are ignored, so a
client cannot pick its own rate-limit bucket. An IPv4 peer seen through a dual-stack IPv6 socket
(``::ffff:10.0.0.5``) is the IPv4 address it stands for, both for matching and as the answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["ClientIpResolver"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIpResolver:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted: list[Network] = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def is_trusted(self, address: str) -> bool:
        if not self._trusted:
            return False
        try:
            ip = _unmapped(ipaddress.ip_address(address))
        except ValueError:
            return False
        return any(ip in net for net in self._trusted)

    def resolve(self, peer: str | None, headers: dict[str, str]) -> str:
        """The client's address. ``headers`` maps lower-case names to values."""
        peer = _plain(peer) if peer else "unknown"
        if not self.is_trusted(peer):
            return peer
        cf = headers.get("cf-connecting-ip", "").strip()
        if cf and _valid(cf):
            return cf
        forwarded = headers.get("x-forwarded-for", "")
        # Walk from the right: the nearest hop that is not one of our proxies is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not _valid(hop):
                break
            if not self.is_trusted(hop):
                return hop
        return peer


def _unmapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _plain(address: str) -> str:
    """``::ffff:a.b.c.d`` as ``a.b.c.d``; anything else unchanged."""
    if address.startswith("::ffff:") or address.startswith("::FFFF:"):
        try:
            return str(_unmapped(ipaddress.ip_address(address)))
        except ValueError:
            return address
    return address


def _valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
