"""Which IP addresses the cover proxy may connect to: public unicast only.

Owns one decision, ``refusal_reason(address)``: ``None`` for a public unicast address, else a short reason
("loopback", "private", "link-local", ...). IPv6 forms that carry an IPv4 address (IPv4-mapped
``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged
by the IPv4 address they reach, so ``::ffff:127.0.0.1`` is loopback, not "global".

Why not ``ipaddress``'s ``is_global`` alone: it calls multicast global, and its tables change between
Python patch releases; the explicit checks below come first, and ``is_global`` is the final catch-all
(carrier-grade NAT ``100.64.0.0/10``, documentation and benchmarking ranges). Pure: no I/O.
"""

from __future__ import annotations

import ipaddress

__all__ = ["Address", "parse_address", "refusal_reason", "is_public"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def parse_address(text: str) -> Address:
    """``text`` as an address (an IPv6 zone such as ``%eth0`` is dropped); ``ValueError`` if it is none."""
    return ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: Address) -> str | None:
    """Why the proxy must not connect to ``address``, or ``None`` when it is public unicast."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal_reason(embedded)
            return None if reason is None else f"{reason} (IPv4 inside IPv6)"
        if address.is_site_local:
            return "site-local"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not global"
    return None


def is_public(address: Address | str) -> bool:
    """True when the proxy may connect to ``address`` (a string that is no address is not public)."""
    try:
        parsed = parse_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    return refusal_reason(parsed) is None
