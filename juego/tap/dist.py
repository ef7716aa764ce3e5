"""
C{twistd juego-dist}: the stats and notifications service (default 127.0.0.1:7000,
C{DISTRIBUTED_HOST/PORT}).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twisted.application.service import IService, MultiService

from juego.metrics import Metrics
from juego.race.service import DistRaces
from juego.stats import DistFactory, StatsService
from juego.store import Store
from juego.tap import CallbackService, ServiceOptions, cacheOf, listeningService, singleService
from juego.tap.metrics import METRICS_OPTION, serveMetrics
from juego.wire.observe import RequestLog


class Options(ServiceOptions):
    """
    juego-dist: stats and notifications over the line protocol.
    """

    optParameters = [METRICS_OPTION]


def addTo(
    parent: MultiService,
    store: Store,
    description: str,
    secret: bytes | None,
    reactor: Any,
    metrics: Metrics | None = None,
) -> None:
    """
    The stats service's parts: on stop, the listener closes, then the subscribers are
    disconnected (so they reconnect to whichever node is up), then the other connections
    send the replies they owe and close, then the store goes.
    """
    cache = cacheOf(parent)  # with Redis: the cached ranking and the bus between nodes
    service = StatsService(
        store,
        ranking=cache.ranking if cache is not None else None,
        bus=cache.bus if cache is not None else None,
    )
    races = DistRaces(reactor, store)  # the race rooms' owner (juego.race)
    factory = DistFactory(service, secret, reactor, observer=RequestLog("dist", metrics))
    factory.handlers.update(races.handlers())
    CallbackService(factory.drainConnections).setServiceParent(parent)
    CallbackService(lambda: service.stop(reactor)).setServiceParent(parent)
    CallbackService(lambda: races.stop(reactor)).setServiceParent(parent)
    listeningService(reactor, description, factory).setServiceParent(parent)


def makeService(options: Options) -> IService:
    metrics = Metrics()
    top = singleService(options, "dist", partial(addTo, metrics=metrics))
    serveMetrics(top, options["metrics"], metrics)
    return top
