"""The cover proxy's address classification (covers/addresses.py): public unicast only, IPv4 inside IPv6
judged by the IPv4 address, zones dropped, and the image sniffing of covers/formats.py."""

from __future__ import annotations

import pytest

from bookstrack.covers import is_public, refusal_reason, sniff
from bookstrack.covers.addresses import parse_address
from bookstrack.devtools.upstreams.covers import jpeg_bytes, png_bytes


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("100.64.0.1", "not global"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),  # "this network"
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.1", "private"),  # documentation
        ("198.18.0.1", "private"),  # benchmarking
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "private"),
        ("::ffff:127.0.0.1", "loopback (IPv4 inside IPv6)"),
        ("::ffff:169.254.169.254", "link-local (IPv4 inside IPv6)"),
        ("::ffff:10.0.0.1", "private (IPv4 inside IPv6)"),
        ("::127.0.0.1", "loopback (IPv4 inside IPv6)"),  # IPv4-compatible
        ("64:ff9b::7f00:1", "loopback (IPv4 inside IPv6)"),  # NAT64
        ("2002:7f00:1::", "loopback (IPv4 inside IPv6)"),  # 6to4
        ("[::1]", "loopback"),
    ],
)
def test_non_public_addresses_are_refused_with_a_reason(address, reason):
    assert refusal_reason(parse_address(address)) == reason
    assert not is_public(address)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
     "64:ff9b::808:808", "2002:808:808::"],
)
def test_public_unicast_addresses_pass(address):
    assert refusal_reason(parse_address(address)) is None
    assert is_public(address)


@pytest.mark.parametrize("text", ["", "localhost", "999.1.1.1", "1.2.3", "::g"])
def test_text_that_is_no_address_is_not_public(text):
    assert not is_public(text)
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        parse_address(text)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (png_bytes("x"), "image/png"),
        (jpeg_bytes("x"), "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00", "image/avif"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"<html>", None),
        (b"", None),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
    ],
)
def test_images_are_told_by_their_bytes(data, kind):
    assert sniff(data) == kind
