"""
C{twistd juego-tcp}: the score service (default 127.0.0.1:6000, C{TCP_PERSIST_HOST/PORT}).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twisted.application.service import IService, MultiService

from juego.metrics import Metrics
from juego.scores import GroupCommitWriter, ScoreService
from juego.store import Store
from juego.tap import CallbackService, ServiceOptions, listeningService, singleService
from juego.tap.metrics import METRICS_OPTION, serveMetrics
from juego.wire import WireFactory
from juego.wire.observe import RequestLog


class Options(ServiceOptions):
    """
    juego-tcp: score persistence over the line protocol.
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
    The score service's parts: on stop, the listener closes, then each open connection
    takes no new request and closes once the replies it owes have left (each after its
    commit), then the group-commit queue is flushed, then the store goes.
    """
    writer = GroupCommitWriter(store.scores, metrics=metrics)
    factory = WireFactory(
        ScoreService(writer).handlers(), secret, reactor, observer=RequestLog("tcp", metrics)
    )
    CallbackService(writer.flush).setServiceParent(parent)
    CallbackService(factory.drainConnections).setServiceParent(parent)
    listeningService(reactor, description, factory).setServiceParent(parent)


def makeService(options: Options) -> IService:
    metrics = Metrics()
    top = singleService(options, "tcp", partial(addTo, metrics=metrics))
    serveMetrics(top, options["metrics"], metrics)
    return top
