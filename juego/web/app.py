"""
The web application: one Klein router per area, mounted here.

  /api/...     the JSON API (L{juego.web.api}; /api/admin/... in L{juego.web.admin}),
               behind the CSRF/content-type check of L{juego.web.csrf}
  /static/...  the package's static files
  /api/salud   health (L{juego.web.health}); /metrics: Prometheus metrics (L{juego.metrics}),
               for the networks of L{juego.web.networks} only (the 404 page for others)
  /api/openapi.json, /api/docs   the API described (L{juego.web.openapi})
  /...         the HTML pages (L{juego.web.pages})

Every response carries the security headers (L{juego.web.security}) and a request id
(L{juego.web.tracing}), and is logged. A request for a host name the site does not serve
gets 400 before routing (L{juego.web.hosts}), a path with NUL or non-UTF-8 bytes 404
(L{juego.web.paths}). Requests below C{/api/} go straight to the API's
router (L{APIShortcut}) rather than through two levels of Klein routing.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import attrs
from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from juego.clients.protocols import DistService, ScoreService
from juego.metrics import Metrics
from juego.model import isoformat
from juego.outbox import Deliveries, OutboxDrainer
from juego.race.owner import LocalOwner
from juego.store import Store
from juego.web import openapi
from juego.web.admin import AdminAPI
from juego.web.api import API
from juego.web.auth import Authenticator
from juego.web.boards import Boards
from juego.web.body import queryInt
from juego.web.certification import CertificationAPI
from juego.web.clock import utcnow
from juego.web.csrf import checkStateChange, sameOrigin
from juego.web.errors import (
    APIError,
    CrossSite,
    InvalidRequest,
    MethodNotAllowedError,
    installJSONErrors,
    ok,
)
from juego.web.game import LIFETIME, Games
from juego.web.health import Health
from juego.web.hosts import AllowedHosts, HostCheck
from juego.web.live import NotificationHub
from juego.web.modes import Guests
from juego.web.networks import NetworkList, metricsAllowList
from juego.web.pages import Pages
from juego.web.passwords import Passwords
from juego.web.paths import PathCheck
from juego.web.proxies import TrustedProxies
from juego.web.race import RaceHub
from juego.web.ratelimit import RateLimits
from juego.web.recent import GLOBAL_STATS_TTL, Recent
from juego.web.rendering import Renderer
from juego.web.security import SecurityHeaders
from juego.web.sessioncache import SessionCache
from juego.web.static import StaticFiles, loadAssets, staticDirectory
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
    races: RaceHub
    _resources: ExitStack = attrs.field(factory=ExitStack)
    proxies: TrustedProxies = attrs.field(factory=TrustedProxies)
    hosts: AllowedHosts = attrs.field(factory=AllowedHosts.default)
    metricsAllow: NetworkList = attrs.field(factory=lambda: metricsAllowList({}))

    @classmethod
    def build(
        cls,
        store: Store,
        scores: ScoreService,
        dist: DistService,
        clock: IReactorTime,
        passwords: Passwords,
        metrics: Metrics | None = None,
        proxies: TrustedProxies | None = None,
        hosts: AllowedHosts | None = None,
        metricsAllow: NetworkList | None = None,
        rateLimits: float = 1.0,
        dailyKey: bytes | None = None,
        raceOwner: Any = None,
    ) -> Application:
        """
        The application over C{store}, talking to juego-tcp through C{scores} and to
        juego-dist through C{dist} (L{juego.clients} or fakes), on C{clock}.
        C{metrics} is the process's (a new registry by default). By default it believes
        no proxy, answers for loopback's host names only and shows C{/metrics} to
        loopback only.
        C{metrics} is the process's (a new registry by default); C{rateLimits} is a
        factor on the API's per-node rate limits (0: none, L{juego.config.rateLimits}).
        C{dailyKey} (the service secret) keys the daily challenge's words
        (L{juego.web.modes.dailySeed}).
        C{raceOwner} owns the race rooms (L{juego.race.owner}; by default this process).
        """
        metrics = Metrics() if metrics is None else metrics
        sessionCache = SessionCache(clock, dist)
        auth = Authenticator(store, passwords, clock, sessionCache)
        deliveries = Deliveries(scores, dist)
        games = Games(store, deliveries, clock, dailyKey)
        hub = NotificationHub(dist, sessions=sessionCache)
        admin = AdminAPI(store, auth, clock, hub, games)
        resources = ExitStack()
        assets = loadAssets(staticDirectory(resources))
        owner = LocalOwner(clock, store) if raceOwner is None else raceOwner
        races = RaceHub(owner, games, store, clock)
        metrics.connections.labels("web", "websocket").set_function(
            lambda: hub.openSockets() + races.openSockets()
        )
        return cls(
            api=API(
                store,
                auth,
                games,
                dist,
                hub,
                admin,
                Recent(lambda: callDist(dist.get_global_stats), clock, GLOBAL_STATS_TTL),
                CertificationAPI(store, auth, games, clock),
                RateLimits(clock, rateLimits) if rateLimits > 0 else None,
                Guests(store, games, clock, LIFETIME),
                boards=Boards(store, clock),
            ),
            pages=Pages(auth, Renderer(assets.url), store),
            static=StaticFiles(assets),
            drainer=OutboxDrainer(store.partidas, deliveries, clock),
            games=games,
            hub=hub,
            races=races,
            resources=resources,
            health=Health(store, scores, dist, clock),
            metrics=metrics,
            proxies=proxies or TrustedProxies(),
            hosts=hosts or AllowedHosts.default(),
            metricsAllow=metricsAllow or metricsAllowList({}),
        )

    def resource(self) -> IResource:
        """
        The site's root resource.
        """
        routes = APIShortcut(self.router.resource(), self.api.router.resource(), self.apiRoutes())
        checked = HostCheck(PathCheck(routes), self.hosts)
        return RequestTracing(SecurityHeaders(checked), self.metrics, self.proxies)

    def apiRoutes(self) -> frozenset[bytes]:
        """
        The first path segments below C{/api/} that this router answers itself (not the
        API's router): C{salud}, C{openapi.json}, C{docs}.
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

    def startDraining(self) -> None:
        """
        The process is stopping: the health check says so, and the WebSockets close.
        """
        self.health.draining = True
        self.hub.closeSockets()
        self.races.closeSockets()

    @router.route("/api/", branch=True)
    def apiBranch(self, request: IRequest) -> IResource:
        checkStateChange(request)
        return self.api.router.resource()

    @router.route("/api/salud", methods=["GET"])
    async def salud(self, request: IRequest) -> bytes:
        return await self.health.reply(request)

    @router.route("/api/carrera/ws", methods=["GET"])
    async def carreraEnVivo(self, request: IRequest) -> Any:
        """
        A player's race socket (L{juego.web.race}).
        """
        user = await self.api.auth.requireUser(request)
        origin = request.getHeader(b"origin")
        if origin is not None and not sameOrigin(request, origin.decode("latin-1")):
            raise CrossSite()
        if (request.getHeader(b"upgrade") or b"").lower() != b"websocket":
            raise InvalidRequest("Esta dirección solo acepta conexiones WebSocket.")
        noDelay = getattr(getattr(request, "transport", None), "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)  # live progress: each small frame goes at once
        return self.races.resourceFor(user)

    @router.route("/api/carreras", methods=["GET"])
    async def carreras(self, request: IRequest) -> bytes:
        """
        The player's last races (L{juego.store.races}).
        """
        user = await self.api.auth.requireUser(request)
        limit = queryInt(request, "limit", 20, 1, 100)
        rows = await self.races.store.races.ofPlayer(user.id, limit)
        return ok(request, carreras=[{**r, "fecha": isoformat(r["fecha"])} for r in rows])

    @router.route("/api/carreras/ganadores", methods=["GET"])
    async def ganadores(self, request: IRequest) -> bytes:
        """
        The board of race wins: C{periodo=dia|semana|siempre} (UTC days, ISO weeks).
        """
        periodo = queryChoice(request, "periodo", ("dia", "semana", "siempre"), "siempre")
        limit = queryInt(request, "limit", 10, 1, 100)
        now = utcnow(self.races.clock)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        since = {"dia": day, "semana": day - timedelta(days=day.weekday()), "siempre": None}
        rows = await self.races.store.races.winners(since[periodo], limit)
        return ok(request, periodo=periodo, ganadores=rows)

    @router.route("/api/openapi.json", methods=["GET"])
    def openapiDocument(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-cache")
        return openapi.documentBytes()

    @router.route("/api/docs", methods=["GET"])
    async def apiDocs(self, request: IRequest) -> bytes:
        return await self.pages.apiDocs(request, openapi.document())

    @router.route("/metrics")
    async def metricsResource(self, request: IRequest) -> IResource | bytes:
        # Any method: an outsider gets the same 404 page as for a path that does not
        # exist, never a 405 that would tell the route is there.
        if not self.metricsAllow.admits(request):
            return await self.pages.notFound(request)
        if request.method not in (b"GET", b"HEAD"):
            raise MethodNotAllowedError(headers={"Allow": "GET, HEAD"})
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


def queryChoice(request: IRequest, name: str, choices: tuple[str, ...], default: str) -> str:
    """
    A query parameter that must be one of C{choices} (400 otherwise).
    """
    raw = request.args.get(name.encode("ascii"), [None])[0]
    if raw is None:
        return default
    value = raw.decode("utf-8", "replace")
    if value not in choices:
        raise InvalidRequest(f"«{name}» debe ser uno de: {', '.join(choices)}.")
    return value
