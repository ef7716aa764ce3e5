"""
C{twistd juego-web}: the web site and JSON API (default 127.0.0.1:5000,
C{MAIN_SERVER_HOST/PORT}); it finds juego-tcp and juego-dist at C{TCP_PERSIST_*} and
C{DISTRIBUTED_*}.
"""

from __future__ import annotations

from typing import Any

from twisted.application.internet import TimerService
from twisted.application.service import IService, MultiService
from twisted.internet.defer import DeferredList
from twisted.python import usage

from juego import config
from juego.metrics import Metrics
from juego.store import Store
from juego.tap import (
    CallbackService,
    SequentialMultiService,
    ServiceOptions,
    StoreService,
    openCache,
    openStore,
    reactor,
    serviceSecret,
)
from juego.web.app import Application
from juego.web.drain import WebListener
from juego.web.health import OutboxDepth
from juego.web.hosts import AllowedHosts
from juego.web.housekeeping import Housekeeping
from juego.web.networks import metricsAllowList
from juego.web.passwords import HashingPool, Passwords
from juego.web.proxies import TrustedProxies
from juego.web.tracing import Site

#: Seconds between two passes of the outbox drain loop.
DRAIN_INTERVAL = 1.0
#: Seconds between two clean-ups of sessions, failed logins and stale partidas.
HOUSEKEEPING_INTERVAL = 3600.0
#: Seconds between two counts of the outbox (the juego_outbox_depth gauge).
OUTBOX_GAUGE_INTERVAL = 5.0


class Options(ServiceOptions):
    """
    juego-web: pages, JSON API and the static game.
    """


def _timer(interval: float, work: Any, theReactor: Any) -> TimerService:
    service = TimerService(interval, work)
    service.clock = theReactor
    return service


def addTo(
    parent: MultiService,
    store: Store,
    description: str,
    secret: bytes | None,
    reactor: Any,
    tcpEndpoint: str | None = None,
    distEndpoint: str | None = None,
    metrics: Metrics | None = None,
) -> Application:
    """
    The web service's parts. On stop the listener drains first (L{juego.web.drain}:
    health down, no new connections, every request received answered), then the drain
    loop, then the clients of juego-tcp and juego-dist.
    """
    from juego.clients import DistServiceClient, ScoreServiceClient
    from juego.race.owner import DistOwner

    scores = ScoreServiceClient(reactor, tcpEndpoint or config.clientEndpoint("tcp"), secret)
    dist = DistServiceClient(reactor, distEndpoint or config.clientEndpoint("dist"), secret)
    metrics = Metrics() if metrics is None else metrics
    metrics.watchWrites(store.pool)
    try:
        threads, queue = config.hashing()
        rateLimits = config.rateLimits()
    except config.ConfigError as e:
        raise usage.UsageError(str(e)) from None
    hashing = HashingPool(reactor, threads, queue, metrics=metrics)
    app = Application.build(
        store,
        scores,
        dist,
        reactor,
        Passwords.inPool(hashing, metrics=metrics),
        metrics=metrics,
        proxies=TrustedProxies.fromEnvironment(),
        hosts=AllowedHosts.fromEnvironment(description),
        metricsAllow=metricsAllowList(),
        rateLimits=rateLimits,
        dailyKey=secret,
        raceOwner=DistOwner(dist),
    )
    CallbackService(hashing.stop, hashing.start).setServiceParent(parent)
    CallbackService(app.close).setServiceParent(parent)
    CallbackService(scores.stop, scores.start).setServiceParent(parent)
    CallbackService(dist.stop, dist.start).setServiceParent(parent)
    CallbackService(app.hub.stop, app.hub.start).setServiceParent(parent)
    CallbackService(app.races.stop, app.races.start).setServiceParent(parent)
    CallbackService(lambda: DeferredList(list(app.games.sending))).setServiceParent(parent)
    _timer(DRAIN_INTERVAL, app.drainer.drain, reactor).setServiceParent(parent)
    _timer(OUTBOX_GAUGE_INTERVAL, OutboxDepth(store, metrics).update, reactor).setServiceParent(
        parent
    )
    _timer(HOUSEKEEPING_INTERVAL, Housekeeping(store, reactor).run, reactor).setServiceParent(
        parent
    )
    site = Site(app.resource(), reactor=reactor)
    site.displayTracebacks = False
    WebListener(reactor, description, site, onDraining=app.startDraining).setServiceParent(parent)
    return app


def makeService(options: Options) -> IService:
    # The web process may listen anywhere: it is the public face. Its --insecure only
    # means its clients skip the handshake (to reach services started with --insecure).
    theReactor = reactor()
    description = config.listenEndpoint("web", options["listen"])
    secret = serviceSecret(options["database"], bool(options["insecure"]))
    store = openStore(options["database"], theReactor)
    top = SequentialMultiService()
    StoreService(store).setServiceParent(top)
    openCache(options["redis"], store, theReactor, top, dist=False)
    addTo(top, store, description, secret, theReactor)
    return top
