"""
The admin endpoints under C{/api/admin} (admins only). Admins are made from the command
line (C{juego-admin create-admin EMAIL}), never from the web.
"""

from __future__ import annotations

from typing import Any

import attrs
from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest

from juego.logging import requestIDFields
from juego.model import User
from juego.outbox import ADD_NOTIFICATION, Outcome
from juego.store import Store
from juego.web.auth import Authenticator
from juego.web.body import queryInt, readJSON
from juego.web.clock import utcnow
from juego.web.errors import Forbidden, NotFoundError, installJSONErrors, ok
from juego.web.game import Games
from juego.web.live import NotificationHub
from juego.web.views import heldJSON, summaryJSON

RESET_MESSAGE = "Un administrador ha reiniciado tu puntuación."


@attrs.define(slots=False)
class AdminAPI:
    router = Klein()
    installJSONErrors(router)

    store: Store
    auth: Authenticator
    clock: IReactorTime
    hub: NotificationHub
    games: Games

    async def _target(self, userID: int) -> User:
        user = await self.store.users.get(userID)
        if user is None:
            raise NotFoundError("No existe ese usuario.")
        return user

    @router.route("/usuarios", methods=["GET"])
    async def usuarios(self, request: IRequest) -> bytes:
        await self.auth.requireAdmin(request)
        limit = queryInt(request, "limit", 500, 1, 1000)
        offset = queryInt(request, "offset", 0, 0, 10**9)
        summaries = await self.store.users.summaries(limit, offset)
        return ok(request, usuarios=[summaryJSON(s) for s in summaries])

    @router.route("/reiniciar_puntuacion/<int:user_id>", methods=["POST"])
    async def reiniciar(self, request: IRequest, user_id: int) -> bytes:
        await self.auth.requireAdmin(request)
        target = await self._target(user_id)
        await self.store.scores.resetUser(target.id)
        await self.store.partidas.forgetGames(target.id)
        now = utcnow(self.clock)
        payload: dict[str, Any] = {
            "user_id": target.id,
            "message": RESET_MESSAGE,
            "type": "warning",
            **requestIDFields(),
        }
        await self.store.partidas.enqueue(ADD_NOTIFICATION, payload, now, now)
        return ok(request, message=f"Puntuación de {target.nombre} reiniciada.")

    @router.route("/eliminar_usuario/<int:user_id>", methods=["POST"])
    async def eliminar(self, request: IRequest, user_id: int) -> bytes:
        admin = await self.auth.requireAdmin(request)
        if user_id == admin.id:
            raise Forbidden("No puedes eliminar tu propia cuenta.")
        body = readJSON(request)
        target = await self._target(user_id)
        await self.auth.checkOwnPassword(request, admin, body.get("password"))
        if not await self.store.scores.deleteUser(target.id):
            raise NotFoundError("No existe ese usuario.")
        await self.auth.userChanged(target.id)
        self.hub.disconnect(target.id)
        return ok(request, message=f"Usuario {target.nombre} eliminado.")

    # Held results (docs/SECURITY.md, "The ranking: human results only")

    @router.route("/revision", methods=["GET"])
    async def revision(self, request: IRequest) -> bytes:
        await self.auth.requireAdmin(request)
        limit = queryInt(request, "limit", 200, 1, 500)
        held = await self.store.partidas.held(limit=limit)
        return ok(request, resultados=[heldJSON(h) for h in held])

    @router.route("/resultados/<partida_id>/aprobar", methods=["POST"])
    async def aprobar(self, request: IRequest, partida_id: str) -> bytes:
        await self.auth.requireAdmin(request)
        outcome = await self.games.approve(partida_id)
        pendiente = outcome is Outcome.RETRY
        return ok(
            request,
            partida_id=partida_id,
            estado="aprobada",
            pendiente=pendiente,
            message="Resultado aprobado: ya cuenta en las clasificaciones."
            if not pendiente
            else "Resultado aprobado: contará en cuanto responda el servicio de puntuaciones.",
        )

    @router.route("/resultados/<partida_id>/anular", methods=["POST"])
    async def anular(self, request: IRequest, partida_id: str) -> bytes:
        await self.auth.requireAdmin(request)
        antes = await self.games.void(partida_id)
        return ok(
            request,
            partida_id=partida_id,
            estado="anulada",
            estado_anterior=antes,
            message="Resultado anulado."
            if antes == "en_revision"
            else "Resultado anulado y retirado de las clasificaciones y estadísticas.",
        )
