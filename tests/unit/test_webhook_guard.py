"""The webhook's SSRF guard, address by address: whatever a host resolves to must be public,
and an IPv4 address wrapped in IPv6 (mapped, compatible, NAT64, 6to4, Teredo) counts as not."""

from __future__ import annotations

import socket

import pytest

from siyu.reach.channels import webhook
from siyu.reach.channels.webhook import UnsafeTarget, parse_allow, resolve_target

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "0.1.2.3",  # "this network"
    "100.64.0.1",  # CGNAT, shared address space
    "192.0.0.8",  # IETF protocol assignments
    "192.0.2.1",  # documentation
    "192.88.99.1",  # 6to4 relay anycast
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast
    "239.255.255.250",  # SSDP multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    "::1",
    "::",
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "::8.8.8.8",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::808:808",  # NAT64 even of a public address: the gateway decides, not Siyu
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:db8::1",  # documentation
    "3fff::1",  # documentation (RFC 9637)
    "5f00::1",  # SRv6 SIDs
    "100::1",  # discard-only
    "fc00::1",
    "fd12:3456::1",  # unique local
    "fe80::1",  # link-local
    "fec0::1",  # site-local (deprecated)
    "ff02::1",  # multicast
    "ff0e::1",
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "203.0.114.1", "2606:4700:4700::1111", "2a00:1450:4001::1"]


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(webhook.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("address", REFUSED)
def test_refused(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    _resolving_to(monkeypatch, address)
    with pytest.raises(UnsafeTarget, match="not a public address"):
        resolve_target("https://hooks.brand.example/x", set(), [])


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    _resolving_to(monkeypatch, address)
    assert resolve_target("https://hooks.brand.example/x", set(), [])[1] == address


def test_one_private_address_among_public_ones_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolving_to(monkeypatch, "8.8.8.8", "64:ff9b::a00:1")
    with pytest.raises(UnsafeTarget):
        resolve_target("https://hooks.brand.example/x", set(), [])


def test_the_allow_list_still_opens_a_network_or_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolving_to(monkeypatch, "64:ff9b::a00:1")
    hosts, networks = parse_allow("64:ff9b::/96")
    assert resolve_target("https://hooks.brand.example/x", hosts, networks)[1] == "64:ff9b::a00:1"
    hosts, networks = parse_allow("hooks.brand.example")
    assert resolve_target("https://hooks.brand.example/x", hosts, networks)[0] == (
        "hooks.brand.example"
    )


@pytest.mark.parametrize(
    "url", ["http://[::ffff:7f00:1]/x", "http://[64:ff9b::7f00:1]:8080/", "http://0x7f.1/"]
)
def test_literal_addresses_in_the_url(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        resolve_target(url, set(), [])
