"""
The HTTP API described for machines: an OpenAPI 3.1 document of every C{/api} route, its
bodies, replies and error codes, served at C{GET /api/openapi.json}; C{/api/docs} renders it
for people (L{juego.web.pages}).

The document is data built once, here, beside the code it describes; tests hold the two
together: every Klein route under C{/api} must be described, and the web tests' replies are
validated against it (C{tests/test_openapi.py}).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["document", "documentBytes"]

JSON = "application/json"

#: Error codes by status, as C{juego/web/errors.py} sends them (each reply names one).
ERROR_STATUS_TEXT = {
    400: "Petición no válida (campo ausente o de otro tipo, JSON roto o demasiado profundo).",
    401: "Sin sesión, o credenciales no válidas.",
    403: "Prohibido (no es admin, partida de otro jugador, origen ajeno).",
    404: "No existe.",
    405: "Método no permitido para esta dirección.",
    409: "Conflicto con el estado actual.",
    410: "Caducado.",
    413: "Cuerpo demasiado grande.",
    415: "El cuerpo debe ser JSON (Content-Type: application/json).",
    422: "El resultado rompe una regla del juego.",
    429: "Demasiadas peticiones; reintentar tras Retry-After.",
    500: "Error interno (queda registrado).",
    503: "Servicio no disponible; reintentar tras Retry-After.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """
    An object schema: the fields every reply has, and those it may have. More fields may
    come (clients ignore what they do not know), so the schema stays open.
    """
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _success(fields: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return _obj({"success": {"const": True}, **fields}, optional)


def _reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/Error{status}"} for status in statuses}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    # Every state-changing call must carry Content-Type: application/json, so its body is
    # required even where every field is optional ({} is fine).
    return {"required": True, "content": {JSON: {"schema": schema}}}


INT = {"type": "integer"}
NUM = {"type": "number"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
DATE = {"type": ["string", "null"], "format": "date-time"}

#: Every state-changing call may meet these (CSRF, content type, size, JSON, throttling).
_WRITE_ERRORS = (400, 403, 413, 415, 429)

SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {"success": {"const": False}, "error": STR, "code": STR},
        {"motivo": STR},
    ),
    "User": _obj(
        {
            "id": INT,
            "nombre": {"type": "string", "minLength": 1, "maxLength": 40},
            "email": STR,
            "es_admin": BOOL,
            "fecha_registro": DATE,
        }
    ),
    "Preferencias": _obj(
        {
            "tema": {"enum": ["claro", "oscuro", "sistema"]},
            "idioma": {"enum": ["es", "en", None]},
        }
    ),
    "Reglas": {"type": "object", "additionalProperties": INT},
    "Partida": _obj(
        {
            "id": STR,
            "idioma": {"enum": ["es", "en"]},
            "palabras": {"type": "array", "items": STR},
            # null: a practice game, without lives
            "vidas": {"type": ["integer", "null"]},
            "reglas": _ref("Reglas"),
        },
        {"modo": {"enum": ["normal", "diario", "practica"]}},
    ),
    "Evento": _obj(
        {
            "t": {"type": "integer", "minimum": 0},
            "ok": BOOL,
            "errores": {"type": "integer", "minimum": 0},
        },
        {"teclas": {"type": "array", "items": {"type": "integer", "minimum": 0}}},
    ),
    "EventoRepeticion": _obj(
        {
            "palabra": STR,
            "ok": BOOL,
            "errores": {"type": "integer", "minimum": 0},
            "t": {"type": "integer", "minimum": 0},
            "d": {"type": "integer", "minimum": 0},
            "teclas": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        }
    ),
    "UserStats": _obj(
        {
            "user_id": INT,
            "nombre": STR,
            "email": STR,
            "puntaje_maximo": INT,
            "partidas_jugadas": INT,
            "puntaje_promedio": NUM,
            "fecha_ultimo_juego": DATE,
            "posicion_ranking": {"type": ["integer", "null"]},
        }
    ),
    "GlobalStats": _obj(
        {
            "total_usuarios": INT,
            "usuarios_activos": INT,
            "puntaje_promedio": NUM,
            "puntaje_maximo_global": INT,
            "partidas_totales": INT,
        }
    ),
    "Notification": _obj(
        {
            "id": INT,
            "user_id": INT,
            "message": STR,
            "type": {"enum": ["info", "success", "warning", "error"]},
            "timestamp": DATE,
            "leida": BOOL,
        }
    ),
    "RankingRow": _obj(
        {"posicion": INT, "user_id": INT, "nombre": STR, "puntaje_maximo": INT},
        # The partida of that result (its replay), when it is known.
        {"partida_id": STR},
    ),
    "PlayedGame": _obj(
        {"id": STR, "fecha": DATE, "puntaje": INT, "idioma": STR},
        {"wpm": {"type": ["number", "null"]}, "precision": {"type": ["number", "null"]}},
    ),
    "HeldResult": _obj(
        {
            "partida_id": STR,
            "user_id": INT,
            "nombre": STR,
            "idioma": STR,
            "puntaje": INT,
            "wpm": NUM,
            "precision": NUM,
            "motivo": {"enum": ["revision", "certificacion"]},
            "regla": {"type": ["string", "null"]},
        }
    ),
    "Certificacion": _obj(
        {
            "id": STR,
            "objetivo_wpm": NUM,
            "velocidad": NUM,
            "imagen": STR,
            "caduca_en_s": INT,
            "iniciada": BOOL,
        }
    ),
    "UserSummary": _obj(
        {
            "id": INT,
            "nombre": STR,
            "email": STR,
            "es_admin": BOOL,
            "fecha_registro": DATE,
            "puntaje_maximo": INT,
            "partidas_jugadas": INT,
        }
    ),
}

_USER_REPLY = _success({"user": _ref("User")})
#: A sign-up or login also names the guest results of that browser it saved to the account.
_ACCOUNT_REPLY = _success({"user": _ref("User")}, {"reclamadas": {"type": "array", "items": STR}})
_MESSAGE_REPLY = _success({"message": STR})
_SESSION: list[dict[str, list[str]]] = [{"session": []}]
_PUBLIC: list[dict[str, list[str]]] = []
#: The game: with a session, or as a guest (its cookie, made by the first partida).
_GAME: list[dict[str, list[str]]] = [{"session": []}, {"guest": []}]
#: A new partida: anybody (without a session, as a guest).
_PLAY: list[dict[str, list[str]]] = [{}, *_GAME]


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    description: str | None = None,
    database: bool = True,
) -> dict[str, Any]:
    # An operation that reads or writes the database answers 503 while it is out of reach.
    if database:
        responses = _errors(503) | responses
    # Any operation may meet a bug (500 internal); its reply is an Error all the same.
    responses = responses | {"default": {"$ref": "#/components/responses/Error500"}}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if description:
        operation["description"] = description
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    operation["security"] = _SESSION if security is None else security
    return operation


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _pathParam(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or INT}


_BOARD_PARAMETERS = [
    _query(
        "periodo",
        {"enum": ["dia", "semana", "siempre"]},
        "dia: hoy (día UTC); semana: esta semana ISO (de lunes a domingo, UTC); siempre (por "
        "defecto): desde el principio.",
    ),
    _query(
        "idioma", {"enum": ["es", "en"]}, "Solo las partidas en ese idioma (por defecto, ambos)."
    ),
    _query(
        "modo",
        {"enum": ["diario"]},
        "diario: el desafío diario de hoy (periodo, si se indica, debe ser dia).",
    ),
]
_LIMIT_PARAMETER = _query(
    "limit", {"type": "integer", "minimum": 1}, "Filas (1-100, por defecto 10)."
)
_BOARD_DESCRIPTION = (
    "Cuentan solo los resultados públicos (publicados o aprobados): nunca los retenidos para "
    "revisión, los anulados ni las partidas de práctica. A igualdad de puntos va delante "
    "quien lo consiguió antes. Se calcula con los datos en cada petición."
)

PATHS: dict[str, Any] = {
    "/api/registro": {
        "post": _op(
            "Crear una cuenta e iniciar sesión",
            {
                "201": _reply(
                    "Cuenta creada; la cookie de sesión va en Set-Cookie. Los resultados "
                    "verificados que este navegador jugó como invitado en la última hora se "
                    "guardan en la cuenta («reclamadas»).",
                    _ACCOUNT_REPLY,
                )
            }
            | _errors(*_WRITE_ERRORS, 409, 503),
            body=_body(
                _obj(
                    {
                        "nombre": {"type": "string", "minLength": 1, "maxLength": 40},
                        "email": {"type": "string", "maxLength": 254},
                        "password": {"type": "string", "minLength": 8, "maxLength": 1024},
                    }
                )
            ),
            security=_PUBLIC,
        )
    },
    "/api/login": {
        "post": _op(
            "Iniciar sesión",
            {
                "200": _reply(
                    "Sesión iniciada; la cookie va en Set-Cookie. Los resultados verificados "
                    "que este navegador jugó como invitado en la última hora se guardan en la "
                    "cuenta («reclamadas»).",
                    _ACCOUNT_REPLY,
                )
            }
            | _errors(*_WRITE_ERRORS, 401, 503),
            body=_body(_obj({"email": STR, "password": STR})),
            security=_PUBLIC,
        )
    },
    "/api/logout": {
        "post": _op(
            "Cerrar la sesión",
            {"200": _reply("Sesión cerrada.", _MESSAGE_REPLY)} | _errors(*_WRITE_ERRORS, 401),
            body=_body({"type": "object"}),
        )
    },
    "/api/yo": {
        "get": _op(
            "El usuario de la sesión y sus preferencias (tema del sitio, idioma del juego)",
            {
                "200": _reply(
                    "El usuario.",
                    _success({"user": _ref("User"), "preferencias": _ref("Preferencias")}),
                )
            }
            | _errors(401),
        )
    },
    "/api/perfil": {
        "get": _op(
            "El perfil y las últimas partidas",
            {
                "200": _reply(
                    "Perfil.",
                    _success(
                        {
                            "user": _ref("User"),
                            "bio": STR,
                            "partidas": {"type": "array", "items": _ref("PlayedGame")},
                        }
                    ),
                )
            }
            | _errors(401),
        ),
        "post": _op(
            "Cambiar el nombre, la biografía o las preferencias",
            {
                "200": _reply(
                    "Perfil cambiado.",
                    _success(
                        {"user": _ref("User"), "bio": STR, "preferencias": _ref("Preferencias")}
                    ),
                )
            }
            | _errors(*_WRITE_ERRORS, 401, 404),
            body=_body(
                {
                    "type": "object",
                    "properties": {
                        # null is the same as leaving the field out (unchanged).
                        "nombre": {"type": ["string", "null"], "minLength": 1, "maxLength": 40},
                        "bio": {"type": ["string", "null"], "maxLength": 500},
                        "tema": {"enum": ["claro", "oscuro", "sistema", None]},
                        "idioma": {"enum": ["es", "en", None]},
                    },
                }
            ),
        ),
    },
    "/api/partidas": {
        "post": _op(
            "Pedir una partida nueva",
            {"201": _reply("La partida.", _success({"partida": _ref("Partida")}))}
            | _errors(*_WRITE_ERRORS, 401, 409),
            body=_body(
                # null is the same as leaving it out (the default language, normal mode).
                {
                    "type": "object",
                    "properties": {
                        "idioma": {"enum": ["es", "en", None]},
                        "modo": {"enum": ["normal", "diario", "practica", None]},
                    },
                },
            ),
            security=_PLAY,
            description=(
                "«modo»: «normal» (por defecto), «diario» (el desafío diario: las mismas "
                "palabras para todos en ese día UTC e idioma, un intento por jugador y día; "
                "un segundo es 409 «ya_jugado»; requiere cuenta, 401 si no) o «practica» "
                "(sin vidas, nunca clasifica). Sin sesión se juega como invitado: la "
                "respuesta pone la cookie «juego_invitado»."
            ),
        )
    },
    "/api/guardar_puntaje": {
        "post": _op(
            "Entregar los eventos de una partida terminada",
            {
                "200": _reply(
                    "Resultado verificado y guardado (o descartado, o retenido para revisión).",
                    _success(
                        {},
                        {
                            "puntaje": INT,
                            "nuevo_record": {"type": ["boolean", "null"]},
                            "puntaje_maximo": {"type": ["integer", "null"]},
                            "message": STR,
                            "wpm": NUM,
                            "precision": NUM,
                            "en_revision": BOOL,
                            "motivo": {"enum": ["revision", "certificacion"]},
                            "regla": {"type": ["string", "null"]},
                            "descartada": BOOL,
                            # A guest's result: verified, in no board until an account
                            # claims it.
                            "invitado": BOOL,
                            # A practice game: verified, never ranked.
                            "practica": BOOL,
                        },
                    ),
                ),
                "202": _reply(
                    "Resultado verificado y guardado de forma duradera; juego-tcp lo recibirá "
                    "cuando vuelva.",
                    _success({"pendiente": {"const": True}}),
                ),
            }
            | _errors(*_WRITE_ERRORS, 401, 404, 409, 410, 422),
            body=_body(
                _obj(
                    {
                        "partida_id": STR,
                        "eventos": {"type": "array", "items": _ref("Evento")},
                    }
                )
            ),
            security=_GAME,
            description=(
                "El servidor recalcula la puntuación a partir de los eventos; un campo "
                "«puntaje» en el cuerpo se ignora. Un invitado recibe su resultado "
                "verificado con «invitado»: true; se guarda en la cuenta que se registre o "
                "inicie sesión desde el mismo navegador dentro de la hora de la partida."
            ),
        )
    },
    "/api/desafio": {
        "get": _op(
            "El desafío diario de hoy",
            {
                "200": _reply(
                    "El día UTC del desafío, cuándo empieza el siguiente y los idiomas en que "
                    "el jugador ya lo ha jugado (ninguno sin sesión).",
                    _success(
                        {
                            "dia": {"type": "string", "format": "date"},
                            "siguiente": {"type": "string", "format": "date-time"},
                            "jugado": {"type": "array", "items": {"enum": ["es", "en"]}},
                        }
                    ),
                )
            },
            security=[{}, {"session": []}],
        )
    },
    "/api/ranking": {
        "get": _op(
            "La clasificación: por periodo, idioma o el desafío diario",
            {
                "200": _reply(
                    "El mejor resultado de cada jugador en esa ventana, el mejor primero.",
                    _success({"ranking": {"type": "array", "items": _ref("RankingRow")}}),
                )
            }
            | _errors(400),
            parameters=[*_BOARD_PARAMETERS, _LIMIT_PARAMETER],
            security=_PUBLIC,
            description=_BOARD_DESCRIPTION,
        )
    },
    "/api/ranking/yo": {
        "get": _op(
            "La posición del jugador en una clasificación y las filas que la rodean",
            {
                "200": _reply(
                    "Su posición y las filas de dos puestos por encima a dos por debajo (la "
                    "suya incluida); sin resultado en esa ventana, posicion null y ninguna fila.",
                    _success(
                        {
                            "posicion": {"type": ["integer", "null"], "minimum": 1},
                            "ranking": {"type": "array", "items": _ref("RankingRow")},
                        }
                    ),
                )
            }
            | _errors(400, 401),
            parameters=[*_BOARD_PARAMETERS, _LIMIT_PARAMETER],
            description=_BOARD_DESCRIPTION,
        )
    },
    "/api/repeticion/{partida_id}": {
        "get": _op(
            "La repetición de una partida verificada",
            {
                "200": _reply(
                    "La partida con sus eventos: cada palabra, cuándo terminó (t), cuánto "
                    "estuvo en pantalla (d) y sus pulsaciones (teclas, ms desde que apareció).",
                    _success(
                        {
                            "partida_id": STR,
                            "jugador": _obj({"id": INT, "nombre": STR}),
                            "propia": BOOL,
                            "estado": {"enum": ["publica", "aprobada", "en_revision", "anulada"]},
                            "idioma": STR,
                            "puntaje": INT,
                            "wpm": NUM,
                            "precision": NUM,
                            "duracion_ms": INT,
                            "fecha": DATE,
                            "eventos": {"type": "array", "items": _ref("EventoRepeticion")},
                        }
                    ),
                )
            }
            | _errors(400, 404),
            parameters=[
                _pathParam("partida_id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
            ],
            security=_PUBLIC,
            description=(
                "Pública para un resultado de las clasificaciones; el jugador ve siempre "
                "las suyas (también las retenidas o anuladas). Cualquier otra, o una que "
                "no existe: 404."
            ),
        )
    },
    "/api/stats/usuario": {
        "get": _op(
            "Estadísticas del jugador",
            {"200": _reply("Estadísticas.", _success({"stats": _ref("UserStats")}))}
            | _errors(401, 503),
        )
    },
    "/api/stats/global": {
        "get": _op(
            "Estadísticas globales",
            {"200": _reply("Estadísticas.", _success({"stats": _ref("GlobalStats")}))}
            | _errors(503),
            security=_PUBLIC,
        )
    },
    "/api/notificaciones": {
        "get": _op(
            "Notificaciones del jugador, la más reciente primero",
            {
                "200": _reply(
                    "Notificaciones.",
                    _success({"notifications": {"type": "array", "items": _ref("Notification")}}),
                )
            }
            | _errors(400, 401, 503),
            parameters=[
                _query(
                    "limit", {"type": "integer", "minimum": 1}, "Cuántas (1-100, por defecto 50)."
                ),
                _query("no_leidas", {"enum": [0, 1]}, "1: solo las no leídas."),
            ],
        )
    },
    "/api/notificaciones/leer": {
        "post": _op(
            "Marcar notificaciones como leídas",
            {"200": _reply("Marcadas.", _success({}))} | _errors(*_WRITE_ERRORS, 401, 503),
            body=_body(
                {
                    "type": "object",
                    # null is the same as leaving it out: all of them.
                    "properties": {
                        "ids": {"type": ["array", "null"], "items": INT, "maxItems": 1000}
                    },
                },
            ),
        )
    },
    "/api/notificaciones/ws": {
        "get": _op(
            "WebSocket de notificaciones en vivo",
            {"101": {"description": "Conexión WebSocket abierta."}} | _errors(400, 401, 403),
            description=(
                'El servidor envía {"event": "notification", "notification": {...}} por '
                "cada notificación nueva del jugador."
            ),
        )
    },
    "/api/carrera/ws": {
        "get": _op(
            "WebSocket de carreras en vivo",
            {"101": {"description": "Conexión WebSocket abierta."}} | _errors(400, 401, 403),
            description=(
                "Mensajes JSON de texto (como mucho 512 bytes y 20 por segundo; tras 10 "
                'mensajes erróneos se cierra con 1008). Del jugador: {"tipo": "buscar", '
                '"idioma"} (partida rápida), {"tipo": "crear", "idioma"} (sala privada), '
                '{"tipo": "unirse", "sala"}, {"tipo": "empezar"} (quien creó la sala), '
                '{"tipo": "progreso", "palabra", "letras"} y {"tipo": "fin"} (tras guardar '
                'el resultado con /api/guardar_puntaje). Del servidor: {"tipo": "sala", '
                '"sala": {codigo, estado, privada, anfitrion, idioma, palabras, faltan_ms, '
                'corredores, orden}, "yo"}, {"tipo": "partida", "partida"} al empezar y '
                '{"tipo": "error", "code", "message"} (códigos: invalid_request, '
                "sala_no_encontrada, sala_llena, carrera_empezada, carrera_terminada, "
                "no_anfitrion, no_en_carrera, demasiados_mensajes, "
                "mensaje_demasiado_grande, resultado_no_guardado)."
            ),
        )
    },
    "/api/carreras": {
        "get": _op(
            "Tus carreras",
            {
                "200": _reply(
                    "Las últimas carreras del jugador, la más reciente primero. «posicion» es "
                    "null si no escribió todas las palabras.",
                    _success(
                        {
                            "carreras": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": [
                                        "partida_id",
                                        "sala",
                                        "posicion",
                                        "corredores",
                                        "fecha",
                                    ],
                                    "properties": {
                                        "partida_id": STR,
                                        "sala": STR,
                                        "posicion": {"type": ["integer", "null"]},
                                        "corredores": INT,
                                        "fecha": DATE,
                                        "puntaje": {"type": ["integer", "null"]},
                                        "wpm": {"type": ["number", "null"]},
                                    },
                                },
                            }
                        }
                    ),
                )
            }
            | _errors(400, 401),
            parameters=[_query("limit", {"type": "integer", "minimum": 1}, "Cuántas (1-100, 20).")],
        )
    },  # fmt: skip
    "/api/carreras/ganadores": {
        "get": _op(
            "Victorias en carreras",
            {
                "200": _reply(
                    "Los jugadores con más carreras ganadas en el periodo (días UTC, semanas "
                    "ISO), el que más primero.",
                    _success(
                        {
                            "periodo": {"enum": ["dia", "semana", "siempre"]},
                            "ganadores": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["user_id", "nombre", "victorias"],
                                    "properties": {
                                        "user_id": INT,
                                        "nombre": STR,
                                        "victorias": INT,
                                    },
                                },
                            },
                        }
                    ),
                )
            }
            | _errors(400),
            parameters=[
                _query(
                    "periodo",
                    {"enum": ["dia", "semana", "siempre"]},
                    "dia, semana o siempre (por defecto).",
                ),
                _query("limit", {"type": "integer", "minimum": 1}, "Filas (1-100, 10)."),
            ],
            security=_PUBLIC,
        )
    },  # fmt: skip
    "/api/admin/usuarios": {
        "get": _op(
            "Usuarios (solo admins)",
            {
                "200": _reply(
                    "Usuarios por id.",
                    _success({"usuarios": {"type": "array", "items": _ref("UserSummary")}}),
                )
            }
            | _errors(400, 401, 403),
            parameters=[
                _query("limit", {"type": "integer", "minimum": 1}, "Cuántos (hasta 1000)."),
                _query("offset", {"type": "integer", "minimum": 0}, "Desde cuál."),
            ],
        )
    },
    "/api/admin/reiniciar_puntuacion/{user_id}": {
        "post": _op(
            "Reiniciar la puntuación de un jugador (solo admins)",
            {"200": _reply("Reiniciada.", _MESSAGE_REPLY)} | _errors(*_WRITE_ERRORS, 401, 404),
            parameters=[_pathParam("user_id")],
            body=_body({"type": "object"}),
        )
    },
    "/api/admin/eliminar_usuario/{user_id}": {
        "post": _op(
            "Eliminar una cuenta (solo admins; nunca la propia)",
            {"200": _reply("Eliminada.", _MESSAGE_REPLY)} | _errors(*_WRITE_ERRORS, 401, 404, 503),
            parameters=[_pathParam("user_id")],
            body=_body(_obj({"password": STR})),
        )
    },
    "/api/admin/revision": {
        "get": _op(
            "Resultados retenidos para revisión (solo admins)",
            {
                "200": _reply(
                    "La cola de revisión.",
                    _success({"resultados": {"type": "array", "items": _ref("HeldResult")}}),
                )
            }
            | _errors(400, 401, 403),
            parameters=[_query("limit", {"type": "integer", "minimum": 1}, "Cuántos (hasta 500).")],
        )
    },
    "/api/admin/resultados/{partida_id}/aprobar": {
        "post": _op(
            "Aprobar un resultado retenido: cuenta como una partida publicada (solo admins)",
            {
                "200": _reply(
                    "Aprobado.",
                    _success(
                        {
                            "partida_id": STR,
                            "estado": {"const": "aprobada"},
                            "pendiente": BOOL,
                            "message": STR,
                        }
                    ),
                )
            }
            | _errors(*_WRITE_ERRORS, 401, 404, 409),
            parameters=[_pathParam("partida_id", STR)],
            body=_body({"type": "object"}),
        )
    },
    "/api/admin/resultados/{partida_id}/anular": {
        "post": _op(
            "Anular un resultado; si ya contaba, se retira de clasificaciones y estadísticas (solo admins)",
            {
                "200": _reply(
                    "Anulado.",
                    _success(
                        {
                            "partida_id": STR,
                            "estado": {"const": "anulada"},
                            "estado_anterior": STR,
                            "message": STR,
                        }
                    ),
                )
            }
            | _errors(*_WRITE_ERRORS, 401, 404, 409),
            parameters=[_pathParam("partida_id", STR)],
            body=_body({"type": "object"}),
        )
    },
    "/api/certificacion": {
        "get": _op(
            "Velocidad certificada, resultados retenidos a la espera de la prueba y la prueba abierta",
            {
                "200": _reply(
                    "Estado.",
                    _success(
                        {
                            "velocidad_certificada": {"type": ["number", "null"]},
                            "retenidas": {
                                "type": "array",
                                "items": _obj({"partida_id": STR, "wpm": NUM, "puntaje": INT}),
                            },
                            "prueba": {"oneOf": [{"type": "null"}, _ref("Certificacion")]},
                        }
                    ),
                )
            }
            | _errors(401),
        ),
        "post": _op(
            "Empezar la prueba de certificación (o seguir con la abierta)",
            {
                "201": _reply("Prueba nueva.", _success(SCHEMAS["Certificacion"]["properties"])),
                "200": _reply(
                    "La prueba ya abierta.", _success(SCHEMAS["Certificacion"]["properties"])
                ),
            }
            | _errors(*_WRITE_ERRORS, 401, 409),
            body=_body({"type": "object", "properties": {"idioma": {"enum": ["es", "en"]}}}),
        ),
    },
    "/api/certificacion/{certificationID}/imagen": {
        "get": _op(
            "La imagen de la prueba; la primera descarga pone en marcha el reloj del servidor",
            {
                "200": {
                    "description": "PNG.",
                    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                }
            }
            | _errors(401, 403, 404, 409, 410),
            parameters=[_pathParam("certificationID", STR)],
        )
    },
    "/api/certificacion/{certificationID}/respuesta": {
        "post": _op(
            "La única respuesta a la prueba",
            {
                "200": _reply(
                    "Veredicto.",
                    _success(
                        {
                            "aprobada": BOOL,
                            "wpm": NUM,
                            "precision": NUM,
                            "objetivo_wpm": NUM,
                            "velocidad_certificada": {"type": ["number", "null"]},
                            "liberadas": {"type": "array", "items": STR},
                            "message": STR,
                        }
                    ),
                )
            }
            | _errors(*_WRITE_ERRORS, 401, 404, 409, 410),
            parameters=[_pathParam("certificationID", STR)],
            body=_body(_obj({"texto": {"type": "string", "maxLength": 2000}})),
        )
    },
    "/api/salud": {
        "get": _op(
            "Estado del servicio y de sus dependencias",
            {
                "200": _reply(
                    "Todo responde.",
                    _success({"database": STR, "tcp": STR, "dist": STR}),
                ),
                "503": _reply(
                    "Alguna parte no responde.",
                    _obj({"success": {"const": False}, "error": STR, "code": STR}),
                ),
            },
            security=_PUBLIC,
        )
    },
    "/api/docs": {
        "get": _op(
            "Este documento, para personas",
            {"200": {"description": "Página HTML.", "content": {"text/html": {"schema": STR}}}},
            security=_PUBLIC,
        )
    },
    "/api/openapi.json": {
        "get": _op(
            "Este documento",
            {"200": _reply("OpenAPI 3.1.", {"type": "object"})},
            security=_PUBLIC,
            database=False,
        )
    },
}


def document() -> dict[str, Any]:
    """
    The OpenAPI 3.1 document (a new dict each call).
    """
    responses = {
        f"Error{status}": _reply(text, _ref("Error")) for status, text in ERROR_STATUS_TEXT.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "juego",
            "version": "1",
            "description": (
                "API JSON de juego-web: cuentas, partidas verificadas, clasificación, "
                "estadísticas y notificaciones. Los errores son siempre "
                "{success: false, error, code}."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": json.loads(json.dumps(PATHS)),
        "components": {
            "schemas": json.loads(json.dumps(SCHEMAS)),
            "responses": responses,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "juego_sesion"},
                "guest": {"type": "apiKey", "in": "cookie", "name": "juego_invitado"},
            },
        },
    }


_cached: bytes | None = None


def documentBytes() -> bytes:
    """
    The document as UTF-8 JSON, built once per process.
    """
    global _cached
    if _cached is None:
        _cached = json.dumps(document(), ensure_ascii=False).encode("utf-8")
    return _cached
