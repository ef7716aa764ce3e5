"""
Lists of client networks, and the one that may read juego-web's C{/metrics}.

C{JUEGO_METRICS_ALLOW} is a comma-separated list of addresses or networks (CIDR) whose
clients may read C{/metrics} on the web site; default loopback only; C{none}: nobody. The client is the
one L{juego.web.proxies} computes, so behind a trusted proxy it is the real client, not
the proxy: a player's request forwarded by nginx is refused like any other outsider's.
Everyone else gets the site's ordinary 404 page, as for a path that does not exist.
(juego-tcp and juego-dist serve their metrics on a listener of their own, C{--metrics}.)
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping

from twisted.web.iweb import IRequest

from juego.config import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Who may read /metrics when C{JUEGO_METRICS_ALLOW} is unset.
DEFAULT_METRICS_ALLOW = ("127.0.0.0/8", "::1/128")


class NetworkList:
    def __init__(self, networks: Iterable[str], setting: str = "networks") -> None:
        parsed: list[Network] = []
        for raw in networks:
            if not raw.strip():
                continue
            try:
                parsed.append(ipaddress.ip_network(raw.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"{setting}: {raw.strip()!r} is not an address or network"
                ) from None
        self.networks: tuple[Network, ...] = tuple(parsed)

    def contains(self, host: str | None) -> bool:
        """
        Whether the address C{host} is in one of the networks (an IPv4 address mapped
        into IPv6, as a dual-stack listener reports it, counts as itself).
        """
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def admits(self, request: IRequest) -> bool:
        """
        Whether C{request}'s client (after L{juego.web.proxies}) is in the list.
        """
        return self.contains(getattr(request.getClientAddress(), "host", None))


def metricsAllowList(environ: Mapping[str, str] | None = None) -> NetworkList:
    """
    C{JUEGO_METRICS_ALLOW}, or loopback when it is unset or empty (C{none}: nobody).
    """
    env = os.environ if environ is None else environ
    configured = env.get("JUEGO_METRICS_ALLOW", "").strip()
    if configured.lower() == "none":
        return NetworkList((), "JUEGO_METRICS_ALLOW")
    networks = configured.split(",") if configured else DEFAULT_METRICS_ALLOW
    return NetworkList(networks, "JUEGO_METRICS_ALLOW")
