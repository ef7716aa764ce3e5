"""
The JSON API under C{/api} (docs/API.md, plus the profile and notification
endpoints documented in docs/API.md). Admin endpoints live in L{juego.web.admin}.
"""

from __future__ import annotations

from typing import Any

import attrs
from klein import Klein
from twisted.web.iweb import IRequest

from juego.clients.protocols import DistService
from juego.model import User
from juego.store import Store
from juego.store.users import checkBio, checkIdioma, checkNombre, checkTema
from juego.web.admin import AdminAPI
from juego.web.auth import Authenticator
from juego.web.boards import Boards
from juego.web.body import queryInt, readJSON
from juego.web.certification import CertificationAPI
from juego.web.csrf import sameOrigin
from juego.web.errors import CrossSite, InvalidRequest, NotFoundError, installJSONErrors, ok
from juego.web.game import Games
from juego.web.live import NotificationHub
from juego.web.modes import Guests, guestID
from juego.web.ratelimit import RateLimits
from juego.web.recent import Recent
from juego.web.replays import Replays
from juego.web.throttle import clientAddress
from juego.web.upstream import callDist
from juego.web.views import gameJSON, preferencesJSON, userJSON

NOTIFICATIONS_DEFAULT, NOTIFICATIONS_MAX = 50, 100
PROFILE_GAMES = 20


def _ids(value: object) -> list[int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > 1000
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    ):
        raise InvalidRequest("«ids» debe ser una lista de números enteros.")
    return list(value)


