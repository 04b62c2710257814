"""Who the client is: the socket peer, unless a configured trusted proxy says otherwise (API.md §5)."""

from __future__ import annotations

import pytest

from bookstrack.web.client_ip import ClientIpResolver

PROXY = "10.0.0.5"


def xff(value: str) -> dict[str, str]:
    return {"x-forwarded-for": value}


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers():
    resolver = ClientIpResolver([])
    headers = {"x-forwarded-for": "203.0.113.7", "cf-connecting-ip": "198.51.100.1"}
    assert resolver.resolve("192.0.2.10", headers) == "192.0.2.10"
    assert not resolver.is_trusted("192.0.2.10")


def test_headers_from_an_untrusted_peer_are_ignored():
    resolver = ClientIpResolver([PROXY])
    assert resolver.resolve("192.0.2.10", xff("203.0.113.7")) == "192.0.2.10"
    assert resolver.resolve("192.0.2.10", {"cf-connecting-ip": "203.0.113.7"}) == "192.0.2.10"


def test_a_trusted_proxy_names_the_client_in_x_forwarded_for():
    resolver = ClientIpResolver([PROXY])
    assert resolver.resolve(PROXY, xff("203.0.113.7")) == "203.0.113.7"


@pytest.mark.parametrize(
    ("trusted", "peer", "expected"),
    [
        (["10.0.0.0/8"], "10.200.3.4", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["10.0.0.1/8"], "10.9.9.9", True),  # host bits are tolerated (strict=False)
        (["192.168.0.0/16", "127.0.0.1"], "127.0.0.1", True),
        (["192.168.0.0/16", "127.0.0.1"], "127.0.0.2", False),
        (["::1"], "::1", True),
        (["2001:db8::/32"], "2001:db8::5", True),
        (["2001:db8::/32"], "10.0.0.1", False),
        (["10.0.0.0/8"], "not-an-ip", False),
    ],
)
def test_trusted_networks_are_cidr(trusted, peer, expected):
    assert ClientIpResolver(trusted).is_trusted(peer) is expected


def test_the_right_most_untrusted_hop_is_the_client():
    resolver = ClientIpResolver(["10.0.0.0/8"])
    # client-supplied entries on the left cannot choose the bucket: the nearest untrusted hop wins
    assert resolver.resolve(PROXY, xff("1.1.1.1, 203.0.113.7")) == "203.0.113.7"
    # our own proxies on the right are skipped
    assert resolver.resolve(PROXY, xff("203.0.113.7, 10.0.0.9, 10.0.0.8")) == "203.0.113.7"
    assert resolver.resolve(PROXY, xff(" 198.51.100.2 ,203.0.113.7 , 10.1.1.1 ")) == "203.0.113.7"


def test_when_every_hop_is_trusted_the_peer_is_the_client():
    resolver = ClientIpResolver(["10.0.0.0/8"])
    assert resolver.resolve(PROXY, xff("10.0.0.9, 10.0.0.8")) == PROXY
    assert resolver.resolve(PROXY, xff("")) == PROXY
    assert resolver.resolve(PROXY, {}) == PROXY


@pytest.mark.parametrize(
    "forwarded",
    ["garbage", "203.0.113.7, garbage", "unknown", "203.0.113.7:443", "<script>", "999.1.1.1", ", ,"],
)
def test_garbage_in_x_forwarded_for_is_not_believed(forwarded):
    resolver = ClientIpResolver([PROXY])
    result = resolver.resolve(PROXY, xff(forwarded))
    # never the garbage itself; a hop left of garbage is not believed either
    assert result == PROXY


def test_garbage_left_of_a_valid_hop_does_not_matter():
    resolver = ClientIpResolver([PROXY])
    assert resolver.resolve(PROXY, xff("garbage, 203.0.113.7")) == "203.0.113.7"


def test_cf_connecting_ip_from_a_trusted_proxy_wins_over_x_forwarded_for():
    resolver = ClientIpResolver([PROXY])
    headers = {"cf-connecting-ip": "198.51.100.1", "x-forwarded-for": "203.0.113.7"}
    assert resolver.resolve(PROXY, headers) == "198.51.100.1"
    assert resolver.resolve(PROXY, {"cf-connecting-ip": " 2001:db8::7 "}) == "2001:db8::7"


def test_garbage_cf_connecting_ip_falls_back_to_x_forwarded_for_then_the_peer():
    resolver = ClientIpResolver([PROXY])
    assert resolver.resolve(PROXY, {"cf-connecting-ip": "nope", "x-forwarded-for": "203.0.113.7"}) == "203.0.113.7"
    assert resolver.resolve(PROXY, {"cf-connecting-ip": "nope"}) == PROXY


def test_a_missing_peer_is_unknown():
    resolver = ClientIpResolver([PROXY])
    assert resolver.resolve(None, xff("203.0.113.7")) == "unknown"


def test_an_invalid_trusted_entry_is_refused():
    with pytest.raises(ValueError, match="my-proxy"):
        ClientIpResolver(["my-proxy"])


def test_an_ipv4_peer_on_a_dual_stack_socket_is_its_ipv4_address():
    resolver = ClientIpResolver(["10.0.0.0/8"])
    assert resolver.is_trusted("::ffff:10.0.0.5")
    assert resolver.resolve("::ffff:10.0.0.5", xff("203.0.113.7")) == "203.0.113.7"
    # and one bucket per client, however its address reached us
    assert ClientIpResolver([]).resolve("::ffff:192.0.2.10", {}) == "192.0.2.10"
    assert ClientIpResolver([]).resolve("2001:db8::1", {}) == "2001:db8::1"
