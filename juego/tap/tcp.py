"""
C{twistd juego-tcp}: the score service (default 127.0.0.1:6000, C{TCP_PERSIST_HOST/PORT}).
It hands the record notifications it queues to juego-dist (C{DISTRIBUTED_HOST/PORT}).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from twisted.application.internet import TimerService
from twisted.application.service import IService, MultiService

from juego import config
from juego.metrics import Metrics
from juego.scores import MAX_LINE, GroupCommitWriter, RecordNotices, ScoreService
from juego.store import Store
from juego.tap import CallbackService, ServiceOptions, listeningService, singleService
from juego.tap.metrics import METRICS_OPTION, serveMetrics
from juego.wire import WireFactory
from juego.wire.observe import RequestLog

#: Seconds between two drains of the record notifications juego-dist did not take.
DRAIN_INTERVAL = 1.0


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
    distEndpoint: str | None = None,
) -> None:
    """
    The score service's parts: on stop, the listener closes, then each open connection
    takes no new request and closes once the replies it owes have left (each after its
    commit), then the group-commit queue is flushed, then the record notifications under
    way are sent (or left to the next start's drain), then the store goes.
    """
    from juego.clients import DistServiceClient

    dist = DistServiceClient(reactor, distEndpoint or config.clientEndpoint("dist"), secret)
    notices = RecordNotices(store.scores.outbox, dist, reactor)
    store.scores.onNotices = notices.queued
    writer = GroupCommitWriter(store.scores, metrics=metrics, clock=reactor)
    factory = WireFactory(
        ScoreService(writer).handlers(),
        secret,
        reactor,
        observer=RequestLog("tcp", metrics),
        maxLine=MAX_LINE,
    )
    CallbackService(dist.stop, dist.start).setServiceParent(parent)
    CallbackService(notices.flush).setServiceParent(parent)
    drain = TimerService(DRAIN_INTERVAL, notices.drain)
    drain.clock = reactor
    drain.setServiceParent(parent)
    CallbackService(writer.flush).setServiceParent(parent)
    CallbackService(factory.drainConnections).setServiceParent(parent)
    listeningService(reactor, description, factory).setServiceParent(parent)


def makeService(options: Options) -> IService:
    metrics = Metrics()
    top = singleService(options, "tcp", partial(addTo, metrics=metrics))
    serveMetrics(top, options["metrics"], metrics)
    return top