@attrs.define(slots=False)
class API:
    router = Klein()
    installJSONErrors(router)

    store: Store
    auth: Authenticator
    games: Games
    dist: DistService
    hub: NotificationHub
    admin: AdminAPI
    #: The global stats, reused for a moment (L{juego.web.recent}); None: ask every time.
    globalStats: Recent[dict[str, Any]] | None = None
    #: The certification test (L{juego.web.certification}); None: not served.
    certification: CertificationAPI | None = None
    #: Rate limits of the writes a client could repeat (L{juego.web.ratelimit}); None:
    #: unlimited.
    limits: RateLimits | None = None
    #: Play without an account (L{juego.web.modes}); None: the game needs one.
    guests: Guests | None = None
    #: The boards by period, language and mode (L{juego.web.boards}).
    boards: Boards = attrs.field(kw_only=True)

    def _limit(self, which: str, key: object) -> None:
        if self.limits is not None:
            getattr(self.limits, which).take(key)

    async def _finishAsGuest(
        self, request: IRequest, user: User, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """
        A game this browser started as a guest and finished after logging in (in another
        tab, say): verified as the guest's, then claimed for the account at once.
        """
        assert self.guests is not None
        status, fields = await self.guests.save(
            request, body.get("partida_id"), body.get("eventos")
        )
        if await self.guests.claim(request, user):
            fields = {k: v for k, v in fields.items() if k != "invitado"}
            fields["message"] = "Resultado guardado en tu cuenta."
        return status, fields

    async def _claimGuest(self, request: IRequest, user: User) -> dict[str, Any]:
        """
        After a sign-up or login: this browser's guest results are saved to the account;
        the reply names them (C{reclamadas}) when there are any.
        """
        if self.guests is None:
            return {}
        claimed = await self.guests.claim(request, user)
        return {"reclamadas": claimed} if claimed else {}

    @router.route("/admin/", branch=True)
    def adminBranch(self, request: IRequest) -> Any:
        return self.admin.router.resource()

    @router.route("/certificacion", branch=True)
    def certificationBranch(self, request: IRequest) -> Any:
        if self.certification is None:
            raise NotFoundError()
        return self.certification.router.resource()

    # Accounts

    @router.route("/registro", methods=["POST"])
    async def registro(self, request: IRequest) -> bytes:
        self._limit("registro", clientAddress(request))
        body = readJSON(request)
        user = await self.auth.register(
            request, body.get("nombre"), body.get("email"), body.get("password")
        )
        return ok(request, 201, user=userJSON(user), **await self._claimGuest(request, user))

    @router.route("/login", methods=["POST"])
    async def login(self, request: IRequest) -> bytes:
        body = readJSON(request)
        user = await self.auth.login(request, body.get("email"), body.get("password"))
        return ok(request, user=userJSON(user), **await self._claimGuest(request, user))

    @router.route("/logout", methods=["POST"])
    async def logout(self, request: IRequest) -> bytes:
        self._limit("cuenta", (await self.auth.requireUser(request)).id)
        await self.auth.logout(request)
        return ok(request, message="Sesión cerrada.")

    @router.route("/yo", methods=["GET"])
    async def yo(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        return ok(request, user=userJSON(user), preferencias=preferencesJSON(user))

    @router.route("/perfil", methods=["GET"])
    async def perfil(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        games = await self.store.partidas.games(user.id, PROFILE_GAMES)
        return ok(request, user=userJSON(user), bio=user.bio, partidas=[gameJSON(g) for g in games])

    @router.route("/perfil", methods=["POST"])
    async def editarPerfil(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        self._limit("cuenta", user.id)
        body = readJSON(request)
        nombre = checkNombre(body["nombre"]) if body.get("nombre") is not None else None
        bio = checkBio(body["bio"]) if body.get("bio") is not None else None
        tema = checkTema(body["tema"]) if body.get("tema") is not None else None
        idioma = checkIdioma(body["idioma"]) if body.get("idioma") is not None else None
        updated = await self.store.users.updateProfile(user.id, nombre, bio, tema, idioma)
        await self.auth.userChanged(user.id)
        if updated is None:
            raise NotFoundError()
        return ok(
            request,
            user=userJSON(updated),
            bio=updated.bio,
            preferencias=preferencesJSON(updated),
        )

    # The game

    @router.route("/partidas", methods=["POST"])
    async def partidas(self, request: IRequest) -> bytes:
        user = await self.auth.currentUser(request)
        if user is None and self.guests is not None:
            # A guest (juego.web.modes): limited by its address.
            self._limit("partidas", ("invitado", clientAddress(request)))
            body = readJSON(request)
            partida = await self.guests.issue(request, body.get("idioma"), body.get("modo"))
            return ok(request, 201, partida=partida)
        user = await self.auth.requireUser(request)
        self._limit("partidas", user.id)
        body = readJSON(request)
        partida = await self.games.issue(user, body.get("idioma"), body.get("modo"))
        return ok(request, 201, partida=partida)

    @router.route("/guardar_puntaje", methods=["POST"])
    async def guardarPuntaje(self, request: IRequest) -> bytes:
        user = await self.auth.currentUser(request)
        if user is None and self.guests is not None and guestID(request) is not None:
            self._limit("resultados", ("invitado", clientAddress(request)))
            body = readJSON(request)
            status, fields = await self.guests.save(
                request, body.get("partida_id"), body.get("eventos")
            )
            return ok(request, status, **fields)
        user = await self.auth.requireUser(request)
        self._limit("resultados", user.id)
        body = readJSON(request)
        # Any "puntaje" in the body is ignored: the server recomputes the score.
        try:
            status, fields = await self.games.save(
                user, body.get("partida_id"), body.get("eventos")
            )
        except NotFoundError:
            if self.guests is None or guestID(request) is None:
                raise
            status, fields = await self._finishAsGuest(request, user, body)
        if status == 200 and self.globalStats is not None:
            self.globalStats.forget()
        return ok(request, status, **fields)

    @router.route("/desafio", methods=["GET"])
    async def desafio(self, request: IRequest) -> bytes:
        """
        Today's daily challenge: its UTC day, when the next starts, and the languages in
        which the player has had it (none for a guest).
        """
        if self.guests is None:
            raise NotFoundError()
        user = await self.auth.currentUser(request)
        return ok(request, **await self.guests.daily(user))

    @router.route("/ranking", methods=["GET"])
    async def ranking(self, request: IRequest) -> bytes:
        return ok(request, ranking=await self.boards.top(request))

    @router.route("/ranking/yo", methods=["GET"])
    async def rankingYo(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        posicion, rows = await self.boards.around(request, user.id)
        return ok(request, posicion=posicion, ranking=rows)

    @router.route("/repeticion/<partida_id>", methods=["GET"])
    async def repeticion(self, request: IRequest, partida_id: str) -> bytes:
        # Public for a ranked result, always for its own player (L{juego.web.replays}).
        viewer = await self.auth.currentUser(request)
        return ok(request, **await Replays(self.store).reply(viewer, partida_id))

    # Through juego-dist

    @router.route("/stats/usuario", methods=["GET"])
    async def statsUsuario(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        reply = await callDist(self.dist.get_user_stats, user.id)
        return ok(request, stats=reply.get("stats"))

    @router.route("/stats/global", methods=["GET"])
    async def statsGlobal(self, request: IRequest) -> bytes:
        if self.globalStats is not None:
            reply = await self.globalStats.get()
        else:
            reply = await callDist(self.dist.get_global_stats)
        return ok(request, stats=reply.get("stats"))

    @router.route("/notificaciones", methods=["GET"])
    async def notificaciones(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        limit = queryInt(request, "limit", NOTIFICATIONS_DEFAULT, 1, NOTIFICATIONS_MAX)
        unread = queryInt(request, "no_leidas", 0, 0, 1) == 1
        reply = await callDist(
            self.dist.get_notifications, user.id, limit=limit, unread_only=unread
        )
        return ok(request, notifications=reply.get("notifications", []))

    @router.route("/notificaciones/ws", methods=["GET"])
    async def notificacionesEnVivo(self, request: IRequest) -> Any:
        user = await self.auth.requireUser(request)
        origin = request.getHeader(b"origin")
        if origin is not None and not sameOrigin(request, origin.decode("latin-1")):
            raise CrossSite()
        if (request.getHeader(b"upgrade") or b"").lower() != b"websocket":
            raise InvalidRequest("Esta dirección solo acepta conexiones WebSocket.")
        return self.hub.resourceFor(user.id)

    @router.route("/notificaciones/leer", methods=["POST"])
    async def leerNotificaciones(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        self._limit("notificaciones", user.id)
        ids = _ids(readJSON(request).get("ids"))
        await callDist(self.dist.mark_notifications_read, user.id, ids=ids)
        return ok(request)
