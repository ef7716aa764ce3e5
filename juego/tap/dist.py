"""
C{twistd juego-dist}: the stats and notifications service (default 127.0.0.1:7000,
C{DISTRIBUTED_HOST/PORT}).
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService, MultiService

from juego.stats import DistFactory, StatsService
from juego.store import Store
from juego.tap import CallbackService, ServiceOptions, listeningService, singleService


class Options(ServiceOptions):
    """
    juego-dist: stats and notifications over the line protocol.
    """


def addTo(
    parent: MultiService, store: Store, description: str, secret: bytes | None, reactor: Any
) -> None:
    """
    The stats service's parts: on stop, the listener closes, then the subscribers are
    disconnected (so they reconnect to whichever node is up), then the store goes.
    """
    service = StatsService(store)
    factory = DistFactory(service, secret, reactor)
    CallbackService(lambda: service.stop(reactor)).setServiceParent(parent)
    listeningService(reactor, description, factory).setServiceParent(parent)


def makeService(options: Options) -> IService:
    return singleService(options, "dist", addTo)
