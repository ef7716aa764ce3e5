"""
C{twistd juego}: juego-tcp, juego-dist and juego-web in one reactor over one store, on
their usual three ports (C{--tcp}, C{--dist}, C{--web} endpoint strings; defaults from the
environment as for each service alone).
"""

from __future__ import annotations

from twisted.application.service import IService
from twisted.python import usage

from juego import config
from juego.metrics import Metrics
from juego.tap import (
    REDIS_OPTION,
    ConfigFileOptions,
    InsecureWarning,
    SequentialMultiService,
    StoreService,
    checkExposure,
    openCache,
    openStore,
    reactor,
    serviceSecret,
)
from juego.tap import tcp as tcpTap
from juego.tap import web as webTap


class Options(ConfigFileOptions):
    """
    juego: all three services in one process.
    """

    optParameters = [
        [
            "web",
            None,
            None,
            "Server endpoint string for the web site (default: MAIN_SERVER_HOST/PORT).",
        ],
        [
            "tcp",
            None,
            None,
            "Server endpoint string for juego-tcp (default: TCP_PERSIST_HOST/PORT).",
        ],
        [
            "dist",
            None,
            None,
            "Server endpoint string for juego-dist (default: DISTRIBUTED_HOST/PORT).",
        ],
        [
            "database",
            "d",
            None,
            "SQLAlchemy database URL (default: JUEGO_DATABASE_URL, then instance/usuarios.db).",
        ],
        REDIS_OPTION,
    ]
    optFlags = [
        [
            "insecure",
            None,
            "No service secret: juego-tcp/juego-dist answer anyone (loopback only).",
        ],
    ]


def clientEndpointFor(description: str) -> str:
    """
    A client endpoint string that reaches a server listening on C{description} from this
    machine (C{tcp:}, C{tcp6:}, C{ssl:} and C{unix:}).
    """
    kind, positional, named = config.splitEndpoint(description)
    if kind == "unix":
        path = named.get("address") or (positional[0] if positional else "")
        return "unix:path=" + path.replace(":", r"\:")
    if kind in ("tcp", "tcp6", "ssl"):
        port = named.get("port") or (positional[0] if positional else "")
        interface = named.get("interface", "")
        if interface in ("", "0.0.0.0"):
            interface = "127.0.0.1"
        elif interface == "::":
            interface = "::1"
        host = interface.replace(":", r"\:")
        client = "ssl" if kind == "ssl" else "tcp"
        return f"{client}:host={host}:port={port}"
    raise usage.UsageError(f"cannot connect to a {kind!r} endpoint: {description!r}")


def makeService(options: Options) -> IService:
    from juego.tap import dist as distTap

    theReactor = reactor()
    insecure = bool(options["insecure"])
    web = config.listenEndpoint("web", options["web"])
    tcp = config.listenEndpoint("tcp", options["tcp"])
    dist = config.listenEndpoint("dist", options["dist"])
    checkExposure(tcp, insecure)
    checkExposure(dist, insecure)
    # Even in one process the two line services listen on ports any local process can
    # reach: they require the handshake, and the web site's clients make it.
    secret = serviceSecret(options["database"], insecure)
    store = openStore(options["database"], theReactor)
    top = SequentialMultiService()
    if insecure:
        InsecureWarning("juego-tcp and juego-dist").setServiceParent(top)
    StoreService(store).setServiceParent(top)
    openCache(options["redis"], store, theReactor, top, dist=True)
    # One registry for the three: the web site's /metrics shows them all.
    metrics = Metrics()
    tcpTap.addTo(
        top, store, tcp, secret, theReactor, metrics=metrics, distEndpoint=clientEndpointFor(dist)
    )
    distTap.addTo(top, store, dist, secret, theReactor, metrics=metrics)
    webTap.addTo(
        top,
        store,
        web,
        secret,
        theReactor,
        tcpEndpoint=clientEndpointFor(tcp),
        distEndpoint=clientEndpointFor(dist),
        metrics=metrics,
    )
    return top
