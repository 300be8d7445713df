"""Outbound webhooks: a campaign's message handed to the brand's own system (an app push
service, a CDP) as signed JSON.

- The body is signed: ``X-Siyu-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`` under
  a key derived from ``SIYU_SECRET_KEY`` (``siyu campaigns webhook-key`` prints it), with the
  timestamp in ``X-Siyu-Timestamp``; ``X-Siyu-Id`` is the ledger row, the receiver's
  idempotency key.
- SSRF: the host is resolved first and every address it has must be public (``is_public``:
  no private, loopback, multicast, CGNAT or reserved space, and no IPv4 address wrapped in
  IPv6 by mapping, NAT64 or 6to4), unless the host or
  its network is allow-listed (``SIYU_WEBHOOK_ALLOW``); the request then goes to the address
  that was checked (the Host header and TLS name stay the host's), so DNS cannot be switched
  between the check and the call.
- 2xx sent; 408, 429 and 5xx retried (Retry-After honoured); other 4xx failed; a timeout or a
  connection lost after the request left is ambiguous, for an operator to settle.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from siyu import clock
from siyu.config import Settings
from siyu.reach.channels.base import Delivery, Outgoing, SendResult
from siyu.untrusted import BIG_ID_MAX, whole_number

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_WAIT, MOST_WAIT = 60.0, 86_400.0  # a receiver's Retry-After: when unreadable, at most

# What Python's ``is_global`` (3.11) still calls global, yet leads somewhere a webhook must not
# go: addresses that carry an IPv4 address inside an IPv6 one (mapped, compatible, NAT64 and
# 6to4 — a gateway on the path unwraps them, private ones included; Teredo is already refused),
# multicast, "this network", shared (CGNAT), benchmarking, IETF and reserved space, broadcast,
# deprecated site-local, documentation and SRv6 prefixes.
NOT_PUBLIC: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may call this address without it being allow-listed."""
    return ip.is_global and not ip.is_multicast and not any(ip in n for n in NOT_PUBLIC)


class UnsafeTarget(ValueError):
    """A webhook address Siyu will not call; the message says why."""


def signing_key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key_bytes(), b"siyu-webhook-signing", "sha256").digest()


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def parse_allow(text: str) -> tuple[set[str], list[Network]]:
    hosts: set[str] = set()
    networks: list[Network] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.lower())
    return hosts, networks


def resolve_target(
    url: str, allow_hosts: set[str], allow_networks: list[Network]
) -> tuple[str, str, int]:
    """(host, checked address, port) for a URL Siyu may call; raises UnsafeTarget."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("a webhook is an http:// or https:// address")
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTarget(f"{host} does not resolve: {exc}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    for a in addresses:
        ip = ipaddress.ip_address(a)
        allowed = host in allow_hosts or any(ip in n for n in allow_networks)
        if not allowed and not is_public(ip):
            raise UnsafeTarget(
                f"{host} is {a}, not a public address (private, loopback, multicast, "
                "NAT64, 6to4, IPv4 inside IPv6, or reserved); allow it with SIYU_WEBHOOK_ALLOW "
                "if it is yours"
            )
    return host, addresses[0], port


def retry_after(header: str | None, now: datetime | None = None) -> float:
    """The seconds a receiver asked us to wait (RFC 9110: whole seconds or an HTTP date), at most
    a day; 60 when it said nothing usable. Anything may come back in a header (a '²' passes
    ``isdigit`` and fails ``float``), and a crash here would stop the whole dispatch batch."""
    text = (header or "").strip()
    whole = whole_number(text, most=BIG_ID_MAX)
    if whole is not None:
        return min(float(whole), MOST_WAIT)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return DEFAULT_WAIT
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return min(max((when - (now or clock.now())).total_seconds(), 0.0), MOST_WAIT)


@dataclass
class Webhook:
    key: bytes
    allow: str = ""
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = None

    name = "webhook"
    reconcilable = False  # a receiver cannot be asked; ambiguous rows go to an operator
    absence_proves_unsent = False
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._allow = parse_allow(self.allow)
        self._http = httpx.Client(timeout=self.timeout, transport=self.transport)

    def body(self, message: Outgoing) -> bytes:
        payload: dict[str, Any] = {
            "id": message.ref,
            "type": "siyu.campaign.message",
            "campaign_id": message.campaign_id,
            "customer_id": message.customer_id,
            "purpose": message.purpose,
            "text": message.parts.get("text", ""),
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def send(self, message: Outgoing) -> SendResult:
        try:
            host, address, port = resolve_target(message.address, *self._allow)
        except UnsafeTarget as exc:
            return SendResult("failed", code="unsafe_target", error=str(exc)[:200])
        parts = urlsplit(message.address)
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit(parts._replace(netloc=f"{literal}:{port}"))
        body = self.body(message)
        ts = str(int(clock.timestamp()))
        headers = {
            "Host": parts.netloc.rpartition("@")[2],
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Siyu-Webhook/1",
            "X-Siyu-Id": message.ref,
            "X-Siyu-Timestamp": ts,
            "X-Siyu-Signature": signature(self.key, ts, body),
        }
        try:
            resp = self._http.post(
                pinned, content=body, headers=headers, extensions={"sni_hostname": host}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return SendResult("retry", code="connect", error=str(exc)[:200], retry_after=60)
        except httpx.HTTPError as exc:  # it left; the receiver may have it
            return SendResult("ambiguous", code="network", error=str(exc)[:200])
        if 200 <= resp.status_code < 300:
            return SendResult("sent", provider_ref=message.ref, code=str(resp.status_code))
        if resp.status_code in (408, 429) or resp.status_code >= 500:
            wait = retry_after(resp.headers.get("Retry-After"))
            return SendResult("retry", code=str(resp.status_code), retry_after=wait)
        return SendResult("failed", code=str(resp.status_code), error=resp.text[:200])

    def delivery(self, address: str, ref: str, since: datetime) -> Delivery:
        return Delivery(False)
