"""
The HTML pages (Spanish), rendered from the package's templates. The pages only lay
things out; their data comes from the API, fetched by the static scripts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import attrs
from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from juego.game import reglas
from juego.model import User
from juego.store import Store
from juego.store.results import SharedResult
from juego.web.auth import Authenticator
from juego.web.certification import integridad
from juego.web.errors import RETRY_AFTER, APIError, databaseUnavailable, oneLine, redirect
from juego.web.hosts import validatedHost
from juego.web.rendering import Renderer
from juego.web.replays import Replays

log = Logger()

MESSAGES = {
    403: "Esta página es solo para administradores.",
    404: "La página que buscas no existe.",
    405: "Esa acción no está permitida en esta página.",
    500: "Ha ocurrido un error inesperado. Inténtalo de nuevo en un momento.",
    503: "El sitio no puede consultar sus datos ahora mismo. Inténtalo de nuevo en unos segundos.",
}


#: Longer path segments are no partida id (they are UUIDs): 404 without a query.
MAX_PARTIDA_ID = 64

IDIOMAS = {"es": "Español", "en": "Inglés"}
MESES = (
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
).split()


def fechaLarga(fecha: datetime) -> str:
    """
    "30 de noviembre de 2026" (UTC).
    """
    fecha = fecha.astimezone(UTC)
    return f"{fecha.day} de {MESES[fecha.month - 1]} de {fecha.year}"


def decimal(valor: float) -> str:
    """
    A number with at most one decimal, Spanish style ("72,5"; "72" for 72.0).
    """
    texto = f"{valor:.1f}".rstrip("0").rstrip(".")
    return texto.replace(".", ",")


def siteURL(request: IRequest) -> str:
    """
    This site's origin as the request reached it (the host the host check validated).
    """
    scheme = "https" if request.isSecure() else "http"
    # Every request reaches the pages through the host check, which sets it.
    return f"{scheme}://{validatedHost(request)}"


def resultContext(request: IRequest, result: SharedResult) -> dict[str, Any]:
    """
    What C{resultado.html} shows of C{result}, formatted (Spanish).
    """
    puntos = "punto" if result.puntaje == 1 else "puntos"
    wpm = decimal(result.wpm)
    precision = decimal(result.precision * 100)
    idioma = IDIOMAS.get(result.idioma, result.idioma)
    fecha = fechaLarga(result.fecha)
    return {
        "resultado": result,
        "puntos": puntos,
        "wpm": wpm,
        "precision": precision,
        "idioma": idioma,
        "fecha": fecha,
        "fecha_iso": result.fecha.astimezone(UTC).isoformat(),
        "url": f"{siteURL(request)}/resultado/{quote(result.partida_id, safe='')}",
        "og_title": f"{result.nombre}: {result.puntaje} {puntos} en Escritura rápida",
        "og_description": (
            f"{wpm} palabras por minuto con un {precision} % de precisión, "
            f"en {idioma.lower()}, el {fecha}."
        ),
    }


def redirectToLogin(request: IRequest, path: str) -> bytes:
    request.setResponseCode(302)
    request.setHeader(b"Location", ("/login?next=" + quote(path, safe="/")).encode("ascii"))
    request.setHeader(b"Cache-Control", b"no-store")
    return b""


@attrs.define(slots=False)
class Pages:
    router = Klein()

    auth: Authenticator
    renderer: Renderer
    store: Store

    def _render(
        self, request: IRequest, template: str, page: str, user: User | None, **context: Any
    ) -> bytes:
        return self.renderer.page(request, template, user, page, **context)

    async def _error(self, request: IRequest, status: int) -> bytes:
        user = None
        # Without the database (503) there is no user to look up.
        if status != 503:
            try:
                user = await self.auth.currentUser(request)
            except Exception:
                log.failure("looking up the user for an error page")
        return self.renderer.page(
            request, "error.html", user, "error", status, status=status, message=MESSAGES[status]
        )

    async def apiDocs(self, request: IRequest, document: dict[str, Any]) -> bytes:
        """
        The OpenAPI document rendered for people (no script: the page is the document).
        """
        return await self._public(request, "api-docs.html", "api-docs", api=document)

    async def _public(self, request: IRequest, template: str, page: str, **context: Any) -> bytes:
        user = await self.auth.currentUser(request)
        return self._render(request, template, page, user, **context)

    async def _members(self, request: IRequest, template: str, page: str) -> bytes:
        user = await self.auth.currentUser(request)
        if user is None:
            return redirectToLogin(request, "/" + page)
        return self._render(request, template, page, user)

    @router.route("/", methods=["GET"])
    async def index(self, request: IRequest) -> bytes:
        return await self._public(request, "index.html", "index")

    @router.route("/login", methods=["GET"])
    async def login(self, request: IRequest) -> bytes:
        return await self._public(request, "login.html", "login")

    @router.route("/registro", methods=["GET"])
    async def registro(self, request: IRequest) -> bytes:
        return await self._public(request, "registro.html", "registro")

    @router.route("/ranking", methods=["GET"])
    async def ranking(self, request: IRequest) -> bytes:
        return await self._public(request, "ranking.html", "ranking")

    @router.route("/como-funciona", methods=["GET"])
    async def comoFunciona(self, request: IRequest) -> bytes:
        return await self._public(
            request, "como-funciona.html", "como-funciona", reglas=reglas(), integridad=integridad()
        )

    @router.route("/juego", methods=["GET"])
    async def juego(self, request: IRequest) -> bytes:
        # Guests play too (juego.web.modes).
        return await self._public(request, "juego.html", "juego")

    @router.route("/carrera", methods=["GET"])
    async def carrera(self, request: IRequest) -> bytes:
        return await self._members(request, "carrera.html", "carrera")

    @router.route("/carrera/<sala>", methods=["GET"])
    async def carreraSala(self, request: IRequest, sala: str) -> bytes:
        """
        A private room's link: the page joins room C{sala} (its code is checked by the
        room's owner when the page asks to join).
        """
        user = await self.auth.currentUser(request)
        if user is None:
            return redirectToLogin(request, "/carrera/" + sala)
        return self._render(request, "carrera.html", "carrera", user, sala=sala[:32])

    @router.route("/perfil", methods=["GET"])
    async def perfil(self, request: IRequest) -> bytes:
        return await self._members(request, "perfil.html", "perfil")

    @router.route("/notificaciones", methods=["GET"])
    async def notificaciones(self, request: IRequest) -> bytes:
        return await self._members(request, "notificaciones.html", "notificaciones")

    @router.route("/repeticion/<partida_id>", methods=["GET"])
    async def repeticion(self, request: IRequest, partida_id: str) -> bytes:
        """
        A replay's page: the same 404 as any missing page for one the visitor may not
        see; the replay itself comes from C{GET /api/repeticion/<partida_id>}.
        """
        user = await self.auth.currentUser(request)
        try:
            replay = await Replays(self.store).find(user, partida_id)
        except APIError:
            return await self._error(request, 404)
        return self._render(
            request,
            "repeticion.html",
            "repeticion",
            user,
            partida_id=partida_id,
            jugador=replay.nombre,
        )

    @router.route("/admin", methods=["GET"])
    async def admin(self, request: IRequest) -> bytes:
        user = await self.auth.currentUser(request)
        if user is None:
            return redirectToLogin(request, "/admin")
        if not user.es_admin:
            return await self._error(request, 403)
        return self._render(request, "admin.html", "admin", user)

    @router.route("/resultado/<partidaID>", methods=["GET"])
    async def resultado(self, request: IRequest, partidaID: str) -> bytes:
        """
        A verified result's shareable page, with its OpenGraph description: a ranked one
        for anybody, a held or voided one for its own player only; 404 otherwise.
        """
        user = await self.auth.currentUser(request)
        result = None
        if 0 < len(partidaID) <= MAX_PARTIDA_ID:
            result = await self.store.results.shown(partidaID)
        if result is None or not result.visibleTo(None if user is None else user.id):
            return await self._error(request, 404)
        return self._render(
            request, "resultado.html", "resultado", user, **resultContext(request, result)
        )

    @router.handle_errors(RequestRedirect)
    def redirected(self, request: IRequest, failure: Failure) -> bytes:
        return redirect(request, failure)

    async def notFound(self, request: IRequest) -> bytes:
        """
        The page for a path that does not exist.
        """
        return await self._error(request, 404)

    @router.handle_errors(NotFound)
    async def routeNotFound(self, request: IRequest, failure: Failure) -> bytes:
        return await self.notFound(request)

    @router.handle_errors(MethodNotAllowed)
    async def notAllowed(self, request: IRequest, failure: Failure) -> bytes:
        return await self._error(request, 405)

    @router.handle_errors(Exception)
    async def failed(self, request: IRequest, failure: Failure) -> bytes:
        if databaseUnavailable(failure.value):
            log.warn("database unavailable: {error}", error=oneLine(failure.value))
            request.setHeader(b"Retry-After", str(RETRY_AFTER).encode("ascii"))
            return await self._error(request, 503)
        log.failure("Unhandled error rendering a page", failure)
        return await self._error(request, 500)
