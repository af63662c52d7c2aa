"""The address a request is counted under: the socket peer, or X-Forwarded-For behind proxies."""

from __future__ import annotations

import pytest

from api.security.client_address import ClientAddressResolver, limit_key, parse_networks

PROXIES = ["10.0.0.0/8", "192.168.1.5"]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No trusted proxy in front: the header is the client's own words, ignored.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        ("203.0.113.9", [], "203.0.113.9"),
        # Behind a trusted proxy: the right-most address it did not append itself.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["192.0.2.66, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["192.0.2.66, 198.51.100.1, 192.168.1.5"], "198.51.100.1"),
        ("10.0.0.2", ["192.0.2.66", "198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        # Every hop trusted: the left-most one.
        ("10.0.0.2", ["10.0.0.7, 192.168.1.5"], "10.0.0.7"),
        # The proxy sent no header: the proxy itself.
        ("10.0.0.2", [], "10.0.0.2"),
        # A hop that is not an address: the last address a trusted proxy vouched for.
        ("10.0.0.2", ["198.51.100.1, not-an-ip"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, unknown, 10.0.0.3"], "10.0.0.3"),
        # Ports and brackets some proxies add.
        ("10.0.0.2", ["198.51.100.1:51234"], "198.51.100.1"),
        ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::1"),
        # IPv4 mapped into IPv6 is the IPv4 address.
        ("::ffff:203.0.113.9", [], "203.0.113.9"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # Not an IP at all (a test client): as given.
        ("testclient", ["198.51.100.1"], "testclient"),
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_resolve(peer: str | None, forwarded: list[str], expected: str):
    assert ClientAddressResolver(PROXIES).resolve(peer, forwarded) == expected


def test_a_rotating_header_from_an_untrusted_peer_never_changes_the_address():
    resolver = ClientAddressResolver(PROXIES)
    seen = {resolver.resolve("203.0.113.9", [f"198.51.100.{i}, 10.0.0.{i}"]) for i in range(50)}
    assert seen == {"203.0.113.9"}


def test_without_trusted_proxies_the_header_is_always_ignored():
    assert ClientAddressResolver().resolve("127.0.0.1", ["198.51.100.1"]) == "127.0.0.1"


def test_ipv6_clients_are_counted_per_64():
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::9")
    assert limit_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("203.0.113.9") == "203.0.113.9"
    assert limit_key("testclient") == "testclient"


def test_a_bad_proxy_entry_is_refused():
    assert len(parse_networks(["10.0.0.0/8", "::1", "192.168.1.5"])) == 3
    with pytest.raises(ValueError, match=r"'proxy\.internal' is not an IP address or CIDR"):
        parse_networks(["proxy.internal"])
