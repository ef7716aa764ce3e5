"""
The web application: one Klein router per area, mounted here.

  /api/...     the JSON API (L{juego.web.api}; /api/admin/... in L{juego.web.admin}),
               behind the CSRF/content-type check of L{juego.web.csrf}
  /static/...  the package's static files
  /api/salud   health (L{juego.web.health}); /metrics: Prometheus metrics (L{juego.metrics})
  /...         the HTML pages (L{juego.web.pages})

Every response carries the security headers (L{juego.web.security}) and a request id
(L{juego.web.tracing}), and is logged. Requests below C{/api/} go straight to the API's
router (L{APIShortcut}) rather than through two levels of Klein routing.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import attrs
from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from juego.metrics import Metrics
from juego.store import Store
from juego.web.admin import AdminAPI
from juego.web.api import API
from juego.web.auth import Authenticator
from juego.web.csrf import checkStateChange
from juego.web.errors import APIError, installJSONErrors
from juego.web.game import Games
from juego.web.health import Health
from juego.web.live import NotificationHub
from juego.web.outbox import Deliveries, OutboxDrainer
from juego.web.pages import Pages
from juego.web.passwords import Passwords
from juego.web.proxies import TrustedProxies
from juego.web.recent import GLOBAL_STATS_TTL, Recent
from juego.web.rendering import Renderer
from juego.web.security import SecurityHeaders
from juego.web.static import StaticFiles, staticDirectory, staticResource
from juego.web.tracing import RequestTracing
from juego.web.upstream import callDist


@attrs.define(slots=False)
class Application:
    router = Klein()
    installJSONErrors(router)

    api: API
    pages: Pages
    static: StaticFiles
    drainer: OutboxDrainer
    games: Games
    hub: NotificationHub
    health: Health
    metrics: Metrics
    _resources: ExitStack = attrs.field(factory=ExitStack)
    proxies: TrustedProxies = attrs.field(factory=TrustedProxies)

    @classmethod
    def build(
        cls,
        store: Store,
        scores: Any,
        dist: Any,
        clock: IReactorTime,
        passwords: Passwords,
        metrics: Metrics | None = None,
        proxies: TrustedProxies | None = None,
    ) -> Application:
        """
        The application over C{store}, talking to juego-tcp through C{scores} and to
        juego-dist through C{dist} (L{juego.clients} or fakes), on C{clock}.
        C{metrics} is the process's (a new registry by default).
        """
        metrics = Metrics() if metrics is None else metrics
        auth = Authenticator(store, passwords, clock)
        deliveries = Deliveries(scores, dist)
        games = Games(store, deliveries, clock)
        hub = NotificationHub(dist)
        admin = AdminAPI(store, auth, clock, hub)
        resources = ExitStack()
        metrics.connections.labels("web", "websocket").set_function(hub.openSockets)
        return cls(
            api=API(
                store,
                auth,
                games,
                dist,
                hub,
                admin,
                Recent(lambda: callDist(dist.get_global_stats), clock, GLOBAL_STATS_TTL),
            ),
            pages=Pages(auth, Renderer()),
            static=staticResource(staticDirectory(resources)),
            drainer=OutboxDrainer(store.partidas, deliveries, clock),
            games=games,
            hub=hub,
            resources=resources,
            health=Health(store, scores, dist, clock),
            metrics=metrics,
            proxies=proxies or TrustedProxies(),
        )

    def resource(self) -> IResource:
        """
        The site's root resource.
        """
        routes = APIShortcut(self.router.resource(), self.api.router.resource(), self.apiRoutes())
        return RequestTracing(SecurityHeaders(routes), self.metrics, self.proxies)

    def apiRoutes(self) -> frozenset[bytes]:
        """
        The first path segments below C{/api/} that this router answers itself (not the
        API's router): C{salud}.
        """
        own = set()
        for rule in self.router.url_map.iter_rules():
            if rule.rule.startswith("/api/"):
                segment = rule.rule[len("/api/") :].split("/", 1)[0]
                if segment and not segment.startswith("<"):
                    own.add(segment.encode("utf-8"))
        return frozenset(own)

    def close(self) -> None:
        self._resources.close()

    @router.route("/api/", branch=True)
    def apiBranch(self, request: IRequest) -> IResource:
        checkStateChange(request)
        return self.api.router.resource()

    @router.route("/api/salud", methods=["GET"])
    async def salud(self, request: IRequest) -> bytes:
        return await self.health.reply(request)

    @router.route("/metrics", methods=["GET"])
    def metricsResource(self, request: IRequest) -> IResource:
        return self.metrics.resource()

    @router.route("/static/", branch=True)
    def staticBranch(self, request: IRequest) -> IResource:
        return self.static

    @router.route("/", branch=True)
    def pagesBranch(self, request: IRequest) -> IResource:
        return self.pages.router.resource()


class APIShortcut(Resource):
    """
    The application's router, except that a request below C{/api/} is handed straight to
    the API's router, as L{Application.apiBranch} would after its check, skipping one
    werkzeug C{bind} + C{match} and one Klein dispatch (about 15 % of a cheap API
    request's CPU, profiled in docs/PERFORMANCE.md). What the application's router
    answers itself below C{/api/} (C{own}), and requests the state-change check refuses,
    still go through it, so every answer stays the same.
    """

    isLeaf = True

    def __init__(self, app: IResource, api: IResource, own: frozenset[bytes]) -> None:
        super().__init__()
        self._app, self._api, self._own = app, api, own

    def render(self, request: IRequest) -> Any:
        path = request.postpath
        if len(path) > 1 and path[0] == b"api" and path[1] and path[1] not in self._own:
            try:
                checkStateChange(request)
            except APIError:
                return self._app.render(request)  # refused there, in the usual way
            request.prepath.append(path.pop(0))
            return self._api.render(request)
        return self._app.render(request)
