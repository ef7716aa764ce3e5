"""
Requests that arrive through a reverse proxy (nginx, see C{deploy/nginx.conf}).

Only a proxy named in C{JUEGO_TRUSTED_PROXIES} (addresses or networks, comma-separated)
is believed about the client: for a request from one, the client is the right-most
address of C{X-Forwarded-For} that is not itself a trusted proxy, and C{X-Forwarded-Proto:
https} marks the request secure (so the session cookie gets C{Secure}). Anyone else's
forwarding headers are ignored, so a player cannot pick the address the login throttle
counts against. C{X-Forwarded-Host} is never read: the proxy passes the browser's C{Host}
on, and that is what L{juego.web.hosts} checks.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.web.iweb import IRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip()
        )

    @classmethod
    def fromEnvironment(cls, environ: Mapping[str, str] | None = None) -> TrustedProxies:
        env = os.environ if environ is None else environ
        return cls(env.get("JUEGO_TRUSTED_PROXIES", "").split(","))

    def trusts(self, host: str | None) -> bool:
        if not host or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def apply(self, request: IRequest) -> None:
        """
        Take the client address and scheme from a trusted proxy's headers.
        """
        peer = request.getClientAddress()
        if not self.trusts(getattr(peer, "host", None)):
            return
        forwarded = request.getHeader(b"x-forwarded-for")
        if forwarded:
            hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
            client = next(
                (h for h in reversed(hops) if not self.trusts(h)), hops[0] if hops else None
            )
            if client is not None:
                try:
                    parsed = ipaddress.ip_address(client)
                except ValueError:
                    parsed = None
                if parsed is not None:
                    kind = IPv6Address if parsed.version == 6 else IPv4Address
                    request.client = kind("TCP", str(parsed), 0)  # type: ignore[attr-defined]
        proto = request.getHeader(b"x-forwarded-proto")
        # Only with one Host header: setHost would make one of several, hiding them from
        # the host check (L{juego.web.hosts}), which refuses the request instead.
        hosts = request.requestHeaders.getRawHeaders(b"host") or []
        secure = proto and proto.split(b",")[-1].strip().lower() == b"https"
        if secure and len(hosts) == 1 and not request.isSecure():
            host = hosts[0]
            name, _, port = host.decode("latin-1").rpartition(":")
            if not name or not port.isdigit():
                name, port = host.decode("latin-1"), "443"
            request.setHost(name.encode("latin-1"), int(port), ssl=True)
