"""
Every JSON reply of the API, errors included, and the mapping from exceptions to error
replies (installed on each JSON router with L{installJSONErrors}).

An error reply is always C{{"success": false, "error": "<Spanish>", "code": "<code>"}}.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from juego.store.pool import databaseUnavailable, oneLine
from juego.store.users import InvalidField

log = Logger()


class APIError(Exception):
    """
    A request that gets an error reply. Subclasses fix the status and code; the message
    (Spanish) says what went wrong.
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"
    default: ClassVar[str] = "La petición no es válida."

    def __init__(
        self,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.message)


class InvalidRequest(APIError):
    pass


class InvalidJSON(APIError):
    code = "invalid_json"
    default = "El cuerpo de la petición no es JSON válido."


class HostNotAllowed(APIError):
    code = "host_no_permitido"
    default = "Este servidor no atiende peticiones para ese nombre de sitio (cabecera Host)."


class NotAuthenticated(APIError):
    status = 401
    code = "no_autenticado"
    default = "Necesitas iniciar sesión."


class BadCredentials(APIError):
    status = 401
    code = "credenciales_invalidas"
    default = "Correo electrónico o contraseña incorrectos."


class Forbidden(APIError):
    status = 403
    code = "prohibido"
    default = "No tienes permiso para hacer esto."


class CrossSite(APIError):
    status = 403
    code = "csrf"
    default = "Petición rechazada: procede de otro sitio."


class NotFoundError(APIError):
    status = 404
    code = "no_encontrado"
    default = "No se ha encontrado lo que buscabas."


class MethodNotAllowedError(APIError):
    status = 405
    code = "metodo_no_permitido"
    default = "Método HTTP no permitido aquí."


class EmailInUseError(APIError):
    status = 409
    code = "email_en_uso"
    default = "Ya existe una cuenta con ese correo electrónico."


class PartidaClosed(APIError):
    status = 409
    code = "partida_cerrada"
    default = "Esta partida ya tiene un resultado."


class Conflict(APIError):
    status = 409
    code = "conflicto"
    default = "La petición choca con el estado actual de los datos."


class PartidaExpired(APIError):
    status = 410
    code = "partida_caducada"
    default = "Esta partida ha caducado: los resultados se aceptan durante una hora."


class NoHeldResults(APIError):
    status = 409
    code = "sin_resultados_retenidos"
    default = "No tienes resultados pendientes de certificar."


class TestAnswered(APIError):
    status = 409
    code = "prueba_respondida"
    default = "Esta prueba ya tiene respuesta: empieza otra si quieres volver a intentarlo."


class ImageNotSeen(APIError):
    status = 409
    code = "imagen_no_vista"
    default = "Primero carga la imagen de la prueba: el tiempo empieza a contar al verla."


class TestExpired(APIError):
    status = 410
    code = "prueba_caducada"
    default = "Esta prueba ha caducado. Empieza otra cuando quieras."


class TooLarge(APIError):
    status = 413
    code = "demasiado_grande"
    default = "Los datos enviados son demasiado grandes."


class UnsupportedType(APIError):
    status = 415
    code = "tipo_no_soportado"
    default = (
        "Las peticiones que modifican datos deben enviar JSON (Content-Type: application/json)."
    )


class InvalidResultError(APIError):
    status = 422
    code = "resultado_invalido"
    default = "El resultado no cumple las reglas del juego."


class TooManyAttempts(APIError):
    status = 429
    code = "demasiados_intentos"
    default = "Demasiados intentos fallidos. Espera un poco antes de volver a probar."


def retryAfter(seconds: float) -> dict[str, str]:
    """
    The C{Retry-After} header for a wait of C{seconds} (whole seconds, at least one).
    """
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class TooManyRequests(APIError):
    status = 429
    code = "demasiadas_peticiones"
    default = "Demasiadas peticiones seguidas. Espera un poco antes de volver a probar."


class Overloaded(APIError):
    status = 503
    code = "servidor_ocupado"
    default = "El servidor está muy ocupado ahora mismo. Inténtalo de nuevo en unos segundos."


#: Seconds a 503 tells the client (and nginx) to wait before retrying (C{Retry-After}).
RETRY_AFTER = 5


class ServiceUnavailableError(APIError):
    """
    juego-dist (statistics, notifications) or the database cannot be reached now: 503
    C{servicio_no_disponible} with C{Retry-After}, whatever the part that is missing.
    """

    status = 503
    code = "servicio_no_disponible"
    default = "El servicio de estadísticas y notificaciones no está disponible ahora mismo. Inténtalo en unos segundos."

    def __init__(
        self,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, {**retryAfter(RETRY_AFTER), **(headers or {})}, extra)


class DatabaseUnavailable(ServiceUnavailableError):
    default = "La base de datos no está disponible ahora mismo. Inténtalo en unos segundos."


class InternalError(APIError):
    status = 500
    code = "internal"
    default = "Error interno del servidor."


def jsonBody(request: IRequest, body: dict[str, Any], status: int = 200) -> bytes:
    """
    Write the status and headers of a JSON reply and return its body.
    """
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    request.setHeader(b"Cache-Control", b"no-store")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def ok(request: IRequest, status: int = 200, **fields: Any) -> bytes:
    """
    A success reply: C{{"success": true, **fields}}.
    """
    return jsonBody(request, {"success": True, **fields}, status)


def errorReply(request: IRequest, error: APIError) -> bytes:
    """
    The one place that builds an error reply.
    """
    for name, value in error.headers.items():
        request.setHeader(name.encode("ascii"), value.encode("ascii"))
    body = {"success": False, "error": error.message, "code": error.code, **error.extra}
    return jsonBody(request, body, error.status)


def asAPIError(failure: Failure) -> APIError:
    """
    The error reply a failure gets: its own for an L{APIError}, 404/405 for routing
    errors, and a logged 500 for anything else.
    """
    if failure.check(APIError):
        return failure.value
    if failure.check(InvalidField):
        campo = failure.value.campo
        return InvalidRequest(str(failure.value), extra={"campo": campo} if campo else None)
    if failure.check(NotFound):
        return NotFoundError()
    if failure.check(MethodNotAllowed):
        allowed = ", ".join(failure.value.valid_methods or ())
        return MethodNotAllowedError(headers={"Allow": allowed} if allowed else None)
    if databaseUnavailable(failure.value):
        # An outage, not a bug: one line per request, no traceback.
        log.warn("database unavailable: {error}", error=oneLine(failure.value))
        return DatabaseUnavailable()
    log.failure("Unhandled error in a JSON request", failure)
    return InternalError()


def redirect(request: IRequest, failure: Failure) -> bytes:
    """
    Answer routing's redirect (a path missing its trailing slash, say).
    """
    target: RequestRedirect = failure.value
    request.setResponseCode(target.code)
    request.setHeader(b"Location", target.new_url.encode("utf-8"))
    return b""


def installJSONErrors(router: Klein) -> None:
    """
    Make every failure of C{router}'s handlers a JSON error reply.
    """

    @router.handle_errors(Exception)
    def jsonError(self: Any, request: IRequest, failure: Failure) -> bytes:
        # Routers are class attributes: Klein passes the instance they are bound to.
        if failure.check(RequestRedirect):
            return redirect(request, failure)
        return errorReply(request, asAPIError(failure))
